package jsstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

// TestCursorWalksInterleavedWithWrites (issue 10): cursor walks of List,
// ByType and Job while a writer stores more events, with at least one
// write landing between every two pages (a handshake, so the overlap is
// certain rather than left to the scheduler), never skip or repeat an
// event: each walk is exactly what the store holds up to the walk's last
// sequence, and it holds events written during the walk.
func TestCursorWalksInterleavedWithWrites(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	initial := events("hot", 40)
	require.NoError(t, f.st.StoreBatch(ctx, initial))
	before := map[string]bool{}
	for _, ev := range initial {
		before[ev.ID] = true
	}

	type walk struct {
		name string
		page func(after uint64) ([]uint64, []string, error) // seqs (0 when the read has none), ids
		all  func(before uint64) ([]string, error)
	}
	recs := func(filter event.Filter) func(uint64) ([]uint64, []string, error) {
		return func(after uint64) ([]uint64, []string, error) {
			rs, err := f.st.List(ctx, filter, event.Page{After: after, Limit: 7})
			var seqs []uint64
			var ids []string
			for _, r := range rs {
				seqs, ids = append(seqs, r.Seq), append(ids, r.Event.ID)
			}
			return seqs, ids, err
		}
	}
	listAll := func(filter event.Filter) func(uint64) ([]string, error) {
		return func(before uint64) ([]string, error) {
			rs, err := f.st.List(ctx, filter, event.Page{Before: before})
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.Event.ID)
			}
			return ids, err
		}
	}
	started := event.Filter{Types: []event.JobEventType{event.TypeStarted}}
	hot := event.Filter{JobID: "hot"}
	walks := []walk{
		{"List(all)", recs(event.Filter{}), listAll(event.Filter{})},
		{"List(type started)", recs(started), listAll(started)},
		{"List(job hot)", recs(hot), listAll(hot)},
	}
	// ByType and Job return events without sequences: walk them by the
	// sequences List gives for the same ids.
	seqOf := func(ids []string) ([]uint64, error) {
		rs, err := f.st.List(ctx, event.Filter{}, event.Page{})
		if err != nil {
			return nil, err
		}
		m := map[string]uint64{}
		for _, r := range rs {
			m[r.Event.ID] = r.Seq
		}
		out := make([]uint64, len(ids))
		for i, id := range ids {
			out[i] = m[id]
		}
		return out, nil
	}
	evIDs := func(evs []event.JobEvent) []string {
		out := make([]string, len(evs))
		for i := range evs {
			out[i] = evs[i].ID
		}
		return out
	}
	walks = append(walks,
		walk{"ByType(started)", func(after uint64) ([]uint64, []string, error) {
			evs, err := f.st.ByType(ctx, event.TypeStarted, event.Page{After: after, Limit: 7})
			if err != nil {
				return nil, nil, err
			}
			seqs, err := seqOf(evIDs(evs))
			return seqs, evIDs(evs), err
		}, listAll(started)},
		walk{"Job(hot)", func(after uint64) ([]uint64, []string, error) {
			evs, err := f.st.Job(ctx, "hot", event.Page{After: after, Limit: 7})
			if err != nil {
				return nil, nil, err
			}
			seqs, err := seqOf(evIDs(evs))
			return seqs, evIDs(evs), err
		}, listAll(hot)},
	)

	for _, w := range walks {
		t.Run(w.name, func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			wrote := make(chan struct{}) // one value per batch stored
			var wg sync.WaitGroup
			var werr error
			wg.Go(func() {
				defer close(wrote)
				for i := 0; ; i++ {
					if err := f.st.StoreBatch(wctx, events("hot", 3)); err != nil {
						if wctx.Err() == nil {
							werr = fmt.Errorf("batch %d: %w", i, err)
						}
						return
					}
					select {
					case wrote <- struct{}{}:
					case <-wctx.Done():
						return
					}
				}
			})
			var walked []string
			seen := map[string]bool{}
			after := uint64(0)
			for range 25 {
				seqs, ids, err := w.page(after)
				require.NoError(t, err)
				if len(ids) == 0 {
					break
				}
				for i, id := range ids {
					require.False(t, seen[id], "%s: event %s repeated", w.name, id)
					seen[id] = true
					require.Greater(t, seqs[i], after, "%s: page after %d returned seq %d", w.name, after, seqs[i])
				}
				walked = append(walked, ids...)
				after = seqs[len(seqs)-1]
				if _, ok := <-wrote; !ok { // a write lands before the next page
					break
				}
			}
			cancel()
			wg.Wait()
			require.NoError(t, werr)
			want, err := w.all(after + 1)
			require.NoError(t, err)
			assert.Equal(t, want, walked, "%s: the walk is the store's events up to its last sequence %d, none skipped or repeated", w.name, after)
			newer := 0
			for _, id := range walked {
				if !before[id] {
					newer++
				}
			}
			assert.Positive(t, newer, "%s: the walk holds events written during it", w.name)
		})
	}
}
