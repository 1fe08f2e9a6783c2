package logger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// slowLookupStore is a dedupStore whose Stored costs perEvent of (fake)
// time for each event asked about, and gives up with ctx: a lookup of a
// whole replay batch on a busy server, where each event is a direct get.
type slowLookupStore struct {
	*dedupStore
	perEvent time.Duration
	largest  int // most events one Stored call asked about
}

func (s *slowLookupStore) Stored(ctx context.Context, evs []event.JobEvent) ([]bool, error) {
	s.mu.Lock()
	s.largest = max(s.largest, len(evs))
	s.mu.Unlock()
	select {
	case <-time.After(time.Duration(len(evs)) * s.perEvent):
		return s.dedupStore.Stored(ctx, evs)
	case <-ctx.Done():
		return nil, fmt.Errorf("direct get: %w", ctx.Err())
	}
}

// TestLookupOfALargeBatchMakesProgress: a replay of 2,000 inherited events
// beyond the window must look each up first, and the lookup of all of them
// takes longer than one store timeout (0.1 ms an event, 100 ms). Asked in
// one call, it timed out on every retry and the spill never drained; asked
// in chunks, each with its own timeout, it completes, and each event is in
// the stream once.
func TestLookupOfALargeBatchMakesProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &slowLookupStore{dedupStore: &dedupStore{window: time.Second, storedAt: map[string]time.Time{}}, perEvent: 100 * time.Microsecond}
		old := make([]event.JobEvent, 2000)
		for i := range old {
			old[i] = event.New(fmt.Sprintf("job-%d", i%50), event.TypeStarted)
		}
		// An earlier process stored every third event, then crashed
		// before removing any from its spill.
		stored := 0
		for i := 0; i < len(old); i += 3 {
			if err := s.StoreBatch(context.Background(), old[i:i+1]); err != nil {
				t.Fatal(err)
			}
			stored++
		}
		sp := &fakeSpill{t: t, evs: slices.Clone(old)}
		time.Sleep(10 * time.Second) // ten windows later, the next process starts
		l := newLogger(t, s, logger.WithSpill(sp), logger.WithBatchSize(2000), logger.WithStoreTimeout(100*time.Millisecond))
		eventually(t, "replayed", func() bool { return l.Stats().SpillPending == 0 })
		closeOK(t, l)
		stream, _ := s.copies()
		var want, rest []string
		for i, e := range old {
			if i%3 == 0 {
				want = append(want, e.ID) // stored by the earlier process
			} else {
				rest = append(rest, e.ID)
			}
		}
		equalIDs(t, "stream: every inherited event once", stream, append(want, rest...))
		if st := l.Stats(); st.FoundStored != uint64(stored) {
			t.Errorf("stats %+v; want FoundStored %d", st, stored)
		}
		if s.largest*int(s.perEvent) >= int(100*time.Millisecond) {
			t.Errorf("a lookup asked about %d events at once: more than one store timeout's worth", s.largest)
		}
	})
}

// TestLookupCoversEventsThatAgeDuringIt: an inherited event young enough
// to skip the lookup (stored 700 ms ago, window 1 s, lookups from 750 ms)
// shares a replay batch with 2,000 old ones that need one; the chunked
// lookups (8 × ~90 ms, each under the 100 ms store timeout) push the
// publish past the young event's window. It must be looked up too once it
// is that old, not published again: found by review, it was stored twice.
func TestLookupCoversEventsThatAgeDuringIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &slowLookupStore{dedupStore: &dedupStore{window: time.Second, storedAt: map[string]time.Time{}}, perEvent: 350 * time.Microsecond}
		old := make([]event.JobEvent, 0, 2001)
		for i := range 2000 {
			old = append(old, event.New(fmt.Sprintf("job-%d", i%50), event.TypeStarted, event.WithTimestamp(time.Now().Add(-10*time.Second))))
		}
		young := event.New("young", event.TypeStarted)
		if err := s.StoreBatch(context.Background(), []event.JobEvent{young}); err != nil {
			t.Fatal(err)
		}
		old = append(old, young)
		sp := &fakeSpill{t: t, evs: slices.Clone(old)}
		time.Sleep(700 * time.Millisecond)
		l := newLogger(t, s, logger.WithSpill(sp), logger.WithBatchSize(2001), logger.WithStoreTimeout(100*time.Millisecond))
		eventually(t, "replayed", func() bool { return l.Stats().SpillPending == 0 })
		closeOK(t, l)
		stream, _ := s.copies()
		n := 0
		for _, id := range stream {
			if id == young.ID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("young event stored %d times, want 1 (largest lookup %d)", n, s.largest)
		}
	})
}
