package loggerjs_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Issue 9, defects 1, 2 and 6, end to end: a real nats-server (embedded),
// the JetStream store and the file spill. Faults are the real ones (server
// stopped, a stream whose messages nobody acknowledges); only the stalling
// disk is simulated, by a wrapper around the real file spill.

// TestIntegrity_UnencodableRefusedGoodEventsSpilled: defect 1. With NATS
// down, an event the codec cannot encode (a NaN detail) is refused by Log
// with an error naming the field, and the good events around it are
// spilled as such (LogSync says ErrSpilled, SpillPending counts them, none
// is dropped), then replayed, each exactly once, when the server is back.
// On the old code the NaN event was accepted, the spill write returned a
// per-event error for it and all of the batch was dropped as spill-failed.
func TestIntegrity_UnencodableRefusedGoodEventsSpilled(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc)
	spill := openSpill(t, t.TempDir())
	l := logger.New(st, logger.WithSlog(quiet), logger.WithSpill(spill),
		logger.WithRetry(2, 10*time.Millisecond, 20*time.Millisecond))
	srv.Stop()
	awaitDisconnect(t, nc)

	good := []event.JobEvent{newEvent(1), newEvent(2), newEvent(3)}
	require.NoError(t, l.Log(good[0]))
	err := l.Log(event.Started("job-9", "w-1", "async", event.WithDetail("ratio", math.NaN())))
	require.ErrorIs(t, err, event.ErrInvalid)
	require.Contains(t, err.Error(), `details["ratio"]`)
	require.NoError(t, l.Log(good[1]))
	err = l.LogSync(t.Context(), good[2])
	require.ErrorIs(t, err, logger.ErrSpilled, "LogSync of a good event with NATS down")
	require.NotErrorIs(t, err, logger.ErrDropped)
	s := l.Stats()
	assert.Equal(t, uint64(3), s.Logged)
	assert.Equal(t, uint64(3), s.Spilled)
	assert.Equal(t, 3, s.SpillPending)
	assert.Zero(t, s.Dropped.Total())
	assert.Equal(t, 3, spill.Pending())

	require.NoError(t, srv.Restart())
	requireEventually(t, 20*time.Second, func() bool { return l.Stats().SpillPending == 0 },
		"spill not replayed: %+v", func() any { return l.Stats() })
	require.NoError(t, closeBy(t, l, 5*time.Second))
	requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), []string{good[0].ID, good[1].ID, good[2].ID})
}

// stallingSpill is the real file spill behind a disk that stalls: after
// okWrites writes, StoreBatch blocks, honouring ctx (mode "stall") or not
// (mode "never": it returns only when the test ends).
type stallingSpill struct {
	*filestore.Store
	mu       sync.Mutex
	okWrites int
	mode     string
	release  chan struct{}
}

func (s *stallingSpill) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	s.mu.Lock()
	ok := s.okWrites > 0
	s.okWrites--
	s.mu.Unlock()
	if ok {
		return s.Store.StoreBatch(ctx, evs)
	}
	if s.mode == "stall" {
		<-ctx.Done()
		return ctx.Err()
	}
	<-s.release
	return errors.New("disk answered after the test")
}

// blackhole deletes st's stream and subscribes to its subjects, so that
// every publish is delivered and never acknowledged: the store call stalls
// until its ack timeout or ctx. It returns how many messages arrived.
func blackhole(t *testing.T, url string, nc *nats.Conn, st *jsstore.Store) func() int {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), st.StreamName())
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	require.NoError(t, js.DeleteStream(t.Context(), st.StreamName()))
	sink := connect(t, url)
	var mu sync.Mutex
	got := 0
	for _, subj := range info.Config.Subjects {
		_, err := sink.Subscribe(subj, func(*nats.Msg) { mu.Lock(); got++; mu.Unlock() })
		require.NoError(t, err)
	}
	require.NoError(t, sink.Flush())
	return func() int { mu.Lock(); defer mu.Unlock(); return got }
}

