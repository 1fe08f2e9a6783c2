package rollups

import (
	"context"
	"fmt"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// StoreSource reads any ports.Store for a Keeper through cursor pages
// (event.Page After/Before), for memory and file storage. It has no
// pending counts: the keeper follows deletes by comparing the total.
type StoreSource struct{ Store ports.Store }

var _ Source = StoreSource{}

// readPage is how many records one List call of Read takes.
const readPage = 4096

// State returns the store's first and last sequence and how many events
// it holds.
func (s StoreSource) State(ctx context.Context) (jsrollup.StreamState, error) {
	h, err := s.Store.Health(ctx)
	if err != nil {
		return jsrollup.StreamState{}, fmt.Errorf("store health: %w", err)
	}
	first, err := s.Store.List(ctx, event.Filter{}, event.Page{Limit: 1})
	if err != nil {
		return jsrollup.StreamState{}, fmt.Errorf("store first record: %w", err)
	}
	st := jsrollup.StreamState{First: h.LastSeq + 1, Last: h.LastSeq}
	if len(first) == 1 {
		st.First = first[0].Seq
	}
	n, err := s.Store.Count(ctx, event.Filter{})
	if err != nil {
		return jsrollup.StreamState{}, fmt.Errorf("store count: %w", err)
	}
	st.Msgs = uint64(n)
	return st, nil
}

// Read calls fn for each stored event with sequence in [from, through].
func (s StoreSource) Read(ctx context.Context, from, through uint64, fn func(jsrollup.Msg) bool) (uint64, error) {
	var last uint64
	after := max(from, 1) - 1
	for after < through {
		recs, err := s.Store.List(ctx, event.Filter{}, event.Page{After: after, Before: through + 1, Limit: readPage})
		if err != nil {
			return last, fmt.Errorf("read the store after sequence %d: %w", after, err)
		}
		for i := range recs {
			rec := &recs[i]
			last = rec.Seq
			if !fn(jsrollup.Msg{Seq: rec.Seq, Environment: rec.Environment, Service: rec.Service, Event: &rec.Event}) {
				return last, nil
			}
		}
		if len(recs) < readPage {
			break
		}
		after = last
	}
	return last, nil
}
