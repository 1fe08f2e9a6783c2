package logger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

func TestLoneEventStoredAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{}
		l := newLogger(t, s, logger.WithBatchSize(100), logger.WithFlushInterval(time.Hour))
		start := time.Now()
		ids := logN(t, l, 1)
		synctest.Wait()
		// The fake clock has not moved: the event went out because the
		// store was idle, not because an interval elapsed.
		if d := time.Since(start); d != 0 {
			t.Errorf("stored after %v of fake time, want at once", d)
		}
		equalIDs(t, "stored", s.storedOnce(), ids)
		closeOK(t, l)
	})
}

func TestGroupCommitAndBatchSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		l := newLogger(t, s, logger.WithBatchSize(100))
		ids := logN(t, l, 1)
		synctest.Wait() // the lone event is in flight, the store is slow
		ids = append(ids, logN(t, l, 250)...)
		synctest.Wait()
		if got := s.numCalls(); got != 1 {
			t.Fatalf("%d store calls while the first is in flight, want 1", got)
		}
		g.open()
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The flood that arrived during the first call goes out in full
		// batches, capped at the batch size.
		if got, want := s.callSizes(), []int{1, 100, 100, 50}; !slices.Equal(got, want) {
			t.Errorf("batch sizes %v, want %v", got, want)
		}
		equalIDs(t, "stored", s.storedOnce(), ids)
		st := l.Stats()
		if st.Stored != 251 || st.Batches != 4 || st.BufferDepth != 0 {
			t.Errorf("stats %+v", st)
		}
		closeOK(t, l)
	})
}

func TestFailedBatchKeepsOrderAndIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(func(ctx context.Context, call int, evs []event.JobEvent) error {
			switch call {
			case 0:
				return g.respond(ctx, call, evs)
			case 1:
				return errors.New("503 no responders")
			case 2: // partial failure: the 2nd event fails, the others are stored
				errs := make([]error, len(evs))
				errs[1] = errors.New("ack timeout")
				return &logger.BatchError{Errs: errs}
			}
			return nil
		})
		l := newLogger(t, s, logger.WithBatchSize(4), logger.WithRetry(10, time.Millisecond, time.Millisecond))
		ids := logN(t, l, 1)
		synctest.Wait()
		ids = append(ids, logN(t, l, 9)...)
		g.open()
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Call 1 fails whole, call 2 retries the same ids, call 3 retries
		// the one that failed in call 2 ahead of newer events.
		equalIDs(t, "retry of failed batch", s.call(2), s.call(1))
		if c3 := s.call(3); c3[0] != s.call(2)[1] {
			t.Errorf("call 3 starts with %s, want the event that failed in call 2 (%s)", c3[0], s.call(2)[1])
		}
		// e2 failed inside a batch whose e3 and e4 the store did take: it
		// is stored after them, but ahead of every event not yet sent.
		want := append(slices.Clone(ids[:2]), ids[3], ids[4], ids[2])
		want = append(want, ids[5:]...)
		equalIDs(t, "store order", s.storedOnce(), want)
		if st := l.Stats(); st.Retried != 5 || st.FailedBatches != 2 || st.Stored != 10 {
			t.Errorf("stats: retried %d failed batches %d stored %d, want 5, 2, 10", st.Retried, st.FailedBatches, st.Stored)
		}
		closeOK(t, l)
	})
}

