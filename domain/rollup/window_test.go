package rollup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestWindowStableAtTheEdges: a 1 h or 24 h window made by Window counts
// exactly the events with timestamps in it, whatever second of the minute
// it is asked at, and the same before and after the keeper compacts (each
// minute, at its own second) — on a stream nobody writes to. A window of
// now−24h counted the minutes compacted into the hour that holds its start
// (about a minute of events more after each compaction).
func TestWindowStableAtTheEdges(t *testing.T) {
	base := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	// One event every 7 s from 27 h before base to 2 h after it, plus one
	// at each whole minute and one a nanosecond before it (the bucket
	// edges).
	var evs []event.JobEvent
	from, to := base.Add(-27*time.Hour), base.Add(2*time.Hour)
	for at := from; at.Before(to); at = at.Add(7 * time.Second) {
		evs = append(evs, event.New(fmt.Sprintf("j%d", len(evs)), event.TypeEnqueued, event.WithQueue("q"), event.WithTimestamp(at)))
	}
	for at := from; at.Before(to); at = at.Add(time.Minute) {
		evs = append(evs,
			event.New(fmt.Sprintf("j%d", len(evs)), event.TypeStarted, event.WithQueue("q"), event.WithTimestamp(at)),
			event.New(fmt.Sprintf("j%d", len(evs)+1), event.TypeCompleted, event.WithQueue("q"), event.WithTimestamp(at.Add(-time.Nanosecond))))
	}
	exact := func(since, until time.Time) int64 {
		var n int64
		for i := range evs {
			if ts := evs[i].Timestamp; !ts.Before(since) && ts.Before(until) {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name string
		now  time.Time // the first request; the second is at the minute's last instant
	}{
		{"on the hour", base},
		{"a second past the hour", base.Add(time.Second)},
		{"a nanosecond before the hour", base.Add(-time.Nanosecond)},
		{"mid-minute", base.Add(17*time.Minute + 29*time.Second)},
		{"half past", base.Add(30 * time.Minute)},
		{"a minute before the hour", base.Add(59 * time.Minute)},
		{"a nanosecond before a minute", base.Add(42*time.Minute - time.Nanosecond)},
	}
	ctx := context.Background()
	for _, tc := range cases {
		for _, span := range []time.Duration{time.Hour, 24 * time.Hour} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, span), func(t *testing.T) {
				r := New()
				for i := range evs {
					r.Apply(uint64(i+1), "dev", "naq", &evs[i])
				}
				// The keeper compacted a minute ago, at some second.
				r.Compact(tc.now.Add(-time.Minute + 13*time.Second))
				since, until := Window(tc.now, span)
				if !since.Equal(until.Add(-span)) || until.Sub(tc.now) <= 0 || until.Sub(tc.now) > time.Minute || until.Truncate(time.Minute) != until {
					t.Fatalf("Window(%s, %s) = [%s, %s): want the end of the minute and span before it", tc.now, span, since, until)
				}
				want := exact(since, until)
				first, err := r.Summary(ctx, Query{Since: since, Until: until})
				if err != nil {
					t.Fatal(err)
				}
				if first.Total != want || !first.Exact {
					t.Fatalf("total %d (exact %v), want %d exact", first.Total, first.Exact, want)
				}
				if !first.From.Equal(since) || !first.To.Equal(until) {
					t.Errorf("covers [%s, %s), want [%s, %s)", first.From, first.To, since, until)
				}
				// The keeper compacts again within the minute; a second
				// request at the minute's last instant asks the same.
				last := tc.now.Truncate(time.Minute).Add(time.Minute - time.Nanosecond)
				r.Compact(last)
				s2, u2 := Window(last, span)
				second, err := r.Summary(ctx, Query{Since: s2, Until: u2})
				if err != nil {
					t.Fatal(err)
				}
				if second.Total != first.Total || second.Counts[event.TypeStarted] != first.Counts[event.TypeStarted] {
					t.Errorf("second request in the minute: total %d, first %d", second.Total, first.Total)
				}
			})
		}
	}
}
