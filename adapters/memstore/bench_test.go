package memstore_test

import (
	"fmt"
	"testing"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
)

// BenchmarkStoreBatch stores batches of 100 fresh events into a store that
// keeps the newest 100k, so the steady state includes retention. Giving each
// event a new ID is part of the measured loop (one allocation per event).
func BenchmarkStoreBatch(b *testing.B) {
	ctx := b.Context()
	st := memstore.New(memstore.WithMaxEvents(100_000))
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	batch := make([]event.JobEvent, 100)
	for i := range batch {
		batch[i] = event.New(fmt.Sprintf("job-%d", i%10), event.TypeStarted, event.WithQueue("q"), event.WithWorker("w1", "thread"))
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			batch[i].ID = event.NewID()
		}
		if err := st.StoreBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkJob reads one job's 100 events out of 100k events over 1000 jobs.
func BenchmarkJob(b *testing.B) {
	ctx := b.Context()
	st := memstore.New()
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	const jobs, perJob = 1000, 100
	batch := make([]event.JobEvent, 0, jobs)
	for range perJob {
		batch = batch[:0]
		for j := range jobs {
			batch = append(batch, event.New(fmt.Sprintf("job-%d", j), event.TypeStarted))
		}
		if err := st.StoreBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		evs, err := st.Job(ctx, fmt.Sprintf("job-%d", n%jobs), event.Page{})
		if err != nil || len(evs) != perJob {
			b.Fatalf("Job = %d events, %v", len(evs), err)
		}
		n++
	}
	b.ReportMetric(float64(n*perJob)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCountByType counts one type's events among 100k: an index lookup.
func BenchmarkCountByType(b *testing.B) {
	ctx := b.Context()
	st := memstore.New(memstore.WithService("svc"))
	b.Cleanup(func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	})
	types := event.Types()
	batch := make([]event.JobEvent, 1000)
	for range 100 {
		for i := range batch {
			batch[i] = event.New(fmt.Sprintf("job-%d", i), types[i%len(types)])
		}
		if err := st.StoreBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	f := event.Filter{Environment: "dev", Service: "svc", Types: []event.JobEventType{event.TypeFailed}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Count(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}
