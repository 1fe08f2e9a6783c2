package watch_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/test/internal/naqbin"
)

// waitLimit bounds every wait of these tests; it is a hang guard, never a
// timing assertion.
const waitLimit = 20 * time.Second

// backend opens a fresh, empty store of one kind, closed when the test ends.
type backend struct {
	name string
	open func(t *testing.T) ports.Store
}

var backends = []backend{
	{"memstore", func(t *testing.T) ports.Store {
		st := memstore.New()
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return st
	}},
	{"filestore", func(t *testing.T) ports.Store {
		// SyncNever: fsync is irrelevant to streaming and slow on a shared disk.
		st, err := filestore.Open(t.TempDir(), filestore.WithSync(filestore.SyncNever))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return st
	}},
}

// forEachBackend runs fn as a subtest per store.
func forEachBackend(t *testing.T, fn func(t *testing.T, st ports.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

// startSignal passes Stream through to a real store and closes started once
// a watcher has begun ranging over it. From then on the watcher's single
// history-then-live stream exists, so an event stored afterwards is one the
// watcher did not see when it started: it must still arrive, exactly once.
type startSignal struct {
	processor.Streamer
	once    sync.Once
	started chan struct{}
}

func newStartSignal(s processor.Streamer) *startSignal {
	return &startSignal{Streamer: s, started: make(chan struct{})}
}

func (s *startSignal) Stream(ctx context.Context, f event.Filter, o event.StreamOptions) iter.Seq2[event.Record, error] {
	seq := s.Streamer.Stream(ctx, f, o)
	return func(yield func(event.Record, error) bool) {
		s.once.Do(func() { close(s.started) })
		seq(yield)
	}
}

// store stores one event of job with type typ and returns it.
func store(ctx context.Context, t *testing.T, st ports.Store, job string, typ event.JobEventType) event.JobEvent {
	t.Helper()
	ev := event.New(job, typ)
	require.NoError(t, st.Store(ctx, ev))
	return ev
}

// recv waits for one value of ch, failing the test after waitLimit.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		require.FailNow(t, "timed out waiting for "+what)
		var zero T
		return zero
	}
}

type waitResult struct {
	ev  event.JobEvent
	err error
}

// goWaitFor runs WaitFor on its own goroutine; the result arrives on the
// channel (buffered, so the goroutine never outlives the test: every caller
// receives from it or its ctx ends first).
func goWaitFor(ctx context.Context, w *processor.Watcher, job string, types ...event.JobEventType) <-chan waitResult {
	res := make(chan waitResult, 1)
	go func() {
		ev, err := w.WaitFor(ctx, job, types...)
		res <- waitResult{ev, err}
	}()
	return res
}

func TestWaitFor(t *testing.T) {
	terminal := []event.JobEventType{event.TypeCompleted, event.TypeFailed, event.TypeCancelled}
	tests := []struct {
		name   string
		types  []event.JobEventType // what WaitFor waits for
		before []event.JobEventType // job-1's events stored before WaitFor
		after  []event.JobEventType // job-1's events stored once WaitFor has started
		want   int                  // index into before+after of the event WaitFor returns
	}{
		{
			name:   "already happened",
			types:  []event.JobEventType{event.TypeCompleted},
			before: []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted},
			want:   2,
		},
		{
			name:   "stored later",
			types:  []event.JobEventType{event.TypeCompleted},
			before: []event.JobEventType{event.TypeEnqueued, event.TypeStarted},
			after:  []event.JobEventType{event.TypeWorkerAssigned, event.TypeCompleted},
			want:   3,
		},
		{
			name:  "nothing before, stored later",
			types: []event.JobEventType{event.TypeCompleted},
			after: []event.JobEventType{event.TypeCompleted},
			want:  0,
		},
		{
			name:   "several types, first one stored later wins",
			types:  terminal,
			before: []event.JobEventType{event.TypeStarted},
			after:  []event.JobEventType{event.TypeRetryScheduled, event.TypeFailed, event.TypeCompleted},
			want:   2,
		},
		{
			name:   "several types, already happened",
			types:  terminal,
			before: []event.JobEventType{event.TypeStarted, event.TypeCancelled},
			after:  []event.JobEventType{event.TypeCompleted},
			want:   1,
		},
		{
			name:   "no types means any type",
			before: nil,
			after:  []event.JobEventType{event.TypeEnqueued, event.TypeStarted},
			want:   0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st ports.Store) {
				ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
				defer cancel()
				var evs []event.JobEvent
				// Another job with a similar id and the awaited types: never matched.
				store(ctx, t, st, "job-10", event.TypeCompleted)
				store(ctx, t, st, "job-10", event.TypeFailed)
				for _, typ := range tt.before {
					evs = append(evs, store(ctx, t, st, "job-1", typ))
				}
				sig := newStartSignal(st)
				res := goWaitFor(ctx, processor.NewWatcher(sig), "job-1", tt.types...)
				if len(tt.after) > 0 {
					recv(t, sig.started, "WaitFor to start its stream")
					store(ctx, t, st, "job-10", event.TypeCancelled)
					for _, typ := range tt.after {
						evs = append(evs, store(ctx, t, st, "job-1", typ))
					}
				}
				r := recv(t, res, "WaitFor")
				require.NoError(t, r.err)
				assert.Equal(t, evs[tt.want].ID, r.ev.ID, "WaitFor returned %s %s", r.ev.JobID, r.ev.Type)
				assert.Equal(t, "job-1", r.ev.JobID)
				assert.Equal(t, evs[tt.want].Type, r.ev.Type)
			})
		})
	}
}

