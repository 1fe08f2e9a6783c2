package filestore_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/domain/event"
)

// benchEvents returns n typical events (queue, worker, a detail, a tag)
// with fresh ids.
func benchEvents(n, jobs int) []event.JobEvent {
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.New(fmt.Sprintf("job-%d", i%jobs), event.TypeStarted,
			event.WithQueue("default"), event.WithWorker("worker-1", "async"),
			event.WithDetail("attempt", 1), event.WithTag("team", "core"))
	}
	return out
}

// BenchmarkStoreBatch appends batches of 100 events under each sync policy.
// Events are made (with fresh ids, so none is de-duplicated) outside the
// timer.
func BenchmarkStoreBatch(b *testing.B) {
	const batch, chunk = 100, 200
	for _, p := range []filestore.SyncPolicy{filestore.SyncAlways, filestore.SyncInterval(100e6), filestore.SyncNever} {
		b.Run(p.String(), func(b *testing.B) {
			st, err := filestore.Open(b.TempDir(), filestore.WithSync(p))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := st.Close(); err != nil {
					b.Error(err)
				}
			})
			ctx := b.Context()
			var pool []event.JobEvent
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%chunk == 0 {
					b.StopTimer()
					pool = benchEvents(batch*chunk, 1000)
					b.StartTimer()
				}
				k := (i % chunk) * batch
				if err := st.StoreBatch(ctx, pool[k:k+batch]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(st.Stats().Bytes)/float64(b.N*batch), "bytes/event")
		})
	}
}

// BenchmarkJob reads the full history (10 events) of a random job out of
// 10 000 jobs (100 000 events).
func BenchmarkJob(b *testing.B) {
	const jobs, perJob = 10_000, 10
	st, err := filestore.Open(b.TempDir(), filestore.WithSync(filestore.SyncNever))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	ctx := b.Context()
	evs := benchEvents(jobs*perJob, jobs)
	for i := 0; i < len(evs); i += 1000 {
		if err := st.StoreBatch(ctx, evs[i:i+1000]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		got, err := st.Job(ctx, fmt.Sprintf("job-%d", rand.IntN(jobs)), event.Page{})
		if err != nil || len(got) != perJob {
			b.Fatalf("Job: %d events, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.N*perJob)/b.Elapsed().Seconds(), "events/s")
}
