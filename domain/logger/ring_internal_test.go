package logger

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/naq-go/events/domain/event"
)

// TestRingAgainstModel drives the ring with random pushes, pops, shifts
// and moves (wrapping around many times, full and not) and checks it
// against a plain slice after every step: same events in the same order,
// and every free slot zeroed (the ring must not keep a discarded event's
// maps alive).
func TestRingAgainstModel(t *testing.T) {
	for _, size := range []int{1, 2, 3, 7, 16} {
		rng := rand.New(rand.NewPCG(uint64(size), 1))
		q := newRing(size)
		var model []string
		next := 0
		mk := func() *event.JobEvent {
			next++
			return &event.JobEvent{ID: strconv.Itoa(next), Details: map[string]any{"n": next}}
		}
		for step := range 5000 {
			switch op := rng.IntN(4); {
			case op == 0 && q.n < size:
				ev := mk()
				q.push(ev)
				model = append(model, ev.ID)
			case op == 1 && q.n > 0:
				got := q.pop()
				if got.ID != model[0] {
					t.Fatalf("size %d step %d: pop = %s, want %s", size, step, got.ID, model[0])
				}
				model = model[1:]
			case op == 2 && q.n > 0:
				ev := mk()
				q.shift(ev)
				model = append(model[1:], ev.ID)
			case op == 3 && q.n > 0:
				k := 1 + rng.IntN(q.n)
				got := q.moveTo(nil, k)
				if ids := idsOfRing(got); !slices.Equal(ids, model[:k]) {
					t.Fatalf("size %d step %d: moveTo(%d) = %v, want %v", size, step, k, ids, model[:k])
				}
				model = model[k:]
			}
			if q.n != len(model) {
				t.Fatalf("size %d step %d: n = %d, want %d", size, step, q.n, len(model))
			}
			for i := range size {
				slot := (i - q.r + size) % size // position from the oldest
				if slot < q.n {
					if got := q.buf[i].ID; got != model[slot] {
						t.Fatalf("size %d step %d: slot %d = %q, want %q", size, step, i, got, model[slot])
					}
				} else if q.buf[i].ID != "" || q.buf[i].Details != nil {
					t.Fatalf("size %d step %d: free slot %d holds event %q", size, step, i, q.buf[i].ID)
				}
			}
		}
	}
}

func idsOfRing(evs []event.JobEvent) []string {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}
