package rollup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// tierStream is a random stream for the hour-tier tests: events over
// about 30 h before tierNow, mostly in time order but some up to 2 h late
// (so an hour's cells lie in many chunks), over 2 environments × 2
// services × 3 queues with bursts, 90 workers and 50 error messages (so cells reach
// MaxWorkersPerCell and MaxFailureGroups), with durations from below
// MinDurationMS to above MaxDurationMS. Every timestamp is distinct, so
// no answer depends on the order of ties.
func tierStream(rng *rand.Rand, n int, firstSeq uint64) []stored {
	base := tierNow.Add(-30 * time.Hour)
	types := event.Types()
	out := make([]stored, 0, n)
	for i := range n {
		seq := firstSeq + uint64(i)
		at := base.Add(time.Duration(float64(30*time.Hour) * float64(i) / float64(n))).Truncate(time.Second)
		if rng.IntN(10) == 0 {
			at = at.Add(-time.Duration(rng.IntN(7200)) * time.Second)
		}
		at = at.Add(time.Duration(seq % uint64(time.Second)))
		ev := event.JobEvent{
			JobID:     fmt.Sprintf("job-%d", rng.IntN(n/3+1)),
			Type:      types[rng.IntN(len(types))],
			QueueName: []string{"", "a", "b"}[rng.IntN(3)],
			Timestamp: at,
		}
		switch rng.IntN(4) {
		case 0:
			ev.Type = event.TypeCompleted
		case 1:
			ev.Type = event.TypeFailed
		}
		if rng.IntN(4) != 0 {
			ev.WorkerID = fmt.Sprintf("w%d", rng.IntN(90))
		}
		if ev.Type == event.TypeCompleted || ev.Type == event.TypeFailed {
			var d float64
			switch rng.IntN(20) {
			case 0:
				d = rng.Float64() * MinDurationMS
			case 1:
				d = 2 * MaxDurationMS
			default:
				d = rng.ExpFloat64() * 300
			}
			if rng.IntN(10) != 0 {
				ev.DurationMS = &d
			}
		}
		if ev.Type == event.TypeFailed {
			ev.ErrorType = []string{"TimeoutError", "ValueError", ""}[rng.IntN(3)]
			ev.ErrorMessage = fmt.Sprintf("failure kind %c after %d ms", 'A'+rune(rng.IntN(50)), rng.IntN(1000))
		}
		env, svc := []string{"dev", "prod"}[rng.IntN(2)], []string{"naq", "api"}[rng.IntN(2)]
		if i%8 == 0 {
			// A burst: one cell in three of the stream's hours gets an
			// eighth of the events, enough for every cap.
			env, svc, ev.QueueName = "dev", "naq", "a"
			ev.Timestamp = tierNow.Add(-time.Duration(5+10*rng.IntN(3))*time.Hour + time.Duration(seq))
		}
		out = append(out, stored{seq, env, svc, ev})
	}
	return out
}

var tierNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// randomQuery is a window that is often hour-aligned (so whole hours come
// from the tier), sometimes cut mid-hour or open, with random filters.
func randomQuery(rng *rand.Rand) Query {
	var q Query
	point := func() time.Time {
		t := tierNow.Add(-time.Duration(rng.IntN(33*3600)) * time.Second)
		switch rng.IntN(3) {
		case 0:
			return t.Truncate(time.Hour)
		case 1:
			return t.Truncate(time.Minute)
		}
		return t
	}
	if rng.IntN(5) != 0 {
		q.Since = point()
	}
	if rng.IntN(3) == 0 {
		q.Until = point()
		if !q.Since.IsZero() && q.Until.Before(q.Since) {
			q.Since, q.Until = q.Until, q.Since
		}
	}
	if rng.IntN(3) == 0 {
		q.Environment = []string{"dev", "prod", "none"}[rng.IntN(3)]
	}
	if rng.IntN(3) == 0 {
		q.Service = []string{"naq", "api"}[rng.IntN(2)]
	}
	if rng.IntN(3) == 0 {
		q.Queue = []string{"a", "b"}[rng.IntN(2)]
	}
	switch rng.IntN(4) {
	case 0:
		q.Types = []event.JobEventType{event.TypeCompleted}
	case 1:
		q.Types = []event.JobEventType{event.TypeFailed, event.TypeEnqueued}
	}
	return q
}

// checkTier runs random queries (each twice: building the tier, then
// reading it) and fails unless Summary equals the bucket-by-bucket answer
// field for field: counts, series, sketch quantiles, failure groups with
// their sparklines and jobs, queues, workers, interval and Exact.
func checkTier(t *testing.T, r *Rollups, rng *rand.Rand, what string, queries int) {
	t.Helper()
	ctx := context.Background()
	for i := range queries {
		q := randomQuery(rng)
		if i == 0 {
			q = Query{Since: tierNow.Add(-7 * 24 * time.Hour)}
		}
		want, err := r.summaryByBucket(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for pass := range 2 {
			got, err := r.Summary(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: query %+v (pass %d): tiered Summary differs from bucket by bucket:\n got  %+v\n want %+v",
					what, q, pass, brief(got), brief(want))
			}
		}
	}
}

