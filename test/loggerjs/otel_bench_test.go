package loggerjs_test

import (
	"context"
	"strconv"
	"sync/atomic"
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

// The benchmarks above give each side what it would see in real use
// without making them alike: BenchmarkLogDiscard cycles through 4096
// events (each with its own id, job id and details map, as a worker's
// events are), while OnEmit re-emits one record that stays in the L1
// cache. The pairs below close that gap from both sides, so that the
// ratio can be read as the cost of the emit path, not of cache misses:
// Log of one event over and over, and OnEmit of 4096 records.

// BenchmarkLogDiscardOne is BenchmarkLogDiscard logging one event over and
// over (as BenchmarkOTelOnEmit emits one record).
func BenchmarkLogDiscardOne(b *testing.B) {
	ev := logEvents()[0]
	l := logger.New(discardStore{}, logger.WithSlog(quiet))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Log(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	closeAndReport(b, l)
}

// BenchmarkLogDiscardOneParallel is BenchmarkLogDiscardOne from 8
// goroutines, each with its own event.
func BenchmarkLogDiscardOneParallel(b *testing.B) {
	evs := logEvents()
	l := logger.New(discardStore{}, logger.WithSlog(quiet))
	b.ReportAllocs()
	b.SetParallelism(max(1, 8/runtimeProcs()))
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		ev := evs[next.Add(1)&4095]
		for pb.Next() {
			if err := l.Log(ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	closeAndReport(b, l)
}

// otelRecords returns 4096 records like otelRecord's, each with a job id
// of its own (the counterpart of logEvents).
func otelRecords() []sdklog.Record {
	rs := make([]sdklog.Record, 4096)
	for i := range rs {
		rs[i] = otelRecord()
		rs[i].AddAttributes(attribute.String("job_id", "job-"+strconv.Itoa(i)))
	}
	return rs
}

// BenchmarkOTelOnEmit4096 is BenchmarkOTelOnEmit cycling through 4096
// records (as BenchmarkLogDiscard cycles through 4096 events).
func BenchmarkOTelOnEmit4096(b *testing.B) {
	p := newOTelProcessor(b)
	rs := otelRecords()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := p.OnEmit(ctx, &rs[i&4095]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkValidateLogEvents is event.Validate alone on BenchmarkLog's
// 4096 events: the share of Log that OnEmit has no counterpart for (OTel
// checks nothing about a record's values).
func BenchmarkValidateLogEvents(b *testing.B) {
	evs := logEvents()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := evs[i&4095].Validate(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
