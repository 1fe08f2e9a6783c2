package memstore_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
)

// TestAgainstModel runs random writes, duplicates, deletes and count
// retention against a plain slice and compares every query after each step,
// which exercises the indexes' dead-entry bookkeeping and compaction.
func TestAgainstModel(t *testing.T) {
	ctx := t.Context()
	const maxEvents = 60
	rng := rand.New(rand.NewPCG(1, 2))
	b := memstore.NewBackend()
	st := memstore.New(memstore.WithBackend(b), memstore.WithService("a"), memstore.WithMaxEvents(maxEvents))
	other := memstore.New(memstore.WithBackend(b), memstore.WithService("b"))
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	t.Cleanup(func() { require.NoError(t, other.Close()) })

	jobs := []string{"j0", "j1", "j2", "j3", "j4"}
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeFailed}
	var model []event.JobEvent // store a's retained events, in store order
	var stored []event.JobEvent

	for step := range 600 {
		switch op := rng.IntN(10); {
		case op < 6: // a batch, with some re-sent events
			batch := make([]event.JobEvent, 1+rng.IntN(8))
			for i := range batch {
				if len(stored) > 0 && rng.IntN(5) == 0 {
					batch[i] = stored[rng.IntN(len(stored))]
					continue
				}
				batch[i] = event.New(jobs[rng.IntN(len(jobs))], types[rng.IntN(len(types))])
				stored = append(stored, batch[i])
			}
			require.NoError(t, st.StoreBatch(ctx, batch))
			for _, ev := range batch {
				if !slices.ContainsFunc(model, func(m event.JobEvent) bool { return m.ID == ev.ID }) {
					model = append(model, ev)
				}
			}
			if len(model) > maxEvents {
				model = slices.Clone(model[len(model)-maxEvents:])
			}
		case op < 8: // noise in another service
			require.NoError(t, other.Store(ctx, event.New(jobs[rng.IntN(len(jobs))], types[rng.IntN(len(types))])))
		default:
			job := jobs[rng.IntN(len(jobs))]
			n, err := st.DeleteJob(ctx, job)
			require.NoError(t, err)
			before := len(model)
			model = slices.DeleteFunc(model, func(m event.JobEvent) bool { return m.JobID == job })
			require.Equal(t, before-len(model), n, "step %d: DeleteJob(%s)", step, job)
		}

		for _, job := range jobs {
			want := filter(model, func(e event.JobEvent) bool { return e.JobID == job })
			p := event.Page{Offset: rng.IntN(4), Limit: rng.IntN(5)}
			got, err := st.Job(ctx, job, p)
			require.NoError(t, err)
			require.Equal(t, window(want, p), idsOf(got), "step %d: Job(%s, %+v)", step, job, p)
		}
		for _, typ := range types {
			want := filter(model, func(e event.JobEvent) bool { return e.Type == typ })
			got, err := st.ByType(ctx, typ, event.Page{})
			require.NoError(t, err)
			require.Equal(t, window(want, event.Page{}), idsOf(got), "step %d: ByType(%s)", step, typ)
		}
		f := event.Filter{Environment: "dev", Service: "a", Types: []event.JobEventType{types[rng.IntN(4)], types[rng.IntN(4)]}}
		want := filter(model, func(e event.JobEvent) bool { return slices.Contains(f.Types, e.Type) })
		recs, err := st.List(ctx, f, event.Page{})
		require.NoError(t, err)
		got := make([]string, len(recs))
		for i, r := range recs {
			got[i] = r.Event.ID
		}
		require.Equal(t, window(want, event.Page{}), got, "step %d: List(%+v)", step, f)
		n, err := st.Count(ctx, event.Filter{Environment: "dev", Service: "a"})
		require.NoError(t, err)
		require.Equal(t, len(model), n, "step %d: Count", step)
	}
}

func filter(evs []event.JobEvent, keep func(event.JobEvent) bool) []event.JobEvent {
	var out []event.JobEvent
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func window(evs []event.JobEvent, p event.Page) []string {
	out := []string{}
	for i, e := range evs {
		if i >= p.Offset && (p.Limit == 0 || len(out) < p.Limit) {
			out = append(out, e.ID)
		}
	}
	return out
}
