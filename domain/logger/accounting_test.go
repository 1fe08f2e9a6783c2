package logger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// faults draws the answer of each Store and Spill call from a seeded
// random source, so that a failing seed replays exactly.
type faults struct {
	mu      sync.Mutex
	s       *fakeStore // to answer as a real store does for ids it holds
	rng     *rand.Rand
	release chan struct{} // ends calls that "never return", after Close
}

func (f *faults) pick(weights ...int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	total := 0
	for _, w := range weights {
		total += w
	}
	r := f.rng.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

func (f *faults) intN(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

// perEvent returns a *BatchError whose entries are drawn: stored, rejected
// as invalid, or a transient failure.
func (f *faults) perEvent(evs []event.JobEvent, stored map[string]bool) error {
	errs := make([]error, len(evs))
	for i := range errs {
		if stored[evs[i].ID] {
			continue // a store de-duplicates an id it holds: success
		}
		switch f.pick(6, 1, 3) {
		case 1:
			errs[i] = fmt.Errorf("%w: too large", event.ErrInvalid)
		case 2:
			errs[i] = errors.New("ack timeout")
		}
	}
	return &logger.BatchError{Errs: errs}
}

func (f *faults) store(ctx context.Context, _ int, evs []event.JobEvent) error {
	switch f.pick(30, 10, 10, 20, 10, 15, 5) {
	case 1:
		return errors.New("connection lost") // may be stored
	case 2:
		return fmt.Errorf("no responders: %w", logger.ErrNotSent)
	case 3:
		stored := map[string]bool{}
		for _, id := range f.s.storedOnce() {
			stored[id] = true
		}
		return f.perEvent(evs, stored)
	case 4:
		<-ctx.Done() // stalls, honours ctx
		return ctx.Err()
	case 5:
		select { // slow but fine
		case <-time.After(time.Duration(1+f.intN(50)) * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case 6:
		<-f.release // never returns in time
		return errors.New("answered after Close")
	}
	return nil
}

func (f *faults) spill(ctx context.Context, evs []event.JobEvent) error {
	switch f.pick(60, 15, 10, 10, 5) {
	case 1:
		return errors.New("disk full")
	case 2:
		return f.perEvent(evs, nil)
	case 3:
		<-ctx.Done()
		return ctx.Err()
	case 4:
		<-f.release
		return errors.New("written after Close")
	}
	return nil
}

// TestAccountingUnderRandomFaults is the property test of issue 9, defect
// 1b: after random sequences of store and spill faults (failures that may
// or may not have stored, failures that certainly did not, per-event
// rejections and transient errors, stalls that honour ctx, calls that never
// return) and a Close with a random deadline, every logged event is in
// exactly one of: stored, in the spill, dropped (by reason, rejected
// included) or outcome unknown — checked by event id against what the fake
// store acknowledged, what the fake spill holds and what the drop handler
// saw, and against Stats and the CloseError. Close also meets its bound.
func TestAccountingUnderRandomFaults(t *testing.T) {
	for seed := range uint64(150) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { accountingRun(t, seed, nil) })
		})
	}
}

