package logger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// fakePipe is a fakeStore that also implements logger.Pipeliner the way a
// gap-fail store does: a chained batch behind one that was not wholly
// stored is not stored at all (every event ErrNotSent). It checks the
// caller's side of the contract: at most two batches outstanding, no plain
// StoreBatch while one is.
type fakePipe struct {
	*fakeStore
	t           *testing.T
	mu          sync.Mutex
	outstanding int
	most        int
	sends       []pipeSend
	broken      bool // the last batch waited for was not wholly stored
}

type pipeSend struct {
	ids           []string
	chained, more bool
	behind        int // batches outstanding when it was sent
}

var _ logger.Pipeliner = (*fakePipe)(nil)

func (p *fakePipe) SendBatch(ctx context.Context, evs []event.JobEvent, chained, more bool) func() error {
	evs = slices.Clone(evs)
	p.mu.Lock()
	p.sends = append(p.sends, pipeSend{ids: idsOf(evs), chained: chained, more: more, behind: p.outstanding})
	p.outstanding++
	p.most = max(p.most, p.outstanding)
	if p.outstanding > 2 {
		p.t.Errorf("%d batches outstanding", p.outstanding)
	}
	p.mu.Unlock()
	return func() error {
		defer func() {
			p.mu.Lock()
			p.outstanding--
			p.mu.Unlock()
		}()
		p.mu.Lock()
		behind := chained && p.broken
		p.mu.Unlock()
		if behind {
			errs := make([]error, len(evs))
			for i := range errs {
				errs[i] = fmt.Errorf("behind a broken batch: %w", logger.ErrNotSent)
			}
			return &logger.BatchError{Errs: errs}
		}
		err := p.fakeStore.StoreBatch(ctx, evs)
		p.mu.Lock()
		p.broken = notWhole(err)
		p.mu.Unlock()
		return err
	}
}

func (p *fakePipe) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	p.mu.Lock()
	if p.outstanding > 0 {
		p.t.Errorf("plain StoreBatch with %d batches outstanding", p.outstanding)
	}
	p.mu.Unlock()
	return p.fakeStore.StoreBatch(ctx, evs)
}

func (p *fakePipe) chainedSends() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, s := range p.sends {
		if s.chained && s.behind > 0 {
			n++
		}
	}
	return n
}

// notWhole reports whether a write's error leaves an event not stored
// (a rejection as invalid is final and does not count).
func notWhole(err error) bool {
	if err == nil {
		return false
	}
	var be *logger.BatchError
	if !errors.As(err, &be) {
		return true
	}
	for _, e := range be.Errs {
		if e != nil && !errors.Is(e, event.ErrInvalid) {
			return true
		}
	}
	return false
}

// TestPipelineTwoInFlight: with a Pipeliner, the next batch is sent while
// the first awaits its answer; when the first fails, the chained one fails
// with it, and both are retried in order with the same ids: the store
// ends with every event once, in logged order.
//
// With failAgain, the first resend (the head batch's events) fails once
// more: Retried counts the head's events twice and the chained one's once.
func TestPipelineTwoInFlight(t *testing.T) {
	for _, mode := range []string{"once", "failAgain", "exhausted"} {
		t.Run(mode, func(t *testing.T) { testPipelineTwoInFlight(t, mode) })
	}
}

