package rollup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// benchEvents is the realistic stream of the overview's benchmark: 1M
// events of 100k jobs (enqueued, dequeued, started, then completed or —
// one in ten — failed and retried: ten events a job on average) over 10
// queues and 50 workers, with timestamps spread evenly over the 24 h
// before benchNow, in stream order.
var (
	benchOnce    sync.Once
	benchRollups *Rollups
	benchNow     = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

const benchEventsN = 1_000_000

func benchFill(r *Rollups, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := benchNow.Add(-24 * time.Hour)
	step := 24 * time.Hour / time.Duration(n)
	errs := []struct{ typ, msg string }{
		{"TimeoutError", "db timeout after %d ms"},
		{"ConnectionError", "connection refused to 10.0.0.%d:5432"},
		{"ValueError", "invalid order id %d"},
		{"KeyError", "missing key 'user_%d'"},
	}
	types := []event.JobEventType{event.TypeEnqueued, event.TypeDequeued, event.TypeStarted}
	seq := uint64(0)
	for job := 0; seq < uint64(n); job++ {
		id := fmt.Sprintf("job-%d", job)
		q := fmt.Sprintf("queue-%d", job%10)
		w := fmt.Sprintf("worker-%d", rng.IntN(50))
		attempts := 1
		if rng.IntN(10) == 0 {
			attempts = 3
		}
		for a := 0; a < attempts && seq < uint64(n); a++ {
			for _, t := range types {
				if seq >= uint64(n) {
					break
				}
				seq++
				ev := event.JobEvent{JobID: id, Type: t, QueueName: q, Timestamp: start.Add(time.Duration(seq) * step)}
				if t != event.TypeEnqueued {
					ev.WorkerID = w
				}
				r.Apply(seq, "prod", "naq", &ev)
			}
			if seq >= uint64(n) {
				break
			}
			seq++
			d := rng.ExpFloat64() * 200
			ev := event.JobEvent{JobID: id, QueueName: q, WorkerID: w, DurationMS: &d, Timestamp: start.Add(time.Duration(seq) * step)}
			if attempts > 1 && a < attempts-1 {
				e := errs[rng.IntN(len(errs))]
				ev.Type, ev.ErrorType, ev.ErrorMessage = event.TypeFailed, e.typ, fmt.Sprintf(e.msg, rng.IntN(1000))
			} else {
				ev.Type = event.TypeCompleted
			}
			r.Apply(seq, "prod", "naq", &ev)
		}
	}
}

func benchState(b *testing.B) *Rollups {
	b.Helper()
	benchOnce.Do(func() {
		benchRollups = New()
		benchFill(benchRollups, benchEventsN, 42)
	})
	return benchRollups
}

// BenchmarkSummary measures the overview's queries on the 1M-event stream:
// go test -run '^$' -bench BenchmarkSummary -benchmem -count=6 ./rollup/
func BenchmarkSummary(b *testing.B) {
	r := benchState(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"1h", Query{Since: benchNow.Add(-time.Hour)}},
		{"24h", Query{Since: benchNow.Add(-24 * time.Hour)}},
		{"7d", Query{Since: benchNow.Add(-7 * 24 * time.Hour)}},
		{"all", Query{}},
		{"24h-queue", Query{Since: benchNow.Add(-24 * time.Hour), Queue: "queue-3"}},
	} {
		b.Run("bybucket-"+c.name, func(b *testing.B) {
			// The same query merged cell by cell: Summary before the hour tier.
			for b.Loop() {
				if _, err := r.summaryByBucket(ctx, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				s, err := r.Summary(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if s.Total == 0 {
					b.Fatal("empty summary")
				}
			}
		})
	}
}
