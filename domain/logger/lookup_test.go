package logger_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// dedupStore is a pure-logic store with a de-duplication window like
// JetStream's: a re-publish of an id within window of its first store is
// skipped, later it is stored again (a duplicate). It can lose the
// acknowledgement of a call that stored everything (loseAck), and
// implements logger.Lookup from what it holds. The same behaviour against
// a real nats-server is in test/loggerjs.
type dedupStore struct {
	mu        sync.Mutex
	window    time.Duration
	storedAt  map[string]time.Time
	stream    []string // every message stored, duplicates included
	loseAck   int      // calls that store but answer with an error
	lost      int      // events of those calls
	lookups   [][]string
	lookupErr error
}

func (s *dedupStore) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, e := range evs {
		if at, ok := s.storedAt[e.ID]; ok && now.Sub(at) < s.window {
			continue
		}
		s.storedAt[e.ID] = now
		s.stream = append(s.stream, e.ID)
	}
	if s.loseAck > 0 {
		s.loseAck--
		s.lost += len(evs)
		return errors.New("ack timeout") // stored, but the logger cannot know
	}
	return nil
}

func (s *dedupStore) Stored(_ context.Context, evs []event.JobEvent) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups = append(s.lookups, idsOf(evs))
	if s.lookupErr != nil {
		err := s.lookupErr
		s.lookupErr = nil
		return nil, err
	}
	found := make([]bool, len(evs))
	for i, e := range evs {
		_, found[i] = s.storedAt[e.ID]
	}
	return found, nil
}

func (s *dedupStore) DedupWindow() time.Duration { return s.window }

func (s *dedupStore) copies() (stream []string, lookups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stream), len(s.lookups)
}

var _ logger.Lookup = (*dedupStore)(nil)

// TestLookupBeforeRepublishBeyondWindow: issue 14, logger side. A batch
// stored whose acknowledgement was lost is retried after more than the
// store's window: without the lookup the store would hold it twice; with
// it the logger skips what is stored (FoundStored) and each event is in the
// stream once. Within the window no lookup is made.
func TestLookupBeforeRepublishBeyondWindow(t *testing.T) {
	for _, tt := range []struct {
		name        string
		backoff     time.Duration
		wantLookups bool
	}{
		{"retry within the window: no lookup, the store de-duplicates", 100 * time.Millisecond, false},
		{"retry beyond the window: looked up, skipped", 3 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &dedupStore{window: 2 * time.Second, storedAt: map[string]time.Time{}, loseAck: 1}
				l := newLogger(t, s, logger.WithRetry(5, tt.backoff, tt.backoff), logger.WithBatchSize(10))
				ids := logN(t, l, 5)
				if err := l.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				stream, lookups := s.copies()
				equalIDs(t, "stream", stream, ids)
				st := l.Stats()
				if st.Stored != 5 || (lookups > 0) != tt.wantLookups {
					t.Errorf("stored %d, %d lookups; want 5 stored, lookups %v", st.Stored, lookups, tt.wantLookups)
				}
				// The lost-ack call holds the first event and those logged
				// before the flusher took it (up to 5, by scheduling).
				s.mu.Lock()
				lost := s.lost
				s.mu.Unlock()
				if tt.wantLookups && (lost == 0 || st.FoundStored != uint64(lost)) {
					t.Errorf("FoundStored %d, want %d (the events of the lost-ack call)", st.FoundStored, lost)
				}
				closeOK(t, l)
			})
		})
	}
}

// TestLookupWithoutDedupWindow: a store that does not de-duplicate at all
// (DedupWindow 0, as jsstore without Nats-Msg-Id) stores a re-publish
// again whatever its age, so the logger must look up every event of
// unknown outcome before retrying it. On the first version of lookup.go a
// window of 0 switched lookups off and the stream held each event twice.
func TestLookupWithoutDedupWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &dedupStore{window: 0, storedAt: map[string]time.Time{}, loseAck: 1}
		l := newLogger(t, s, logger.WithRetry(5, 10*time.Millisecond, 10*time.Millisecond), logger.WithBatchSize(10))
		ids := logN(t, l, 5)
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		stream, lookups := s.copies()
		equalIDs(t, "stream: every event once", stream, ids)
		// The first call (the events queued when it started) lost its ack.
		if st := l.Stats(); lookups == 0 || st.Stored != 5 || st.FoundStored == 0 {
			t.Errorf("%d lookups, stats %+v; want lookups, 5 stored, FoundStored > 0", lookups, st)
		}
		closeOK(t, l)
	})
}