// testPipelineTwoInFlight: two pipelined batches fail together; then
// (mode) their resends go through ("once"), the head's first resend fails
// too ("failAgain"), or every resend of the head fails until its retries
// are used up ("exhausted": given up, the second batch still goes out).
func testPipelineTwoInFlight(t *testing.T, mode string) {
	failAgain, exhaust := mode == "failAgain", mode == "exhausted"
	synctest.Test(t, func(t *testing.T) {
		first, warm := make(chan struct{}), make(chan struct{})
		warmUp := event.Enqueued("job-warm", "q", 0)
		var calls sync.Map
		var failed, failedAgain atomic.Bool
		var headID atomic.Value
		s := &fakeStore{respond: func(ctx context.Context, call int, evs []event.JobEvent) error {
			if _, again := calls.LoadOrStore(evs[0].ID, true); again {
				if failAgain && evs[0].ID == headID.Load() && failedAgain.CompareAndSwap(false, true) {
					return fmt.Errorf("connection lost again")
				}
				if exhaust && evs[0].ID == headID.Load() {
					return fmt.Errorf("connection lost again")
				}
				return nil
			}
			if evs[0].ID == warmUp.ID {
				<-warm // holds the store while the 30 are logged
				return nil
			}
			if failed.CompareAndSwap(false, true) {
				headID.Store(evs[0].ID)
				<-first // the first batch's answer comes late, and is a failure
				return fmt.Errorf("connection lost")
			}
			return nil
		}}
		p := &fakePipe{fakeStore: s, t: t}
		tries := 5
		if exhaust {
			tries = 2 // the joint failure and one resend
		}
		l := newLogger(t, p, logger.WithBatchSize(10), logger.WithRetry(tries, time.Millisecond, time.Millisecond), logger.WithPipelineDepth(2))
		// A lone event goes out plain (nothing to chain behind it) and
		// holds the store, so that the 30 are queued when it returns: full
		// batches, which go out pipelined.
		if err := l.Log(warmUp); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		ids := []string{warmUp.ID}
		for i := range 30 {
			e := event.Enqueued(fmt.Sprintf("job-%d", i%3), "q", 0)
			ids = append(ids, e.ID)
			if err := l.Log(e); err != nil {
				t.Fatal(err)
			}
		}
		close(warm)
		synctest.Wait()
		if n := p.chainedSends(); n != 1 {
			t.Fatalf("%d batches sent chained behind an outstanding one, want 1 (sends %+v)", n, p.sends)
		}
		// The sizes are read from what was sent.
		p.mu.Lock()
		sent := len(p.sends[0].ids) + len(p.sends[1].ids)
		p.mu.Unlock()
		if st := l.Stats(); st.InFlight != sent {
			t.Errorf("InFlight = %d with two batches of %d events in flight", st.InFlight, sent)
		}
		close(first)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := l.Flush(ctx)
		switch {
		case exhaust && !errors.Is(err, logger.ErrOutcomeUnknown):
			t.Fatalf("Flush: %v, want the given-up head reported as %v", err, logger.ErrOutcomeUnknown)
		case !exhaust && err != nil:
			t.Fatal(err)
		}
		p.mu.Lock()
		head := len(p.sends[0].ids)
		p.mu.Unlock()
		want := ids
		if exhaust { // the head batch (after the warm-up event) given up
			want = slices.Concat(ids[:1], ids[1+head:])
		}
		if got := s.storedOnce(); !slices.Equal(got, want) {
			t.Fatalf("stored %v, want every event once in logged order %v", got, want)
		}
		st := l.Stats()
		// Both batches failed (the chained one behind the failed head):
		// each of their events was sent again, and counts as Retried once
		// for each time it was sent again.
		wantStored, wantFailed, wantRetried := uint64(31), uint64(2), uint64(sent)
		switch {
		case failAgain:
			wantFailed, wantRetried = 3, uint64(sent+head)
		case exhaust:
			// The head's one resend and then the second batch, sent
			// again after the head was given up.
			wantStored, wantFailed = uint64(31-head), 3
		}
		if st.Stored != wantStored || st.FailedBatches != wantFailed || st.Retried != wantRetried {
			t.Errorf("stats %+v, want %d stored, %d failed batches, %d retried", st, wantStored, wantFailed, wantRetried)
		}
		if gone := st.Dropped.RetriesExhausted + st.OutcomeUnknown; exhaust && gone != uint64(head) {
			t.Errorf("stats %+v: %d given up, want the head's %d", st, gone, head)
		}
		if p.most != 2 {
			t.Errorf("at most %d outstanding, want 2", p.most)
		}
	})
}

// TestPipelineDepthOne: WithPipelineDepth decides whether a Pipeliner gets
// a second call: 2, no option at all (-1 here: the default) and bad
// values (which select the default) do, 1 does not.
func TestPipelineDepthOne(t *testing.T) {
	for _, tc := range []struct {
		depth   int
		chained bool
	}{{1, false}, {2, true}, {7, true}, {0, true}, {-1, true}} {
		t.Run(fmt.Sprint(tc.depth), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				warm, release := make(chan struct{}), make(chan struct{})
				s := &fakeStore{respond: func(ctx context.Context, call int, _ []event.JobEvent) error {
					switch call {
					case 0: // a lone event, sent plain: holds the store while the 12 are logged
						<-warm
					case 1: // the first full batch, held while the next may be chained
						<-release
					}
					return nil
				}}
				p := &fakePipe{fakeStore: s, t: t}
				opts := []logger.Option{logger.WithBatchSize(5)}
				if tc.depth >= 0 {
					opts = append(opts, logger.WithPipelineDepth(tc.depth))
				}
				l := newLogger(t, p, opts...)
				if err := l.Log(event.Enqueued("job-warm", "q", 0)); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				for i := range 12 {
					if err := l.Log(event.Enqueued(fmt.Sprint("job-", i), "q", 0)); err != nil {
						t.Fatal(err)
					}
				}
				close(warm)
				synctest.Wait()
				if got := p.chainedSends() > 0; got != tc.chained {
					t.Errorf("depth %d: chained = %v, want %v", tc.depth, got, tc.chained)
				}
				close(release)
				closeOK(t, l)
				if got := len(s.storedOnce()); got != 13 {
					t.Errorf("stored %d of 13", got)
				}
			})
		})
	}
}