// TestWaitForWhileWriting races WaitFor's start against a writer storing
// matching events with no synchronisation at all: whichever side wins,
// WaitFor returns the first of them in store order, never a later one and
// never nothing.
func TestWaitForWhileWriting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		w := processor.NewWatcher(st)
		stop := make(chan struct{})
		var mu sync.Mutex
		var ids []string
		writerDone := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					writerDone <- nil
					return
				default:
				}
				ev := event.New("job-1", event.TypeCompleted)
				if err := st.Store(ctx, ev); err != nil {
					writerDone <- err
					return
				}
				mu.Lock()
				ids = append(ids, ev.ID)
				mu.Unlock()
			}
		}()
		got, err := w.WaitFor(ctx, "job-1", event.TypeCompleted)
		close(stop)
		require.NoError(t, recv(t, writerDone, "the writer to stop"))
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, ids)
		assert.Equal(t, ids[0], got.ID, "the first completed event in store order")
	})
}

func TestWaitForHonoursDeadlineWhileQuiet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx := t.Context()
		store(ctx, t, st, "job-1", event.TypeStarted)
		store(ctx, t, st, "job-2", event.TypeCompleted) // another job's: not a match
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		res := goWaitFor(dctx, processor.NewWatcher(st), "job-1", event.TypeCompleted)
		r := recv(t, res, "WaitFor to give up at its deadline")
		require.ErrorIs(t, r.err, context.DeadlineExceeded)
		assert.Contains(t, r.err.Error(), `"job-1"`, "the error names the job")
		assert.Empty(t, r.ev.ID)
	})
}

func TestWaitForRejectsWildcardJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx := t.Context()
		store(ctx, t, st, "job-1", event.TypeCompleted)
		w := processor.NewWatcher(st)
		for _, job := range []string{"*", ">", "job.1", ""} {
			_, err := w.WaitFor(ctx, job, event.TypeCompleted)
			require.ErrorIs(t, err, event.ErrInvalid, "job id %q", job)
		}
	})
}

// errSeenLast ends a MonitorJob call from its callback once the last
// expected event arrived.
var errSeenLast = errors.New("seen the last event")

// TestMonitorJobHistoryThenLive: a writer keeps storing job-1's events,
// interleaved with job-10's, while MonitorJob starts. MonitorJob must report
// exactly job-1's events in store order — history, the ones stored while it
// started, and the live ones — with no gap and no duplicate.
func TestMonitorJobHistoryThenLive(t *testing.T) {
	const history, racing, live = 40, 150, 150
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		var want []string // job-1's ids in store order; written by one goroutine at a time
		storePair := func() error {
			mine := event.New("job-1", event.TypeWorkerAssigned)
			if err := st.Store(ctx, mine); err != nil {
				return err
			}
			want = append(want, mine.ID)
			return st.Store(ctx, event.New("job-10", event.TypeWorkerAssigned))
		}
		for range history {
			require.NoError(t, storePair())
		}
		sig := newStartSignal(st)
		w := processor.NewWatcher(sig, processor.WatchBuffer(history+racing+live+1))

		writerDone := make(chan error, 1)
		// On a failed write, cancel: MonitorJob then ends at once.
		fail := func(err error) { cancel(); writerDone <- err }
		// The writer is owned by this test, which receives writerDone below.
		go func() {
			for range racing { // while MonitorJob starts: history or live, either way
				if err := storePair(); err != nil {
					fail(err)
					return
				}
			}
			select { // the rest certainly after MonitorJob's stream began
			case <-sig.started:
			case <-ctx.Done():
				writerDone <- ctx.Err()
				return
			}
			for range live {
				if err := storePair(); err != nil {
					fail(err)
					return
				}
			}
			last := event.New("job-1", event.TypeCompleted)
			want = append(want, last.ID)
			writerDone <- st.Store(ctx, last)
		}()

		var got []string // written by the callback, on this goroutine
		err := w.MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
			got = append(got, e.ID)
			if e.JobID != "job-1" {
				return fmt.Errorf("event %s of job %q", e.ID, e.JobID)
			}
			if e.Type == event.TypeCompleted {
				return errSeenLast
			}
			return nil
		})
		require.NoError(t, recv(t, writerDone, "the writer"))
		require.ErrorIs(t, err, errSeenLast)
		assert.NotErrorIs(t, err, processor.ErrDropped)
		assert.Zero(t, w.Dropped())
		require.Len(t, want, history+racing+live+1)
		assert.Equal(t, want, got, "history then live, in store order, no gap, no duplicate")
	})
}