// TestIntegrity_CloseBounded: defect 2. Close returns within its ctx's
// deadline plus logger.CloseGrace (and scheduling slack) whatever the
// store and the disk do, and the CloseError counts each of the 1,400
// events (batch 100, the measurement) exactly once: spilled (and
// then really in the spill), dropped or outcome unknown. On the old code
// the "stall" case took about 15 s with a 1 s ctx and the "never" case
// did not return.
func TestIntegrity_CloseBounded(t *testing.T) {
	const n = 1400
	for _, tc := range []struct{ name, store, disk string }{
		{"server down, disk stalls honouring ctx", "down", "stall"},
		{"server down, disk never returns", "down", "never"},
		{"no acknowledgements, disk stalls", "noack", "stall"},
		{"no acknowledgements, disk never returns", "noack", "never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			nc := connect(t, srv.ClientURL())
			st := newStore(t, nc, jsstore.WithAckTimeout(5*time.Second))
			release := make(chan struct{})
			defer close(release)
			spill := &stallingSpill{Store: openSpill(t, t.TempDir()), okWrites: 3, mode: tc.disk, release: release}
			l := logger.New(st, logger.WithSlog(quiet), logger.WithSpill(spill), logger.WithBatchSize(100),
				logger.WithMaxBufferSize(2*n), logger.WithRetry(math.MaxInt, 20*time.Millisecond, 100*time.Millisecond))
			switch tc.store {
			case "down":
				srv.Stop()
				awaitDisconnect(t, nc)
			case "noack":
				blackhole(t, srv.ClientURL(), nc, st)
			}
			for i := range n {
				require.NoError(t, l.Log(newEvent(i)))
			}
			start := time.Now()
			err := closeBy(t, l, time.Second)
			took := time.Since(start)
			ce, ok := errors.AsType[*logger.CloseError](err)
			require.True(t, ok, "Close: %v", err)
			s := l.Stats()
			t.Logf("Close took %v: %v", took, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, n, ce.NotStored)
			assert.Equal(t, n, ce.Spilled+ce.Dropped+ce.OutcomeUnknown)
			assert.Equal(t, ce.Spilled, spill.Pending(), "CloseError.Spilled is what the spill holds")
			assert.Equal(t, uint64(ce.Dropped), s.Dropped.Total())
			assert.Equal(t, uint64(ce.OutcomeUnknown), s.OutcomeUnknown)
			assert.Zero(t, s.BufferDepth)
			if tc.store == "noack" {
				assert.NotZero(t, ce.OutcomeUnknown, "events were sent and never acknowledged")
			}
		})
	}
}

// TestIntegrity_OutcomeUnknown: defect 6. A publish that reached the
// server (a subscriber received the message) and was never acknowledged
// is, when Close gives up, of unknown outcome: LogSync returns
// ErrOutcomeUnknown (not ErrDropped), Close and Stats count it as
// OutcomeUnknown. On the old code it was reported dropped (DropClosed).
func TestIntegrity_OutcomeUnknown(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc, jsstore.WithAckTimeout(time.Minute))
	arrived := blackhole(t, srv.ClientURL(), nc, st)
	l := logger.New(st, logger.WithSlog(quiet), logger.WithStoreTimeout(time.Minute))
	ev := newEvent(7)
	res := make(chan error, 1)
	go func() { res <- l.LogSync(context.Background(), ev) }()
	requireEventually(t, 10*time.Second, func() bool { return arrived() > 0 }, "the publish never reached the server")
	err := closeBy(t, l, time.Second)
	ce, ok := errors.AsType[*logger.CloseError](err)
	require.True(t, ok, "Close: %v", err)
	assert.Equal(t, logger.CloseError{NotStored: 1, OutcomeUnknown: 1, Err: ce.Err}, *ce)
	assert.ErrorIs(t, err, logger.ErrOutcomeUnknown)
	assert.NotErrorIs(t, err, logger.ErrDropped)
	lerr := <-res
	assert.ErrorIs(t, lerr, logger.ErrOutcomeUnknown)
	assert.NotErrorIs(t, lerr, logger.ErrDropped)
	assert.Contains(t, lerr.Error(), "never acknowledged")
	s := l.Stats()
	assert.Equal(t, uint64(1), s.OutcomeUnknown)
	assert.Zero(t, s.Dropped.Total())
}
