package loggerjs_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// outage describes one producer-with-outage scenario. Times are in ticks
// of the producer's 10 ms ticker, so the outage is placed relative to what
// was produced, not to the wall clock.
type outage struct {
	perTick    int // events logged per 10 ms tick
	ticks      int // ticks in all
	stopAt     int // tick at which the server is stopped
	restartAt  int // tick at which it is restarted on the same store dir and port
	maxBuffer  int
	storeOpts  []jsstore.Option
	wantSpills bool // the outage is long enough to overflow into the spill
}

// errorLog collects the errors the logger reports to its error handler.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *errorLog) any(target error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// kinds counts the errors by their transient cause, for the test log.
func (e *errorLog) kinds() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for _, err := range e.errs {
		switch {
		case errors.Is(err, nats.ErrReconnectBufExceeded):
			out["disconnected"]++
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
			out["no-responders"]++
		case errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, context.DeadlineExceeded):
			out["timeout"]++
		case strings.Contains(err.Error(), "503"):
			out["503"]++
		default:
			out[err.Error()]++
		}
	}
	return out
}

// run logs at the scenario's pace while the server goes away and comes
// back, then checks by event id that the stream holds every event exactly
// once and that the counters agree.
func (o outage) run(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc, append([]jsstore.Option{jsstore.WithAckTimeout(time.Second)}, o.storeOpts...)...)
	spill := openSpill(t, t.TempDir())
	var errs errorLog
	l := logger.New(st,
		logger.WithSpill(spill),
		logger.WithMaxBufferSize(o.maxBuffer),
		logger.WithCircuitBreaker(5, 250*time.Millisecond),
		logger.WithStoreTimeout(2*time.Second),
		logger.WithErrorHandler(errs.add),
		logger.WithSlog(quiet))

	// The sampler checks the memory bound while everything happens.
	samplerDone, stopSampler := make(chan int), make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		deepest := 0
		for {
			select {
			case <-stopSampler:
				samplerDone <- deepest
				return
			case <-tick.C:
				deepest = max(deepest, l.Stats().BufferDepth)
			}
		}
	}()

	// The controller stops and restarts the server when the producer says.
	stopNow, restartNow := make(chan struct{}), make(chan struct{})
	controllerDone := make(chan error, 1)
	var storedAtRestart uint64
	go func() {
		<-stopNow
		srv.Stop()
		<-restartNow
		s := l.Stats()
		storedAtRestart = s.Stored + s.Replayed
		controllerDone <- srv.Restart()
	}()

	// The producer, paced by a ticker.
	ids := make([]string, 0, o.perTick*o.ticks)
	tick := time.NewTicker(10 * time.Millisecond)
	for i := range o.ticks {
		<-tick.C
		switch i {
		case o.stopAt:
			close(stopNow)
		case o.restartAt:
			close(restartNow)
		}
		for range o.perTick {
			ev := newEvent(len(ids))
			require.NoError(t, l.Log(ev))
			ids = append(ids, ev.ID)
		}
	}
	tick.Stop()
	require.NoError(t, <-controllerDone, "restart")

	// Transient errors after the restart (no responders, 503 while
	// JetStream recovers) are retried within bounded time: the logger
	// stores again, without a new event to push it.
	requireEventually(t, 20*time.Second, func() bool {
		s := l.Stats()
		return s.Stored+s.Replayed > storedAtRestart
	}, "nothing stored after the restart")
	// Everything spilled is replayed and everything in memory stored.
	requireEventually(t, 40*time.Second, func() bool {
		s := l.Stats()
		return s.SpillPending == 0 && s.BufferDepth == 0
	}, "spill and buffer not drained: %+v", func() any { return l.Stats() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, l.Close(ctx))
	close(stopSampler)
	deepest := <-samplerDone

	// The figures first: when the stream check fails, they say in which
	// counted state the missing events ended.
	s := l.Stats()
	n := uint64(len(ids))
	t.Logf("logged %d: stored %d, spilled %d, replayed %d, retried %d, dropped %+v, batches %d (%d failed), deepest buffer %d of %d, last error: %v",
		s.Logged, s.Stored, s.Spilled, s.Replayed, s.Retried, s.Dropped, s.Batches, s.FailedBatches, deepest, o.maxBuffer, s.LastError)
	t.Logf("store errors by cause: %v", errs.kinds())
	requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), ids)
	assert.Equal(t, n, s.Logged)
	assert.Zero(t, s.Refused)
	assert.Equal(t, logger.Drops{}, s.Dropped)
	assert.LessOrEqual(t, deepest, o.maxBuffer, "memory bound")
	assert.Zero(t, spill.Pending())
	// Every event is Stored or Spilled, and every spilled one Replayed;
	// only events spilled while their store call was in flight may count
	// as both Stored and Spilled (the stream de-duplicated their replay).
	assert.Equal(t, s.Spilled, s.Replayed, "spilled events replayed")
	assert.LessOrEqual(t, s.Stored, n)
	assert.GreaterOrEqual(t, s.Stored+s.Spilled, n)
	if o.wantSpills {
		assert.NotZero(t, s.Spilled, "the outage should have overflowed into the spill")
	}
	assert.NotZero(t, s.Retried, "failed batches are retried")
	assert.NotZero(t, s.FailedBatches)
	require.Error(t, s.LastError)
	assert.True(t, errs.any(ports.ErrUnavailable), "the store's failures during the outage are transient (ports.ErrUnavailable)")
	assert.ErrorIs(t, s.LastError, ports.ErrUnavailable, "last error")
}

