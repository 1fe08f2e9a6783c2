package rollup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestFailureRanges: the chunks that hold a group's failures within the
// window and scope, newest first, with the failed events of every group
// and queue they counted there.
func TestFailureRanges(t *testing.T) {
	r := New()
	fail := func(seq uint64, queue, msg string, at time.Time) {
		ev := event.Failed("j", "w", errors.New(msg), time.Second, 0, event.WithQueue(queue), event.WithTimestamp(at))
		ev.ErrorType = "E"
		r.Apply(seq, "dev", "naq", &ev)
	}
	fail(10, "a", "db timeout after 5 ms", t0)                           // chunk 0
	fail(11, "b", "disk full", t0)                                       // chunk 0, another group
	fail(ChunkSize+1, "a", "disk full", t0)                              // chunk 1: not the group
	fail(2*ChunkSize+5, "b", "db timeout after 7 ms", t0.Add(time.Hour)) // chunk 2, queue b
	fail(3*ChunkSize+5, "a", "db timeout after 9 ms", t0.Add(-time.Hour))
	r.Advance(3*ChunkSize + 9)
	ctx := context.Background()
	key := NormalizeMessage("db timeout after 5 ms")
	q := Query{Since: t0, Until: t0.Add(2 * time.Hour)}
	for _, tc := range []struct {
		name  string
		q     Query
		first []uint64
		fail  []int64
	}{
		{"window", q, []uint64{2 * ChunkSize, 1}, []int64{1, 2}},
		{"queue a", Query{Since: q.Since, Until: q.Until, Queue: "a"}, []uint64{1}, []int64{2}},
		{"no window", Query{}, []uint64{3 * ChunkSize, 2 * ChunkSize, 1}, []int64{1, 1, 2}},
		{"another service", Query{Service: "other"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, seq, err := r.FailureRanges(ctx, tc.q, "E", key)
			if err != nil || seq != 3*ChunkSize+9 {
				t.Fatalf("seq %d, err %v", seq, err)
			}
			if len(got) != len(tc.first) {
				t.Fatalf("ranges %+v, want firsts %v", got, tc.first)
			}
			for i, rg := range got {
				if rg.First != tc.first[i] || rg.Failed != tc.fail[i] || rg.Last < rg.First {
					t.Errorf("range %d %+v, want first %d with %d failed", i, rg, tc.first[i], tc.fail[i])
				}
			}
		})
	}
}