// TestPipelineOrderUnderFaults: a gap-fail Pipeliner that stores a prefix
// of a batch and fails the rest (certainly not stored, or of unknown
// outcome), stalls, or answers late: every event is stored once and the
// store's order is the logged order, stream-wide, with two calls in flight.
func TestPipelineOrderUnderFaults(t *testing.T) {
	chained := 0
	for seed := range uint64(60) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { chained += pipeOrderRun(t, seed) })
		})
	}
	if chained == 0 {
		t.Error("no batch was ever sent chained behind an outstanding one")
	}
	t.Logf("%d batches sent chained behind an outstanding one", chained)
}

func pipeOrderRun(t *testing.T, seed uint64) int {
	f := &faults{rng: rand.New(rand.NewPCG(seed, 17))}
	s := &fakeStore{}
	held := map[string]bool{}
	var hmu sync.Mutex
	s.respond = func(ctx context.Context, _ int, evs []event.JobEvent) error {
		k := f.intN(len(evs) + 1) // the prefix stored
		errs := make([]error, len(evs))
		mode := f.pick(50, 15, 15, 10, 10)
		if mode == 0 {
			return nil
		}
		hmu.Lock()
		defer hmu.Unlock()
		// Gap fail: the first k are stored, then nothing after the first
		// failure (an id stored by an earlier call stays stored: the
		// store de-duplicates it).
		for i := range evs {
			if i < k || held[evs[i].ID] {
				continue
			}
			switch mode {
			case 1:
				errs[i] = fmt.Errorf("after a gap: %w", logger.ErrNotSent)
			case 2, 4:
				errs[i] = errors.New("ack timeout") // unknown: not stored here
			case 3:
				hmu.Unlock()
				<-ctx.Done()
				hmu.Lock()
				errs[i] = ctx.Err()
			}
			for j := i + 1; j < len(evs); j++ {
				if !held[evs[j].ID] {
					errs[j] = fmt.Errorf("after a gap: %w", logger.ErrNotSent)
				}
			}
			break
		}
		for i := range evs {
			if errs[i] == nil {
				held[evs[i].ID] = true
			}
		}
		return &logger.BatchError{Errs: errs}
	}
	p := &fakePipe{fakeStore: s, t: t}
	l := newLogger(t, p, logger.WithPipelineDepth(2),
		logger.WithBatchSize(1+f.intN(8)),
		logger.WithMaxBufferSize(1000),
		logger.WithRetry(1000, time.Millisecond, 5*time.Millisecond),
		logger.WithCircuitBreaker(1000, time.Millisecond),
		logger.WithStoreTimeout(time.Duration(5+f.intN(50))*time.Millisecond))
	var ids []string
	for burst := range 5 + f.intN(10) {
		for i := range 1 + f.intN(20) {
			e := event.Enqueued(fmt.Sprintf("job-%d-%d", burst, i%3), "q", 0)
			ids = append(ids, e.ID)
			if err := l.Log(e); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Duration(f.intN(10)) * time.Millisecond)
	}
	closeOK(t, l)
	if got := s.storedOnce(); !slices.Equal(got, ids) {
		t.Fatalf("stored (first copies) %v\nwant every event once in logged order %v", got, ids)
	}
	return p.chainedSends()
}

// TestAccountingUnderRandomFaultsPipelined is the accounting property
// (accounting_test.go) with a Pipeliner: two calls in flight, faults in
// either, Close with a random deadline.
func TestAccountingUnderRandomFaultsPipelined(t *testing.T) {
	for seed := range uint64(150) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				accountingRun(t, seed, func(s *fakeStore) logger.Store { return &fakePipe{fakeStore: s, t: t} })
			})
		})
	}
}