// accountingRun runs one seed; wrap, if not nil, makes the Store the
// logger gets out of the fake store (pipeline_test.go: a Pipeliner).
func accountingRun(t *testing.T, seed uint64, wrap func(*fakeStore) logger.Store) {
	f := &faults{rng: rand.New(rand.NewPCG(seed, 9)), release: make(chan struct{})}
	defer close(f.release)
	s := &fakeStore{respond: f.store}
	f.s = s
	var store logger.Store = s
	if wrap != nil {
		store = wrap(s)
	}
	sp := &fakeSpill{t: t}
	sp.setWrite(f.spill)
	var mu sync.Mutex
	dropped := map[string]logger.DropReason{}
	twice := 0
	opts := []logger.Option{
		logger.WithBatchSize(1 + f.intN(8)),
		logger.WithMaxBufferSize(8 + f.intN(40)),
		logger.WithRetry(1+f.intN(4), time.Millisecond, 20*time.Millisecond),
		logger.WithCircuitBreaker(1+f.intN(5), time.Duration(1+f.intN(100))*time.Millisecond),
		logger.WithStoreTimeout(time.Duration(10+f.intN(100)) * time.Millisecond),
		logger.WithOverflow([]logger.OverflowPolicy{logger.DropOldest, logger.DropNewest}[f.intN(2)]),
		logger.WithDropHandler(func(e event.JobEvent, r logger.DropReason) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := dropped[e.ID]; ok {
				twice++
			}
			dropped[e.ID] = r
		}),
	}
	withSpill := f.intN(3) > 0
	if withSpill {
		opts = append(opts, logger.WithSpill(sp))
	}
	if wrap != nil {
		opts = append(opts, logger.WithPipelineDepth(2))
	}
	l := newLogger(t, store, opts...)
	// Every event goes through LogSync, which says what became of it (an
	// outcome-unknown event is known only that way); Log would do the same
	// inside the logger.
	var ids []string
	var wg sync.WaitGroup
	fate := map[string]error{}
	for burst := range 10 + f.intN(20) {
		for i := range 1 + f.intN(10) {
			e := event.Enqueued(fmt.Sprintf("job-%d-%d", burst, i), "q", 0)
			ids = append(ids, e.ID)
			wg.Go(func() {
				err := l.LogSync(context.Background(), e)
				mu.Lock()
				fate[e.ID] = err
				mu.Unlock()
			})
		}
		synctest.Wait()
		time.Sleep(time.Duration(f.intN(30)) * time.Millisecond)
	}
	deadline := time.Duration(f.intN(2000)) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := l.Close(ctx)
	if d := time.Since(start); d > deadline+logger.CloseGrace {
		t.Errorf("Close took %v, bound %v + %v", d, deadline, logger.CloseGrace)
	}

	wg.Wait()
	st := l.Stats()
	if st.Logged != uint64(len(ids)) || st.BufferDepth != 0 || st.InFlight != 0 {
		t.Fatalf("after Close: logged %d of %d, depth %d, in flight %d", st.Logged, len(ids), st.BufferDepth, st.InFlight)
	}
	kept := map[string]bool{}
	for _, id := range s.storedOnce() {
		kept[id] = true
	}
	for _, id := range sp.ids() {
		kept[id] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if twice > 0 {
		t.Errorf("%d events passed to the drop handler twice", twice)
	}
	var byReason logger.Drops
	unknown := 0
	for _, id := range ids {
		r, isDropped := dropped[id]
		switch {
		case isDropped && kept[id]:
			t.Errorf("event %s dropped (%v) but stored or spilled", id, r)
		case isDropped:
			switch r {
			case logger.DropOverflow:
				byReason.Overflow++
			case logger.DropRejected:
				byReason.Rejected++
			case logger.DropRetriesExhausted:
				byReason.RetriesExhausted++
			case logger.DropSpillFailed:
				byReason.SpillFailed++
			case logger.DropClosed:
				byReason.Closed++
			}
		case errors.Is(fate[id], logger.ErrOutcomeUnknown):
			unknown++ // may or may not be stored
			if errors.Is(fate[id], logger.ErrDropped) || errors.Is(fate[id], logger.ErrSpilled) {
				t.Errorf("event %s: LogSync = %v, more than one fate", id, fate[id])
			}
		case !kept[id]:
			t.Errorf("event %s neither stored, spilled, dropped nor of unknown outcome (LogSync said %v)", id, fate[id])
		case fate[id] == nil && !slices.Contains(s.storedOnce(), id):
			t.Errorf("event %s: LogSync said stored, the store lacks it", id)
		}
	}
	if byReason != st.Dropped {
		t.Errorf("drops by reason: handler %+v, Stats %+v", byReason, st.Dropped)
	}
	if uint64(unknown) != st.OutcomeUnknown {
		t.Errorf("LogSync said outcome unknown for %d events; Stats().OutcomeUnknown = %d", unknown, st.OutcomeUnknown)
	}
	if !withSpill && st.Spilled != 0 {
		t.Errorf("spilled %d without a spill", st.Spilled)
	}
	var ce *logger.CloseError
	if errors.As(err, &ce) {
		if ce.NotStored != ce.Spilled+ce.Dropped+ce.OutcomeUnknown || uint64(ce.Dropped) > st.Dropped.Total() || uint64(ce.OutcomeUnknown) > st.OutcomeUnknown {
			t.Errorf("CloseError %+v inconsistent with stats %+v", *ce, st)
		}
	} else if err != nil {
		t.Errorf("Close = %v", err)
	}
}