// TestLookupBeforeReplayBeyondWindow: spilled events (the ack of their
// first publish lost, then the spill) replayed after an outage of ten
// windows: the replay looks them up and skips those stored, so the stream
// holds every event exactly once, in logged order.
func TestLookupBeforeReplayBeyondWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &dedupStore{window: time.Second, storedAt: map[string]time.Time{}, loseAck: 1}
		healthy := make(chan struct{})
		store := &outageStore{dedupStore: s, healthy: healthy}
		sp := &fakeSpill{t: t}
		l := newLogger(t, store, logger.WithSpill(sp), logger.WithBatchSize(4),
			logger.WithRetry(2, 10*time.Millisecond, 10*time.Millisecond), logger.WithCircuitBreaker(100, 100*time.Millisecond))
		ids := logN(t, l, 4) // stored, ack lost; then the outage: spilled
		eventually(t, "spilled", func() bool { return l.Stats().SpillPending == 4 })
		ids = append(ids, logN(t, l, 3)...) // never sent: behind them, in memory or spilled
		time.Sleep(10 * time.Second)        // ten windows
		close(healthy)
		eventually(t, "replayed", func() bool { return l.Stats().SpillPending == 0 && l.Stats().BufferDepth == 0 })
		closeOK(t, l)
		stream, lookups := s.copies()
		equalIDs(t, "stream: every event once, in logged order", stream, ids)
		// The lost-ack call holds the first event, and those logged
		// before the flusher took it (up to 4, by scheduling).
		if st, n := l.Stats(), store.firstN.Load(); lookups == 0 || n == 0 || st.FoundStored != uint64(n) {
			t.Errorf("lookups %d, stats %+v; want FoundStored = %d (the events of the lost-ack call)", lookups, st, n)
		}
		// Only what was sent is looked up: the events spilled straight
		// from the queue were never published, and go out without one.
		s.mu.Lock()
		asked := slices.Concat(s.lookups...)
		s.mu.Unlock()
		sent := ids[:store.firstN.Load()]
		for _, id := range asked {
			if !slices.Contains(sent, id) {
				t.Errorf("looked up %s, which was never sent (sent: %v)", id, sent)
			}
		}
	})
}

// TestLookupBeforeReplayOfInheritedSpill: the events a Spill holds when
// the Logger opens it come from an earlier process whose publishes may
// have reached the store; beyond the window each is looked up before the
// replay, and the ones found stored are not published again.
func TestLookupBeforeReplayOfInheritedSpill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &dedupStore{window: time.Second, storedAt: map[string]time.Time{}}
		old := make([]event.JobEvent, 6)
		for i := range old {
			old[i] = event.New("job-inherited", event.TypeStarted)
		}
		// The earlier process stored the first half, then crashed before
		// it could remove them from its spill.
		if err := s.StoreBatch(context.Background(), old[:3]); err != nil {
			t.Fatal(err)
		}
		sp := &fakeSpill{t: t, evs: slices.Clone(old)}
		time.Sleep(10 * time.Second) // ten windows later, the next process starts
		l := newLogger(t, s, logger.WithSpill(sp), logger.WithBatchSize(4))
		eventually(t, "replayed", func() bool { return l.Stats().SpillPending == 0 })
		closeOK(t, l)
		stream, lookups := s.copies()
		equalIDs(t, "stream: every inherited event once", stream, idsOf(old))
		if st := l.Stats(); lookups == 0 || st.FoundStored != 3 {
			t.Errorf("lookups %d, stats %+v; want FoundStored = 3", lookups, st)
		}
	})
}

