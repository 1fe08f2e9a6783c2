package logger_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Tests for issue 9, defects 1, 2 and 6, against fakes (pure logic); the
// same cases against a real nats-server and the file spill are in
// test/loggerjs.

// TestLogRefusesUnencodableAtTheDoor: defect 1a. An event the codec cannot
// encode is refused by Log with an error naming the field, and never
// enters the pipeline. On the old code Log accepted it.
func TestLogRefusesUnencodableAtTheDoor(t *testing.T) {
	s := &fakeStore{}
	l := newLogger(t, s)
	for _, tt := range []struct {
		name string
		opt  event.Option
		want string
	}{
		{"NaN detail", event.WithDetail("ratio", math.NaN()), `details["ratio"]`},
		{"Inf metadata", event.WithMetadata("load", math.Inf(1)), `metadata["load"]`},
		{"channel", event.WithDetail("ch", make(chan struct{})), `details["ch"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Log(event.Enqueued("job-1", "q", 0, tt.opt))
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Log = %v, want ErrInvalid naming %s", err, tt.want)
			}
			err = l.LogSync(context.Background(), event.Enqueued("job-1", "q", 0, tt.opt))
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("LogSync = %v, want ErrInvalid", err)
			}
		})
	}
	if st := l.Stats(); st.Logged != 0 || s.numCalls() != 0 {
		t.Errorf("logged %d, %d store calls; want nothing accepted", st.Logged, s.numCalls())
	}
	closeOK(t, l)
}

// diskRejects makes a spill refuse events of queue "bad" as invalid and
// write the others, as the file spill does with a per-event *BatchError.
func diskRejects(_ context.Context, evs []event.JobEvent) error {
	errs := make([]error, len(evs))
	bad := false
	for i := range evs {
		if evs[i].QueueName == "bad" {
			errs[i] = fmt.Errorf("filestore: event %d: %w: does not encode", i, event.ErrInvalid)
			bad = true
		}
	}
	if bad {
		return &logger.BatchError{Errs: errs}
	}
	return nil
}

// TestSpillPerEventErrorsClassified: defect 1b. A spill write that stores
// the good events of a batch and refuses one counts the good ones as
// spilled (LogSync says ErrSpilled, SpillPending counts them) and the bad
// one as rejected, on the exhausted-retries path and on the high-water
// path. On the old code every event of the batch was dropped as
// spill-failed and LogSync of a good event returned ErrDropped.
func TestSpillPerEventErrorsClassified(t *testing.T) {
	down := func(context.Context, int, []event.JobEvent) error { return errors.New("503") }
	t.Run("retries exhausted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &fakeStore{respond: down}
			sp := &fakeSpill{t: t}
			sp.setWrite(diskRejects)
			l := newLogger(t, s, logger.WithSpill(sp), logger.WithBatchSize(4), logger.WithRetry(2, time.Millisecond, time.Millisecond),
				logger.WithCircuitBreaker(100, time.Second), logger.WithFlushInterval(time.Hour))
			gate := newGate()
			s.setRespond(func(ctx context.Context, call int, evs []event.JobEvent) error {
				if call == 0 {
					_ = gate.respond(ctx, call, evs)
				}
				return errors.New("503")
			})
			first := ev(0)
			if err := l.Log(first); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // a lone event in flight: the next batch is whole
			good1, bad, good2 := ev(1), event.Enqueued("job-bad", "bad", 0), ev(2)
			res := make(chan error, 2)
			go func() { res <- l.LogSync(context.Background(), good1) }()
			synctest.Wait()
			if err := l.Log(bad); err != nil {
				t.Fatal(err)
			}
			go func() { res <- l.LogSync(context.Background(), good2) }()
			synctest.Wait()
			gate.open()
			for range 2 {
				if err := <-res; !errors.Is(err, logger.ErrSpilled) || errors.Is(err, logger.ErrDropped) {
					t.Errorf("LogSync of a good event = %v, want ErrSpilled", err)
				}
			}
			eventually(t, "all settled", func() bool { return l.Stats().BufferDepth == 0 })
			st := l.Stats()
			if st.Spilled != 3 || st.SpillPending != 3 || st.Dropped.Rejected != 1 || st.Dropped.SpillFailed != 0 || st.Dropped.Total() != 1 {
				t.Errorf("spilled %d pending %d dropped %+v, want 3 spilled and pending, 1 rejected", st.Spilled, st.SpillPending, st.Dropped)
			}
			equalIDs(t, "spill", sp.ids(), []string{first.ID, good1.ID, good2.ID})
		})
	})
	t.Run("high water", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newGate()
			s := &fakeStore{}
			s.setRespond(g.respond) // hangs: memory fills, the flusher spills
			sp := &fakeSpill{t: t}
			sp.setWrite(diskRejects)
			var mu sync.Mutex
			drops := map[logger.DropReason]int{}
			l := newLogger(t, s, logger.WithSpill(sp), logger.WithMaxBufferSize(8), logger.WithBatchSize(2), logger.WithStoreTimeout(time.Hour),
				logger.WithDropHandler(func(_ event.JobEvent, r logger.DropReason) { mu.Lock(); drops[r]++; mu.Unlock() }))
			logN(t, l, 1)
			synctest.Wait()
			for i := range 20 {
				e := ev(i)
				if i == 3 {
					e = event.Enqueued("job-bad", "bad", 0)
				}
				if err := l.Log(e); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
			}
			st := l.Stats()
			mu.Lock()
			defer mu.Unlock()
			if st.Dropped.Overflow != 0 || st.Dropped.SpillFailed != 0 || st.Dropped.Rejected != 1 || drops[logger.DropRejected] != 1 || len(drops) != 1 {
				t.Errorf("dropped %+v handler %v, want exactly the bad event rejected and no overflow", st.Dropped, drops)
			}
			if st.Spilled != uint64(len(sp.ids())) || st.Spilled == 0 {
				t.Errorf("Spilled %d, spill holds %d", st.Spilled, len(sp.ids()))
			}
			g.open()
		})
	})
}

// stall blocks until ctx ends, then fails with ctx's error: a store or a
// disk that stalls but honours ctx.
func stall(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// TestCloseBoundedByCtx: defect 2. Close returns within its ctx's deadline
// plus logger.CloseGrace whatever the store and the spill do, and its
// CloseError counts every event exactly: spilled ones are in the spill,
// those in a call that never answered are outcome unknown, the rest are
// dropped. On the old code the "stall" cases took one store timeout per
// spill batch (far beyond the bound) and the "never returns" cases never
// returned.
func TestCloseBoundedByCtx(t *testing.T) {
	const n, deadline = 1400, time.Second
	tests := []struct {
		name         string
		store, spill string // "stall": honours ctx; "never": ignores it; "ok"
		noSpill      bool
		storeTimeout time.Duration
	}{
		{"store and spill stall, batch 100", "stall", "stall", false, 5 * time.Second},
		{"store stalls, spill ok", "stall", "ok", false, 5 * time.Second},
		{"store never returns, spill ok", "never", "ok", false, 5 * time.Second},
		{"store and spill never return", "never", "never", false, 5 * time.Second},
		{"store never returns, no spill", "never", "", true, time.Hour},
		{"store stalls, spill never returns, long timeout", "stall", "never", false, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{}) // ends "never" calls after the test
				defer close(release)
				behave := func(mode string, ctx context.Context) error {
					switch mode {
					case "stall":
						return stall(ctx)
					case "never":
						<-release
						return errors.New("too late")
					}
					return nil
				}
				s := &fakeStore{respond: func(ctx context.Context, _ int, _ []event.JobEvent) error { return behave(tt.store, ctx) }}
				sp := &fakeSpill{t: t}
				sp.setWrite(func(ctx context.Context, _ []event.JobEvent) error { return behave(tt.spill, ctx) })
				opts := []logger.Option{logger.WithBatchSize(100), logger.WithMaxBufferSize(2 * n), logger.WithStoreTimeout(tt.storeTimeout),
					logger.WithRetry(math.MaxInt, 10*time.Millisecond, 100*time.Millisecond)}
				if !tt.noSpill {
					opts = append(opts, logger.WithSpill(sp))
				}
				l := newLogger(t, s, opts...)
				logN(t, l, n)
				synctest.Wait()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err := l.Close(ctx)
				if d := time.Since(start); d > deadline+logger.CloseGrace {
					t.Errorf("Close took %v, want at most %v + CloseGrace %v", d, deadline, logger.CloseGrace)
				}
				var ce *logger.CloseError
				if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Close = %v, want *CloseError wrapping DeadlineExceeded", err)
				}
				st := l.Stats()
				if ce.NotStored != n || ce.Spilled+ce.Dropped+ce.OutcomeUnknown != n {
					t.Fatalf("CloseError %+v, want all %d events accounted for", *ce, n)
				}
				if tt.spill == "ok" && len(sp.ids()) < ce.Spilled || tt.spill != "ok" && ce.Spilled > len(sp.ids()) {
					t.Errorf("CloseError says %d spilled, the spill holds %d", ce.Spilled, len(sp.ids()))
				}
				if uint64(ce.Dropped) != st.Dropped.Total() || uint64(ce.OutcomeUnknown) != st.OutcomeUnknown || st.BufferDepth != 0 {
					t.Errorf("CloseError %+v disagrees with stats %+v", *ce, st)
				}
				switch {
				case tt.spill == "ok" && ce.Spilled != n:
					t.Errorf("spill works: want all %d spilled, got %+v", n, *ce)
				case tt.noSpill && ce.OutcomeUnknown != len(s.call(0)):
					t.Errorf("want the %d events of the unanswered call as outcome unknown, got %+v", len(s.call(0)), *ce)
				}
			})
		})
	}
}

// TestOutcomeUnknownIsItsOwnCategory: defect 6. An event whose publish
// was sent and never acknowledged when Close gave up is reported as
// outcome unknown by LogSync, Flush, Close and Stats, not as dropped. On
// the old code LogSync returned ErrDropped and Close counted it dropped.
func TestOutcomeUnknownIsItsOwnCategory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &fakeStore{respond: func(ctx context.Context, _ int, _ []event.JobEvent) error { return stall(ctx) }}
		l := newLogger(t, s, logger.WithStoreTimeout(time.Hour))
		sent := ev(1)
		res := make(chan error, 1)
		go func() { res <- l.LogSync(context.Background(), sent) }()
		synctest.Wait() // in flight, unanswered
		flushed := make(chan error, 1)
		go func() { flushed <- l.Flush(context.Background()) }()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := l.Close(ctx)
		var ce *logger.CloseError
		if !errors.As(err, &ce) || ce.OutcomeUnknown != 1 || ce.Dropped != 0 || ce.NotStored != 1 || !errors.Is(err, logger.ErrOutcomeUnknown) || errors.Is(err, logger.ErrDropped) {
			t.Errorf("Close = %v (%+v), want 1 outcome unknown, none dropped", err, ce)
		}
		if err := <-res; !errors.Is(err, logger.ErrOutcomeUnknown) || errors.Is(err, logger.ErrDropped) {
			t.Errorf("LogSync = %v, want ErrOutcomeUnknown and not ErrDropped", err)
		}
		if err := <-flushed; !errors.Is(err, logger.ErrOutcomeUnknown) || errors.Is(err, logger.ErrDropped) {
			t.Errorf("Flush = %v, want ErrOutcomeUnknown and not ErrDropped", err)
		}
		if st := l.Stats(); st.OutcomeUnknown != 1 || st.Dropped.Total() != 0 {
			t.Errorf("stats %+v, want 1 outcome unknown, none dropped", st)
		}
	})
}

// TestSpillLimit: a Spill that holds WithSpillLimit events takes no more;
// what it refuses stays in memory, then meets the overflow policy — every
// event counted in exactly one state, the refusal named by ErrSpillFull —
// and once the store is back the spill drains in order and takes events
// again.
func TestSpillLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		healthy := make(chan struct{})
		s := &fakeStore{}
		s.setRespond(func(ctx context.Context, _ int, _ []event.JobEvent) error {
			select {
			case <-healthy:
				return nil
			default:
				return fmt.Errorf("down: %w", logger.ErrNotSent)
			}
		})
		sp := &fakeSpill{t: t}
		var errs []error
		var mu sync.Mutex
		l := newLogger(t, s, logger.WithMaxBufferSize(8), logger.WithBatchSize(2), logger.WithSpill(sp),
			logger.WithSpillLimit(6), logger.WithRetry(2, 10*time.Millisecond, 10*time.Millisecond),
			logger.WithCircuitBreaker(2, 50*time.Millisecond),
			logger.WithErrorHandler(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
		var logged int
		for range 40 {
			logN(t, l, 2)
			logged += 2
			synctest.Wait()
			time.Sleep(5 * time.Millisecond)
		}
		st := l.Stats()
		if st.SpillPending > 6+2 || len(sp.ids()) > 6+2 {
			t.Fatalf("the spill holds %d (SpillPending %d), want at most the limit 6 plus one batch of 2", len(sp.ids()), st.SpillPending)
		}
		if st.Dropped.Total() == 0 {
			t.Fatalf("80 events into a buffer of 8 and a spill of 6 with the store down: nothing dropped? %+v", st)
		}
		if got := st.Stored + st.Spilled + st.Dropped.Total() + uint64(st.BufferDepth); got != uint64(logged) {
			t.Errorf("accounting: stored %d + spilled %d + dropped %d + buffered %d = %d, want logged %d",
				st.Stored, st.Spilled, st.Dropped.Total(), st.BufferDepth, got, logged)
		}
		fullReports := func() (n int) {
			mu.Lock()
			defer mu.Unlock()
			for _, err := range errs {
				if errors.Is(err, logger.ErrSpillFull) {
					n++
				}
			}
			return n
		}
		// 200 ms of a full spill: reported once, not on every refused
		// write (every high-water check and exhausted batch).
		if full := fullReports(); full != 1 {
			t.Errorf("%d errors wrapping ErrSpillFull among %d reported, want exactly 1 (the first, then one per 10 s)", full, len(errs))
		}
		// Still full 10 s later: reported again, once.
		for range 21 {
			logN(t, l, 2)
			logged += 2
			synctest.Wait()
			time.Sleep(500 * time.Millisecond)
		}
		if full := fullReports(); full != 2 {
			t.Errorf("%d errors wrapping ErrSpillFull after 10.7 s full, want 2 (one per 10 s)", full)
		}
		if !errors.Is(l.Stats().LastError, logger.ErrSpillFull) {
			t.Errorf("LastError %v, want ErrSpillFull", l.Stats().LastError)
		}
		spilled := sp.ids()
		close(healthy)
		eventually(t, "spill drained", func() bool { return l.Stats().SpillPending == 0 && l.Stats().BufferDepth == 0 })
		stored := s.storedOnce()
		if len(stored) < len(spilled) {
			t.Fatalf("stored %d, want at least the %d spilled", len(stored), len(spilled))
		}
		equalIDs(t, "the spilled events are stored first, in order", stored[:len(spilled)], spilled)
		closeOK(t, l)
	})
}