func brief(s Summary) string {
	return fmt.Sprintf("total %d from %v to %v exact %v series %d failures %d workers %d durations %v counts %v",
		s.Total, s.From, s.To, s.Exact, len(s.Series), len(s.Failures), len(s.Workers), s.Durations, s.Counts)
}

// TestTierEqualsBuckets: for random windows and filters, Summary through
// the hour tier answers exactly what merging every cell answers, on a
// fresh state, after more events land in cached hours, after Compact,
// after a retention drop with the straddling chunk rebuilt, and after a
// chunk is rebuilt without some of its events (a purge).
func TestTierEqualsBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	evs := tierStream(rng, 6000, 1)
	r := New()
	feed(r, evs[:4500])
	checkTier(t, r, rng, "fresh", 16)
	if len(r.hours) == 0 {
		t.Fatal("no hour entries were built: the tier was not used")
	}

	feed(r, evs[4500:]) // lands in cached hours too (late events)
	checkTier(t, r, rng, "after more events", 10)

	r.Compact(tierNow.Add(-3 * time.Hour)) // hours older than 27 h ago become hour cells
	checkTier(t, r, rng, "after compact", 10)

	first := uint64(ChunkSize) // a chunk boundary: chunk 0 goes whole, nothing is rebuilt
	if n, rebuild := r.DropBefore(first); rebuild {
		b := r.Rebuild(n)
		from, last := r.Range(b)
		for _, e := range evs {
			if e.seq >= from && e.seq <= last {
				b.Apply(e.seq, e.env, e.svc, &e.ev)
			}
		}
		r.Replace(b, last)
	}
	checkTier(t, r, rng, "after retention drop", 10)

	n := chunkOf(4200)
	b := r.Rebuild(n)
	from, last := r.Range(b)
	for _, e := range evs {
		if e.seq >= from && e.seq <= last && e.seq%3 != 0 {
			b.Apply(e.seq, e.env, e.svc, &e.ev)
		}
	}
	r.Replace(b, last)
	checkTier(t, r, rng, "after purge rebuild", 10)

	// And against rollups that never had a tier: the same events, applied
	// from scratch, answer the same.
	fresh := New()
	fresh.DropBefore(first)
	for _, e := range evs {
		if e.seq >= first && (chunkOf(e.seq) != n || e.seq%3 != 0) {
			fresh.Apply(e.seq, e.env, e.svc, &e.ev)
		}
	}
	fresh.Compact(tierNow.Add(-3 * time.Hour))
	ctx := context.Background()
	for range 10 {
		q := randomQuery(rng)
		got, err := r.Summary(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := fresh.summaryByBucket(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != want.Total || !reflect.DeepEqual(got.Counts, want.Counts) || !reflect.DeepEqual(got.Durations, want.Durations) ||
			!reflect.DeepEqual(got.Series, want.Series) || !reflect.DeepEqual(got.Queues, want.Queues) {
			t.Fatalf("query %+v: tiered state %s, rebuilt from scratch %s", q, brief(got), brief(want))
		}
	}
}

// TestTierConcurrentReaders: Summaries from several goroutines while the
// writer applies events (run with -race); once the writer is done, the
// answer equals the bucket-by-bucket one.
func TestTierConcurrentReaders(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	evs := tierStream(rng, 6000, 1)
	r := New()
	feed(r, evs[:3000])
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := Query{Since: tierNow.Add(-time.Duration(10+g) * time.Hour)}
			for range 5 {
				if _, err := r.Summary(ctx, q); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 3000; i < len(evs); i++ {
		r.Apply(evs[i].seq, evs[i].env, evs[i].svc, &evs[i].ev)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkTier(t, r, rand.New(rand.NewPCG(1, 1)), "after concurrent reads", 8)
}

// TestTierStreamReachesCaps: the tier tests' stream has cells at
// MaxFailureGroups and MaxWorkersPerCell, so the tests cover the caps.
func TestTierStreamReachesCaps(t *testing.T) {
	r := New()
	feed(r, tierStream(rand.New(rand.NewPCG(7, 13)), 6000, 1))
	var groups, workers bool
	for _, c := range r.chunks {
		for _, cl := range c.cells {
			groups = groups || len(cl.failures) >= MaxFailureGroups
			workers = workers || len(cl.workers) == MaxWorkersPerCell
		}
	}
	if !groups || !workers {
		t.Fatalf("a cell at MaxFailureGroups: %v, at MaxWorkersPerCell: %v; want both", groups, workers)
	}
}