func TestRejectedEventsDroppedExactly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The store answers only once Flush waits, so that the events are
		// still pending when Flush is called (otherwise they may all have
		// met their fate already, and Flush rightly returns nil).
		release := make(chan struct{})
		s := &fakeStore{}
		s.setRespond(func(_ context.Context, _ int, evs []event.JobEvent) error {
			<-release
			errs := make([]error, len(evs))
			bad := false
			for i := range evs {
				if strings.HasSuffix(evs[i].QueueName, "-bad") {
					errs[i] = fmt.Errorf("%w: message too large", event.ErrInvalid)
					bad = true
				}
			}
			if bad {
				return &logger.BatchError{Errs: errs}
			}
			return nil
		})
		var mu sync.Mutex
		var droppedIDs []string
		l := newLogger(t, s, logger.WithBatchSize(4), logger.WithDropHandler(func(e event.JobEvent, r logger.DropReason) {
			mu.Lock()
			defer mu.Unlock()
			if r != logger.DropRejected {
				t.Errorf("drop reason %v, want rejected", r)
			}
			droppedIDs = append(droppedIDs, e.ID)
		}))
		var good, bad []string
		for i := range 10 {
			q := "default"
			if i%3 == 0 {
				q = "default-bad"
			}
			e := event.Enqueued(fmt.Sprintf("job-%d", i), q, 0)
			if q == "default" {
				good = append(good, e.ID)
			} else {
				bad = append(bad, e.ID)
			}
			if err := l.Log(e); err != nil {
				t.Fatal(err)
			}
		}
		flushed := make(chan error, 1)
		go func() { flushed <- l.Flush(context.Background()) }()
		synctest.Wait()
		close(release)
		err := <-flushed
		if !errors.Is(err, logger.ErrDropped) || errors.Is(err, logger.ErrSpilled) {
			t.Fatalf("Flush = %v, want ErrDropped only", err)
		}
		equalIDs(t, "stored", s.storedOnce(), good)
		mu.Lock()
		equalIDs(t, "dropped", droppedIDs, bad)
		mu.Unlock()
		// Rejected events are sent once and never retried.
		sent := map[string]int{}
		for i := range s.numCalls() {
			for _, id := range s.call(i) {
				sent[id]++
			}
		}
		for _, id := range bad {
			if sent[id] != 1 {
				t.Errorf("rejected event %s sent %d times, want 1", id, sent[id])
			}
		}
		st := l.Stats()
		if st.Dropped.Rejected != uint64(len(bad)) || st.Dropped.Total() != uint64(len(bad)) || st.Stored != uint64(len(good)) {
			t.Errorf("stats %+v", st)
		}
		closeOK(t, l)
	})
}

func TestOverflowPolicies(t *testing.T) {
	// maxBuffer 10 with one event in flight leaves room for 9 queued; 20
	// more are logged.
	tests := []struct {
		policy      logger.OverflowPolicy
		wantStored  func(first string, rest []string) []string
		wantDropped uint64
		wantRefused uint64
	}{
		{logger.DropOldest, func(f string, r []string) []string { return append([]string{f}, r[11:]...) }, 11, 0},
		{logger.DropNewest, func(f string, r []string) []string { return append([]string{f}, r[:9]...) }, 11, 0},
		{logger.Block, func(f string, r []string) []string { return append([]string{f}, r[:9]...) }, 0, 11},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newGate()
				s := &fakeStore{}
				s.setRespond(g.respond)
				var mu sync.Mutex
				var handled []string
				l := newLogger(t, s, logger.WithMaxBufferSize(10), logger.WithBatchSize(5), logger.WithOverflow(tt.policy),
					logger.WithDropHandler(func(e event.JobEvent, r logger.DropReason) {
						mu.Lock()
						handled = append(handled, e.ID)
						mu.Unlock()
					}))
				first := logN(t, l, 1)[0]
				synctest.Wait()
				var rest []string
				var full int
				for i := range 20 {
					e := ev(i)
					rest = append(rest, e.ID)
					switch err := l.Log(e); {
					case err == nil:
					case tt.policy == logger.Block && errors.Is(err, logger.ErrBufferFull):
						full++
					default:
						t.Fatalf("Log: %v", err)
					}
				}
				if st := l.Stats(); st.BufferDepth != 10 {
					t.Errorf("buffer depth %d, want 10 (the max)", st.BufferDepth)
				}
				g.open()
				// The drops happened before Flush was called: Flush
				// reports only fates met while it waits.
				if err := l.Flush(context.Background()); err != nil {
					t.Errorf("Flush = %v", err)
				}
				equalIDs(t, "stored", s.storedOnce(), tt.wantStored(first, rest))
				st := l.Stats()
				if st.Dropped.Overflow != tt.wantDropped || st.Dropped.Total() != tt.wantDropped || st.Refused != tt.wantRefused {
					t.Errorf("dropped %+v refused %d, want %d overflow, %d refused", st.Dropped, st.Refused, tt.wantDropped, tt.wantRefused)
				}
				if uint64(full) != tt.wantRefused || uint64(len(handled)) != tt.wantDropped {
					t.Errorf("%d ErrBufferFull, %d drop handler calls", full, len(handled))
				}
				if st.Logged != st.Stored+st.Dropped.Total() {
					t.Errorf("logged %d != stored %d + dropped %d", st.Logged, st.Stored, st.Dropped.Total())
				}
				closeOK(t, l)
			})
		})
	}
}

func TestBlockPolicyLogCtxWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		l := newLogger(t, s, logger.WithMaxBufferSize(2), logger.WithOverflow(logger.Block))
		logN(t, l, 2) // one in flight, one queued: full
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := l.LogCtx(ctx, ev(3))
		cancel()
		if !errors.Is(err, logger.ErrBufferFull) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LogCtx on a full buffer = %v, want ErrBufferFull and DeadlineExceeded", err)
		}
		done := make(chan error)
		go func() { done <- l.LogCtx(context.Background(), ev(4)) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("LogCtx returned %v while the buffer is full", err)
		default:
		}
		g.open()
		if err := <-done; err != nil {
			t.Fatalf("LogCtx after room freed: %v", err)
		}
		closeOK(t, l)
		if st := l.Stats(); st.Stored != 3 || st.Refused != 1 {
			t.Errorf("stored %d refused %d, want 3, 1", st.Stored, st.Refused)
		}
	})
}

func TestSpillDuringOutageThenReplayInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		healthy := make(chan struct{})
		s := &fakeStore{}
		s.setRespond(func(ctx context.Context, _ int, _ []event.JobEvent) error {
			select {
			case <-healthy:
				return nil
			default:
				return errors.New("nats: no responders available for request")
			}
		})
		sp := &fakeSpill{t: t}
		l := newLogger(t, s, logger.WithMaxBufferSize(8), logger.WithBatchSize(2), logger.WithSpill(sp),
			logger.WithRetry(3, 10*time.Millisecond, 40*time.Millisecond), logger.WithCircuitBreaker(4, 100*time.Millisecond))
		// Bursts smaller than the free room: Log never waits for the
		// spill, so a single burst larger than the buffer would overflow.
		var ids []string
		for range 25 {
			ids = append(ids, logN(t, l, 2)...)
			synctest.Wait()
			time.Sleep(5 * time.Millisecond)
		}
		eventually(t, "events spilled", func() bool { return l.Stats().Spilled > 0 })
		if st := l.Stats(); st.Dropped.Total() != 0 || st.BufferDepth > 8 {
			t.Fatalf("during outage: %+v", st)
		}
		close(healthy)
		eventually(t, "everything stored", func() bool { return len(s.storedOnce()) == len(ids) })
		equalIDs(t, "store order (first store of each id)", s.storedOnce(), ids)
		st := l.Stats()
		if st.Replayed == 0 || st.SpillPending != 0 || st.Dropped.Total() != 0 || len(sp.ids()) != 0 {
			t.Errorf("after replay: %+v, spill holds %d", st, len(sp.ids()))
		}
		closeOK(t, l)
	})
}