// outageStore fails (not sent) until healthy is closed, except for the
// dedupStore's lost-ack call which goes through first.
type outageStore struct {
	*dedupStore
	healthy chan struct{}
	first   sync.Once
	firstN  atomic.Int64 // events of the lost-ack call
}

func (o *outageStore) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	var err error
	done := false
	o.first.Do(func() { err, done = o.dedupStore.StoreBatch(ctx, evs), true; o.firstN.Store(int64(len(evs))) })
	if done {
		return err
	}
	select {
	case <-o.healthy:
		return o.dedupStore.StoreBatch(ctx, evs)
	default:
		return logger.ErrNotSent
	}
}

// TestLookupFailureIsNotAPublish: when the lookup fails, nothing was
// published, the batch is retried, and it is stored once.
func TestLookupFailureIsNotAPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &dedupStore{window: time.Second, storedAt: map[string]time.Time{}, loseAck: 1, lookupErr: errors.New("direct get: timeout")}
		l := newLogger(t, s, logger.WithRetry(5, 2*time.Second, 2*time.Second))
		ids := logN(t, l, 2)
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		stream, lookups := s.copies()
		equalIDs(t, "stream", stream, ids)
		if lookups != 2 {
			t.Errorf("%d lookups, want 2 (one failed, one answered)", lookups)
		}
		closeOK(t, l)
	})
}

// progressFailSpill is a Spill whose record of replay progress fails
// failConsume times after the batch function returned nil (as filestore's
// can on a full or failing disk): the batch, stored, is delivered again.
type progressFailSpill struct {
	mu          sync.Mutex
	evs         []event.JobEvent
	failConsume int
}

func (s *progressFailSpill) StoreBatch(_ context.Context, evs []event.JobEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, evs...)
	return nil
}

func (s *progressFailSpill) Replay(ctx context.Context, max int, fn func(context.Context, []event.JobEvent) error) error {
	for {
		s.mu.Lock()
		n := min(max, len(s.evs))
		b := slices.Clone(s.evs[:n])
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := fn(ctx, b); err != nil {
			return err
		}
		s.mu.Lock()
		if s.failConsume > 0 {
			s.failConsume--
			s.mu.Unlock()
			return errors.New("record progress: no space left on device")
		}
		s.evs = s.evs[n:]
		s.mu.Unlock()
	}
}

func (s *progressFailSpill) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.evs)
}

// TestReplayAgainAfterFailedProgressRecord: a replayed batch is stored,
// then the Spill fails to record that and delivers it again, for longer
// than the store's window. The batch is looked up and not stored twice,
// and Replayed counts each event once.
func TestReplayAgainAfterFailedProgressRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &dedupStore{window: 100 * time.Millisecond, storedAt: map[string]time.Time{}}
		down := &outageStore{dedupStore: s, healthy: make(chan struct{})}
		down.first.Do(func() {}) // no lost-ack call: down until healthy
		sp := &progressFailSpill{failConsume: 4}
		l := newLogger(t, down, logger.WithSpill(sp), logger.WithRetry(1, 50*time.Millisecond, time.Second),
			logger.WithBatchSize(4), logger.WithFlushInterval(time.Millisecond))
		ids := logN(t, l, 4)
		// The flusher may take the first batch before all four are
		// logged; the rest then wait in memory behind the spill.
		eventually(t, "spilled", func() bool { return sp.Pending() > 0 })
		close(down.healthy)
		eventually(t, "replayed", func() bool { return sp.Pending() == 0 && l.Stats().BufferDepth == 0 })
		closeOK(t, l)
		stream, lookups := s.copies()
		equalIDs(t, "stream: every event once", stream, ids)
		if st := l.Stats(); st.Spilled == 0 || st.Replayed != st.Spilled || lookups == 0 {
			t.Errorf("Spilled %d, Replayed %d (want each spilled event once), lookups %d (want some: the batch was stored long ago)",
				st.Spilled, st.Replayed, lookups)
		}
	})
}