// TestOutage_NoLossNoDuplicate: ~10 k events/s for 8 s, the server
// stopped 1.5 s in for 5 s and restarted on the same store directory and
// port. Every event is in the stream exactly once.
func TestOutage_NoLossNoDuplicate(t *testing.T) {
	outage{
		perTick: 100, ticks: 800, stopAt: 150, restartAt: 650,
		maxBuffer: logger.DefaultMaxBufferSize, wantSpills: true,
	}.run(t)
}

// TestOutage_LowMaxPending: with only 8 acknowledgements allowed pending,
// StoreBatch waits for room between publishes; a reconnect in the middle
// leaves that bookkeeping correct: nothing lost, nothing twice.
func TestOutage_LowMaxPending(t *testing.T) {
	outage{
		perTick: 20, ticks: 300, stopAt: 100, restartAt: 150,
		maxBuffer: logger.DefaultMaxBufferSize,
		storeOpts: []jsstore.Option{jsstore.WithMaxPending(8)},
	}.run(t)
}

// requireEventually polls cond every 5 ms until it holds or d passes.
func requireEventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() any); ok {
					args[i] = f()
				}
			}
			require.Failf(t, "condition not met", "after %v: "+msg, append([]any{d}, args...)...)
		}
		<-tick.C
	}
}

// TestNoResponders_RetriedUntilStreamBack: while the stream is missing (as
// for a moment after a restart or during a leader election, when the
// server answers "no responders" / 503), batches fail transiently and are
// retried with the same ids; once the stream is back they are stored,
// within bounded time, each once.
func TestNoResponders_RetriedUntilStreamBack(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteStream(t.Context(), st.StreamName()))

	var errs errorLog
	l := logger.New(st,
		logger.WithRetry(math.MaxInt, 20*time.Millisecond, 100*time.Millisecond),
		logger.WithCircuitBreaker(3, 100*time.Millisecond),
		logger.WithErrorHandler(errs.add),
		logger.WithSlog(quiet))
	var ids []string
	for i := range 100 {
		ev := newEvent(i)
		require.NoError(t, l.Log(ev))
		ids = append(ids, ev.ID)
	}
	requireEventually(t, 20*time.Second, func() bool { return l.Stats().FailedBatches >= 2 },
		"no failed batch: %+v", func() any { return l.Stats() })
	s := l.Stats()
	require.ErrorIs(t, s.LastError, ports.ErrUnavailable)
	// The fast-ingest path sees the server's "no responders" itself; the
	// async fallback gets it from nats.go after its own retries.
	require.True(t, errors.Is(s.LastError, nats.ErrNoResponders) || errors.Is(s.LastError, jetstream.ErrNoStreamResponse),
		"last error names no responders: %v", s.LastError)
	assert.Zero(t, s.Stored)

	// The stream comes back.
	newStore(t, nc)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, l.Flush(ctx))
	require.NoError(t, l.Close(ctx))
	s = l.Stats()
	t.Logf("stored %d, retried %d, failed batches %d, errors by cause %v", s.Stored, s.Retried, s.FailedBatches, errs.kinds())
	assert.NotZero(t, s.Retried)
	assert.Equal(t, uint64(len(ids)), s.Stored)
	assert.Zero(t, s.Dropped.Total())
	requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), ids)
}