func TestRetriesExhausted(t *testing.T) {
	// Not sent (logger.ErrNotSent): the events certainly are not stored,
	// so giving up on them is a drop, not an unknown outcome.
	fail := func(context.Context, int, []event.JobEvent) error {
		return fmt.Errorf("unavailable: %w", logger.ErrNotSent)
	}
	t.Run("spilled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &fakeStore{respond: fail}
			sp := &fakeSpill{t: t}
			l := newLogger(t, s, logger.WithSpill(sp), logger.WithRetry(3, time.Millisecond, time.Millisecond),
				logger.WithCircuitBreaker(100, time.Second))
			ids := logN(t, l, 3)
			err := l.Flush(context.Background())
			if !errors.Is(err, logger.ErrSpilled) {
				t.Fatalf("Flush = %v, want ErrSpilled", err)
			}
			if got := s.numCalls(); got < 3 {
				t.Errorf("%d store calls, want at least 3 attempts", got)
			}
			equalIDs(t, "spilled", sp.ids()[:3], ids)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var ce *logger.CloseError
			if err := l.Close(ctx); err != nil && !errors.As(err, &ce) {
				t.Fatalf("Close = %v", err)
			}
		})
	})
	t.Run("dropped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &fakeStore{respond: fail}
			l := newLogger(t, s, logger.WithBatchSize(1), logger.WithRetry(3, time.Millisecond, time.Millisecond),
				logger.WithCircuitBreaker(100, time.Second))
			logN(t, l, 3)
			err := l.Flush(context.Background())
			if !errors.Is(err, logger.ErrDropped) {
				t.Fatalf("Flush = %v, want ErrDropped", err)
			}
			if got := s.numCalls(); got != 9 {
				t.Errorf("%d store calls, want 3 attempts for each of 3 batches", got)
			}
			if st := l.Stats(); st.Dropped.RetriesExhausted != 3 || st.Retried != 6 {
				t.Errorf("dropped %+v retried %d, want 3 exhausted, 6 retried", st.Dropped, st.Retried)
			}
			closeOK(t, l)
		})
	})
}

func TestCloseWithDeadStoreReportsEverything(t *testing.T) {
	hang := func(ctx context.Context, _ int, _ []event.JobEvent) error { <-ctx.Done(); return ctx.Err() }
	for _, withSpill := range []bool{true, false} {
		t.Run(fmt.Sprintf("spill=%v", withSpill), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &fakeStore{respond: hang}
				opts := []logger.Option{logger.WithBatchSize(4), logger.WithStoreTimeout(time.Hour)}
				sp := &fakeSpill{t: t}
				if withSpill {
					opts = append(opts, logger.WithSpill(sp))
				}
				l := newLogger(t, s, opts...)
				ids := logN(t, l, 10)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				start := time.Now()
				err := l.Close(ctx)
				if d := time.Since(start); d > time.Second {
					t.Errorf("Close took %v of fake time, deadline was 1s", d)
				}
				var ce *logger.CloseError
				if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Close = %v, want *CloseError wrapping DeadlineExceeded", err)
				}
				// Without a spill, the events of the call in flight were sent
				// and never acknowledged: outcome unknown; the rest dropped.
				inFlight := len(s.call(0))
				want := logger.CloseError{NotStored: 10, Dropped: 10 - inFlight, OutcomeUnknown: inFlight, Err: ce.Err}
				if withSpill {
					want = logger.CloseError{NotStored: 10, Spilled: 10, Err: ce.Err}
					equalIDs(t, "spilled", sp.ids(), ids)
				}
				if *ce != want {
					t.Errorf("CloseError %+v, want %+v", *ce, want)
				}
				st := l.Stats()
				if withSpill && st.Spilled != 10 || !withSpill && (st.Dropped.Closed != uint64(10-inFlight) || st.OutcomeUnknown != uint64(inFlight)) {
					t.Errorf("stats %+v", st)
				}
				if err := l.Log(ev(1)); !errors.Is(err, logger.ErrClosed) {
					t.Errorf("Log after Close = %v, want ErrClosed", err)
				}
				if err := l.Close(ctx); !errors.Is(err, logger.ErrClosed) {
					t.Errorf("second Close = %v, want ErrClosed", err)
				}
			})
		})
	}
}

