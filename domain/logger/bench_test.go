package logger_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// nopStore acknowledges every batch at once, so the benchmarks measure
// the logger, not a store.
type nopStore struct{}

func (nopStore) StoreBatch(context.Context, []event.JobEvent) error { return nil }

// benchEvent is built once: the benchmarks measure Log, not the
// constructor (which allocates the event's strings and maps).
var benchEvent = event.Enqueued("job-42", "default", 5)

func BenchmarkLog(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Log(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	reportAndClose(b, l)
}

func BenchmarkLogParallel(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	b.ReportAllocs()
	// RunParallel starts SetParallelism·GOMAXPROCS goroutines; ask for 8
	// in all whatever the machine.
	b.SetParallelism(max(1, 8/runtimeProcs()))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Log(benchEvent); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	reportAndClose(b, l)
}

// BenchmarkLogSync measures one acknowledged round trip through the
// flusher and the store goroutine with an instant store.
func BenchmarkLogSync(b *testing.B) {
	l := logger.New(nopStore{}, logger.WithSlog(slog.New(slog.DiscardHandler)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.LogSync(ctx, benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportAndClose(b, l)
}

// reportAndClose closes l and reports which share of the logged events
// the instant store took (the rest overflowed: Log outran the flusher).
func reportAndClose(b *testing.B, l *logger.Logger) {
	b.Helper()
	if err := l.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := l.Stats()
	if st.Logged > 0 {
		b.ReportMetric(float64(st.Stored)/float64(st.Logged), "stored/logged")
	}
}