// TestMonitorJobSeesOnlyItsJob: events of other jobs, one of them with
// job-1 as a prefix of its id, are interleaved with job-1's and never
// reported.
func TestMonitorJobSeesOnlyItsJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		life := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeWorkerAssigned, event.TypeCompleted}
		var want []string
		for _, typ := range life {
			want = append(want, store(ctx, t, st, "job-1", typ).ID)
			store(ctx, t, st, "job-10", typ)
			store(ctx, t, st, "job-2", typ)
		}
		var got []string
		err := processor.NewWatcher(st).MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
			got = append(got, e.ID)
			if e.Type == event.TypeCompleted {
				return errSeenLast
			}
			return nil
		})
		require.ErrorIs(t, err, errSeenLast)
		assert.Equal(t, want, got)
	})
}

// TestMonitorJobEndsWithCtx: MonitorJob returns ctx's error once ctx ends,
// also while the job is quiet.
func TestMonitorJobEndsWithCtx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		first := store(ctx, t, st, "job-1", event.TypeStarted)
		seen := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- processor.NewWatcher(st).MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
				seen <- e.ID // the test stores one event of job-1 only
				return nil
			})
		}()
		assert.Equal(t, first.ID, recv(t, seen, "the history event"))
		cancel()
		require.ErrorIs(t, recv(t, done, "MonitorJob to end"), context.Canceled)
	})
}

// TestMonitorJobSlowCallback: with WatchBuffer(2), a callback stuck on the
// first event while ten more are stored sees, once released, only the two
// newest: the eight oldest were dropped, counted once each, logged once,
// and MonitorJob's error wraps ErrDropped. The final event is kept.
func TestMonitorJobSlowCallback(t *testing.T) {
	const buffer, more = 2, 10
	forEachBackend(t, func(t *testing.T, st ports.Store) {
		ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
		defer cancel()
		var logs naqbin.Buffer
		w := processor.NewWatcher(st, processor.WatchBuffer(buffer),
			processor.WatchSlog(slog.New(slog.NewTextHandler(&logs, nil))))
		first := store(ctx, t, st, "job-1", event.TypeStarted)

		stuck := make(chan struct{})
		release := make(chan struct{})
		var got []string // written by the callback, read after MonitorJob returned
		done := make(chan error, 1)
		go func() {
			done <- w.MonitorJob(ctx, "job-1", func(e event.JobEvent) error {
				got = append(got, e.ID)
				switch {
				case e.ID == first.ID:
					close(stuck)
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				case e.Type == event.TypeCompleted:
					return errSeenLast
				}
				return nil
			})
		}()
		recv(t, stuck, "the callback to hold the first event")
		var evs []event.JobEvent
		for i := range more {
			typ := event.TypeWorkerAssigned
			if i == more-1 {
				typ = event.TypeCompleted
			}
			evs = append(evs, store(ctx, t, st, "job-1", typ))
		}
		// The reader fills the buffer behind the stuck callback; once all ten
		// are read, exactly more-buffer of them were dropped.
		require.Eventually(t, func() bool { return w.Dropped() == more-buffer }, waitLimit, time.Millisecond,
			"the reader to drop %d events", more-buffer)
		close(release)

		err := recv(t, done, "MonitorJob")
		require.ErrorIs(t, err, errSeenLast)
		require.ErrorIs(t, err, processor.ErrDropped)
		assert.Contains(t, err.Error(), fmt.Sprintf("%d events", more-buffer))
		assert.Equal(t, []string{first.ID, evs[more-2].ID, evs[more-1].ID}, got,
			"the stuck event, then the newest %d; the oldest are dropped", buffer)
		assert.Equal(t, uint64(more-buffer), w.Dropped())
		assert.Equal(t, 1, strings.Count(logs.String(), "too slow"), "the first drop of a call is logged, once: %s", logs.String())
	})
}

// Example_memstore waits for a job to finish over the in-memory store: no
// NATS needed. The event was stored before WaitFor was called; one stored
// later is found the same way.
func Example_memstore() {
	ctx := context.Background()
	st := memstore.New(memstore.WithService("billing"))
	defer func() {
		if err := st.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()
	w := processor.NewWatcher(st)

	for _, typ := range []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted} {
		if err := st.Store(ctx, event.New("invoice-42", typ, event.WithMessage(string(typ)))); err != nil {
			fmt.Println("store:", err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ev, err := w.WaitFor(ctx, "invoice-42", event.TypeCompleted, event.TypeFailed)
	if err != nil {
		fmt.Println("wait:", err)
		return
	}
	fmt.Println(ev.JobID, ev.Type)

	// A job that never finishes: WaitFor gives up at ctx's deadline.
	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	_, err = w.WaitFor(short, "invoice-43", event.TypeCompleted)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// invoice-42 completed
	// true
}
