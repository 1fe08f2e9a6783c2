package loggerjs_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// The Log hot path beside OpenTelemetry's sdk/log BatchProcessor.OnEmit,
// the best-known buffered emitter in Go: both copy the caller's record into
// a bounded in-memory queue that a background goroutine drains in batches,
// and both drop the oldest when it is full. Here both drain into a sink
// that discards (an exporter returning nil, a store returning nil), so that
// what is compared is the emit path; BenchmarkLog has Log over JetStream.

type discardExporter struct{}

func (discardExporter) Export(context.Context, []sdklog.Record) error { return nil }
func (discardExporter) Shutdown(context.Context) error                { return nil }
func (discardExporter) ForceFlush(context.Context) error              { return nil }

type discardStore struct{}

func (discardStore) StoreBatch(context.Context, []event.JobEvent) error { return nil }

// otelRecord is a log record carrying what an enqueued event carries: a
// body, a time, a severity and four attributes (job, type, queue, worker).
func otelRecord() sdklog.Record {
	var r sdklog.Record
	now := time.Now()
	r.SetTimestamp(now)
	r.SetObservedTimestamp(now)
	r.SetSeverity(otellog.SeverityInfo)
	r.SetBody(attribute.StringValue("job enqueued"))
	r.AddAttributes(
		attribute.String("job_id", "job-1234"),
		attribute.String("event_type", "enqueued"),
		attribute.String("queue", "default"),
		attribute.Int("priority", 5),
	)
	return r
}

func newOTelProcessor(b *testing.B) *sdklog.BatchProcessor {
	p := sdklog.NewBatchProcessor(discardExporter{})
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// BenchmarkOTelOnEmit is sdk/log's BatchProcessor.OnEmit from one goroutine.
func BenchmarkOTelOnEmit(b *testing.B) {
	p := newOTelProcessor(b)
	r := otelRecord()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.OnEmit(ctx, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOTelOnEmitParallel is BenchmarkOTelOnEmit from 8 goroutines.
func BenchmarkOTelOnEmitParallel(b *testing.B) {
	p := newOTelProcessor(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(max(1, 8/runtimeProcs()))
	b.RunParallel(func(pb *testing.PB) {
		r := otelRecord()
		for pb.Next() {
			if err := p.OnEmit(ctx, &r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLogDiscard is Log with a store that discards, the counterpart of
// BenchmarkOTelOnEmit.
func BenchmarkLogDiscard(b *testing.B) {
	evs := logEvents()
	l := logger.New(discardStore{}, logger.WithSlog(quiet))
	b.ReportAllocs()
	logLoop(b, l, evs)
	b.StopTimer()
	closeAndReport(b, l)
}

// BenchmarkLogDiscardParallel is BenchmarkLogDiscard from 8 goroutines.
func BenchmarkLogDiscardParallel(b *testing.B) {
	evs := logEvents()
	l := logger.New(discardStore{}, logger.WithSlog(quiet))
	b.ReportAllocs()
	logParallel(b, l, evs)
	b.StopTimer()
	closeAndReport(b, l)
}