func TestCloseSpillsBehindOlderSpill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		sp := &fakeSpill{t: t}
		old := ev(0)
		sp.evs = []event.JobEvent{old} // left by a previous process
		l := newLogger(t, s, logger.WithSpill(sp))
		synctest.Wait() // the replay of old is in flight
		ids := logN(t, l, 3)
		err := l.Close(context.Background())
		var ce *logger.CloseError
		if !errors.As(err, &ce) || ce.Spilled != 3 || ce.Err != nil {
			t.Fatalf("Close = %v, want 3 spilled without ctx error", err)
		}
		// The replay was in flight (gated) when Close began; whether it
		// finished or not, the new events are behind the old one.
		g.open()
		got := sp.ids()
		equalIDs(t, "spill tail", got[len(got)-3:], ids)
	})
}

func TestLogSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(func(ctx context.Context, call int, evs []event.JobEvent) error {
			if evs[0].QueueName == "bad" {
				return &logger.BatchError{Errs: []error{fmt.Errorf("%w: too large", event.ErrInvalid)}}
			}
			return g.respond(ctx, call, evs)
		})
		l := newLogger(t, s, logger.WithBatchSize(1))
		e := ev(1)
		done := make(chan error)
		go func() { done <- l.LogSync(context.Background(), e) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("LogSync returned %v before the store acknowledged", err)
		default:
		}
		g.open()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(s.storedOnce(), e.ID) {
			t.Fatal("LogSync returned but the event is not stored")
		}
		err := l.LogSync(context.Background(), event.Enqueued("job-2", "bad", 0))
		if !errors.Is(err, event.ErrInvalid) || !errors.Is(err, logger.ErrDropped) {
			t.Errorf("LogSync of a rejected event = %v, want ErrInvalid and ErrDropped", err)
		}
		err = l.LogSync(context.Background(), event.Enqueued("job.3", "q", 0))
		if !errors.Is(err, event.ErrInvalid) {
			t.Errorf("LogSync of an invalid event = %v, want ErrInvalid", err)
		}
		closeOK(t, l)
	})
}

func TestLogSyncCtxEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		l := newLogger(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := l.LogSync(ctx, ev(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("LogSync = %v, want DeadlineExceeded", err)
		}
		g.open()
		closeOK(t, l) // the event is still stored
		if st := l.Stats(); st.Stored != 1 {
			t.Errorf("stored %d, want 1", st.Stored)
		}
	})
}

func TestLogRejectsInvalidAndClosed(t *testing.T) {
	l := logger.New(&fakeStore{})
	tests := []struct {
		name string
		ev   event.JobEvent
	}{
		{"dot in job id", event.Enqueued("a.b", "q", 0)},
		{"empty job id", event.Enqueued("", "q", 0)},
		{"unknown type", event.New("job", "exploded")},
		{"no id", event.Enqueued("job", "q", 0, event.WithID(""))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Log(tt.ev); !errors.Is(err, event.ErrInvalid) {
				t.Errorf("Log = %v, want ErrInvalid", err)
			}
		})
	}
	if st := l.Stats(); st.Logged != 0 {
		t.Errorf("logged %d invalid events", st.Logged)
	}
	closeOK(t, l)
	if err := l.Log(ev(1)); !errors.Is(err, logger.ErrClosed) {
		t.Errorf("Log after Close = %v", err)
	}
	if err := l.LogSync(context.Background(), ev(1)); !errors.Is(err, logger.ErrClosed) {
		t.Errorf("LogSync after Close = %v", err)
	}
}

func TestBackoffAndBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{respond: func(context.Context, int, []event.JobEvent) error { return errors.New("down") }}
		var errs int
		var mu sync.Mutex
		var logged bytes.Buffer
		h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logged.Write(p)
		}), nil)
		l := newLogger(t, s, logger.WithRetry(1000, 100*time.Millisecond, 100*time.Millisecond),
			logger.WithCircuitBreaker(3, 10*time.Second),
			logger.WithErrorHandler(func(error) { mu.Lock(); errs++; mu.Unlock() }),
			logger.WithSlog(slog.New(h)))
		logN(t, l, 1)
		synctest.Wait()
		if n := s.numCalls(); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		// Equal jitter: the retry comes between 50ms and 100ms later.
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if n := s.numCalls(); n != 1 {
			t.Fatalf("%d calls after 49ms, want 1 (backoff)", n)
		}
		time.Sleep(52 * time.Millisecond)
		synctest.Wait()
		if n := s.numCalls(); n != 2 {
			t.Fatalf("%d calls after 101ms, want 2", n)
		}
		eventually(t, "breaker open", func() bool { return l.Stats().BreakerOpen })
		if n := s.numCalls(); n != 3 {
			t.Fatalf("%d calls when the breaker opened, want 3 (threshold)", n)
		}
		mu.Lock()
		// The warning says why, also without an error handler.
		if out := logged.String(); !strings.Contains(out, "circuit breaker open") || !strings.Contains(out, `err="logger: store batch of 1: down"`) {
			t.Errorf("the breaker's warning does not name the failure that opened it:\n%s", out)
		}
		mu.Unlock()
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if n := s.numCalls(); n != 3 {
			t.Fatalf("%d calls during the cooldown, want 3", n)
		}
		time.Sleep(1001 * time.Millisecond)
		synctest.Wait()
		if n := s.numCalls(); n != 4 {
			t.Fatalf("%d calls after the cooldown, want 4 (one probe)", n)
		}
		s.setRespond(nil) // healthy again
		eventually(t, "breaker closed", func() bool { return !l.Stats().BreakerOpen })
		if st := l.Stats(); st.Stored != 1 || st.LastError == nil || st.LastErrorAt.IsZero() {
			t.Errorf("stats %+v", st)
		}
		mu.Lock()
		if errs != 4 {
			t.Errorf("error handler called %d times, want 4", errs)
		}
		mu.Unlock()
		closeOK(t, l)
	})
}

func TestDropWarningsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		var mu sync.Mutex
		h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		}), nil)
		warnings := func() int {
			mu.Lock()
			defer mu.Unlock()
			return strings.Count(buf.String(), "dropped events")
		}
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		l := newLogger(t, s, logger.WithMaxBufferSize(1), logger.WithOverflow(logger.DropNewest), logger.WithSlog(slog.New(h)))
		logN(t, l, 2) // 1 in flight, 1 dropped
		synctest.Wait()
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings after the first drop, want 1 at once", n)
		}
		logN(t, l, 5)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings within 10s, want still 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := warnings(); n != 2 {
			t.Fatalf("%d warnings after 10s, want 2", n)
		}
		mu.Lock()
		if !strings.Contains(buf.String(), "dropped=5 total=6") {
			t.Errorf("summary lacks counts: %s", buf.String())
		}
		mu.Unlock()
		g.open()
		closeOK(t, l)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		l := newLogger(t, s, logger.WithSpill(&fakeSpill{t: t}))
		logN(t, l, 100)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_ = l.Close(ctx)
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestConvenienceMethodPerType(t *testing.T) {
	s := &fakeStore{}
	l := newLogger(t, s)
	lv := reflect.ValueOf(l)
	for _, typ := range event.Types() {
		name := "Log" + camel(string(typ))
		t.Run(name, func(t *testing.T) {
			m := lv.MethodByName(name)
			if !m.IsValid() {
				t.Fatalf("no method %s for type %q", name, typ)
			}
			mt := m.Type()
			args := make([]reflect.Value, 0, mt.NumIn())
			for i := range mt.NumIn() - 1 { // the last is opts
				args = append(args, argFor(t, mt.In(i), i))
			}
			args = append(args, reflect.ValueOf(event.WithTag("via", name)))
			if out := m.Call(args); !out[0].IsNil() {
				t.Fatalf("%s: %v", name, out[0].Interface())
			}
		})
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Stored != uint64(len(event.Types())) {
		t.Errorf("stored %d, want one per type", st.Stored)
	}
	if n := reflect.TypeOf(l).NumMethod(); n < len(event.Types()) {
		t.Errorf("%d methods", n)
	}
	closeOK(t, l)
}

func camel(wire string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(wire, "_") {
		if part == "ttl" {
			b.WriteString("TTL")
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func argFor(t *testing.T, typ reflect.Type, i int) reflect.Value {
	switch {
	case typ == reflect.TypeFor[time.Duration]():
		return reflect.ValueOf(time.Second)
	case typ == reflect.TypeFor[time.Time]():
		return reflect.ValueOf(time.Now())
	case typ == reflect.TypeFor[error]():
		return reflect.ValueOf(errors.New("boom"))
	case typ == reflect.TypeFor[[]string]():
		return reflect.ValueOf([]string{"dep-1"})
	case typ.Kind() == reflect.String:
		return reflect.ValueOf(fmt.Sprintf("job-%d", i))
	case typ.Kind() == reflect.Int:
		return reflect.ValueOf(1)
	}
	t.Fatalf("no test value for parameter type %v", typ)
	return reflect.Value{}
}

func TestSpillWhileStoreHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		s := &fakeStore{}
		s.setRespond(g.respond)
		sp := &fakeSpill{t: t}
		l := newLogger(t, s, logger.WithMaxBufferSize(8), logger.WithBatchSize(2), logger.WithSpill(sp),
			logger.WithStoreTimeout(time.Hour))
		ids := logN(t, l, 1)
		synctest.Wait() // in flight, and the store does not answer
		for range 10 {
			ids = append(ids, logN(t, l, 2)...)
			synctest.Wait()
		}
		st := l.Stats()
		if st.Spilled == 0 || st.Dropped.Total() != 0 || st.BufferDepth > 8 {
			t.Fatalf("while the store hangs: %+v", st)
		}
		// The batch in flight went to the spill first, keeping order.
		if got := sp.ids()[0]; got != ids[0] {
			t.Errorf("spill starts with %s, want the event in flight %s", got, ids[0])
		}
		g.open()
		eventually(t, "everything stored", func() bool { return len(s.storedOnce()) == len(ids) })
		equalIDs(t, "store order", s.storedOnce(), ids)
		st = l.Stats()
		if st.Stored+st.Replayed < uint64(len(ids)) || st.Dropped.Total() != 0 {
			t.Errorf("after recovery: %+v", st)
		}
		closeOK(t, l)
	})
}

func TestFlushReportsSpilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The store answers only once Flush waits, so that the events are
		// still pending when Flush is called (otherwise they may already
		// be dropped, which a later Flush rightly does not report).
		release := make(chan struct{})
		s := &fakeStore{respond: func(context.Context, int, []event.JobEvent) error {
			<-release
			return fmt.Errorf("down: %w", logger.ErrNotSent)
		}}
		sp := &fakeSpill{t: t}
		sp.failWrite.Store(true)
		l := newLogger(t, s, logger.WithSpill(sp), logger.WithRetry(1, time.Millisecond, time.Millisecond))
		logN(t, l, 2)
		flushed := make(chan error, 1)
		go func() { flushed <- l.Flush(context.Background()) }()
		synctest.Wait()
		close(release)
		err := <-flushed
		if !errors.Is(err, logger.ErrDropped) {
			t.Fatalf("Flush with a failing spill = %v, want ErrDropped", err)
		}
		if st := l.Stats(); st.Dropped.SpillFailed != 2 {
			t.Errorf("dropped %+v, want 2 spill-failed", st.Dropped)
		}
	})
}