// TestPipelinePartialSpillOfCallsInFlight: a spill write of the two calls
// in flight that puts some of their events on disk and fails the others
// (a *BatchError) must not leave those on disk in memory as well: when the
// calls fail and Close gives up the rest, an event in the spill is counted
// spilled, never passed to the drop handler (the flake of
// TestAccountingUnderRandomFaultsPipelined, seeds 17, 23, 117).
func TestPipelinePartialSpillOfCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &fakeStore{respond: func(ctx context.Context, _ int, _ []event.JobEvent) error {
			<-release
			return fmt.Errorf("no responders: %w", logger.ErrNotSent)
		}}
		p := &fakePipe{fakeStore: s, t: t}
		sp := &fakeSpill{t: t}
		var wmu sync.Mutex
		writes, partial := 0, 0
		sp.setWrite(func(_ context.Context, evs []event.JobEvent) error {
			wmu.Lock()
			defer wmu.Unlock()
			writes++
			if writes > 1 || len(evs) < 2 {
				return errors.New("disk full")
			}
			errs := make([]error, len(evs)) // all but the last on disk
			errs[len(evs)-1] = errors.New("disk full")
			partial = len(evs) - 1
			return &logger.BatchError{Errs: errs}
		})
		var mu sync.Mutex
		dropped := map[string]logger.DropReason{}
		// Batches of one: every call is a full batch, so even a lone event
		// goes out with SendBatch and the next is chained behind it.
		l := newLogger(t, p, logger.WithPipelineDepth(2), logger.WithBatchSize(1), logger.WithMaxBufferSize(8),
			logger.WithSpill(sp), logger.WithDropHandler(func(e event.JobEvent, r logger.DropReason) {
				mu.Lock()
				defer mu.Unlock()
				dropped[e.ID] = r
			}))
		log := func(i int) {
			if err := l.Log(ev(i)); err != nil {
				t.Fatal(err)
			}
		}
		log(0)
		eventually(t, "the head call", func() bool { return s.numCalls() == 1 })
		log(1)
		eventually(t, "a chained call", func() bool { return p.chainedSends() == 1 })
		for i := 2; i < 6; i++ { // the buffer's high-water mark: spill, the calls in flight first
			log(i)
		}
		synctest.Wait()
		wmu.Lock()
		got := partial
		wmu.Unlock()
		if got == 0 {
			t.Fatal("no partial spill write of the calls in flight")
		}
		close(release) // both calls fail, nothing stored
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = l.Close(ctx)

		st := l.Stats()
		onDisk := sp.ids()
		if len(onDisk) != got {
			t.Fatalf("spill holds %v, want the %d events written", onDisk, got)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range onDisk {
			if r, ok := dropped[id]; ok {
				t.Errorf("event %s is in the spill but was dropped (%v)", id, r)
			}
		}
		if st.Dropped.Closed != uint64(len(dropped)) || len(dropped)+len(onDisk) != 6 || st.Stored != 0 {
			t.Errorf("drop handler saw %d, spill holds %d of 6; stats %+v", len(dropped), len(onDisk), st)
		}
	})
}

// TestPipelineOnlyWhenBusy: a head call of a lone event with nothing
// queued behind it (a low rate) is sent with a plain StoreBatch, which
// answers sooner (no open fast batch to linger on); full batches go out
// pipelined.
func TestPipelineOnlyWhenBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release, release2 := make(chan struct{}), make(chan struct{})
		s := &fakeStore{respond: func(ctx context.Context, call int, _ []event.JobEvent) error {
			switch call {
			case 1: // a lone event, sent plain: holds the store while 9 are logged
				<-release
			case 2: // the first full batch: held while the next is chained behind it
				<-release2
			}
			return nil
		}}
		p := &fakePipe{fakeStore: s, t: t}
		l := newLogger(t, p, logger.WithBatchSize(4))
		if err := l.LogSync(t.Context(), ev(0)); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		lone := len(p.sends)
		p.mu.Unlock()
		if lone != 0 || s.numCalls() != 1 {
			t.Fatalf("a lone event: %d SendBatch calls, %d calls in all; want a plain StoreBatch", lone, s.numCalls())
		}
		// The next call hangs: what is logged meanwhile fills full batches,
		// which go out pipelined, the second chained behind the first.
		if err := l.Log(ev(1)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for i := 2; i < 11; i++ {
			if err := l.Log(ev(i)); err != nil {
				t.Fatal(err)
			}
		}
		close(release)
		synctest.Wait()
		if p.chainedSends() == 0 {
			t.Error("full batches were not pipelined")
		}
		close(release2)
		closeOK(t, l)
		if got := len(s.storedOnce()); got != 11 {
			t.Errorf("stored %d of 11", got)
		}
	})
}
