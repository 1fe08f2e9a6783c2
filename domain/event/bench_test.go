package event_test

import (
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// typicalEvent is the event the targets talk about: started, two tags,
// details, memory and cpu time — the design's "Message Format" example.
func typicalEvent() event.JobEvent {
	return event.Started("3f2b9c1e-8d4a-4c1e-9f00-1234567890ab", "worker-123", "async",
		event.WithQueue("default"),
		event.WithDetail("priority", 0), event.WithDetail("retry_count", 0),
		event.WithTag("department", "engineering"), event.WithTag("project", "naq"),
		event.WithMetadata("custom_field", "custom_value"),
		event.WithMemoryMB(45.2), event.WithCPUTime(12500*time.Microsecond))
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppendJSON(b *testing.B) {
	ev := typicalEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = ev.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
	reportRate(b)
}

func BenchmarkMarshalJSON(b *testing.B) {
	ev := typicalEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ev.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkDecode(b *testing.B) {
	ev := typicalEvent()
	doc, err := ev.AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Decode(doc); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

// BenchmarkDecodePython decodes the design's pretty-printed example without
// event_id, which adds deriving the id (an encode and a SHA-256).
func BenchmarkDecodePython(b *testing.B) {
	doc := []byte(`{"version": "1.0", "job_id": "3f2b9c1e-8d4a-4c1e-9f00-1234567890ab", "event_type": "started", "timestamp": 1634567890.123, "worker_id": "worker-123", "worker_type": "async", "queue_name": "default", "message": "Job started on async worker worker-123", "details": {"priority": 0, "retry_count": 0}, "error_type": null, "error_message": null, "duration_ms": null, "memory_mb": 45.2, "cpu_time_ms": 12.5, "tags": {"department": "engineering", "project": "naq"}, "metadata": {"custom_field": "custom_value"}}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Decode(doc); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = event.NewID()
	}
}

func BenchmarkNewIDParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = event.NewID()
		}
	})
}

func BenchmarkStartedConstructor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = event.Started("job-1", "worker-123", "async", event.WithTag("project", "naq"))
	}
	reportRate(b)
}

func BenchmarkValidate(b *testing.B) {
	ev := typicalEvent()
	b.ReportAllocs()
	for b.Loop() {
		if err := ev.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateDetails is Validate of an event as its constructor made it
// (its details checked by lookups of the known keys) and of the same event
// with details of other keys (checked by iterating the map): the price of
// the lookup path's miss.
func BenchmarkValidateDetails(b *testing.B) {
	for _, tc := range []struct {
		name    string
		details map[string]any
	}{
		{"constructor-details", map[string]any{"priority": 5}},
		{"other-details", map[string]any{"region": "eu"}},
		{"other-details-4", map[string]any{"region": "eu", "tenant": 42, "try": 1, "ratio": 0.5}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ev := event.Enqueued("job-42", "default", 5)
			ev.Details = tc.details
			b.ReportAllocs()
			for b.Loop() {
				if err := ev.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
