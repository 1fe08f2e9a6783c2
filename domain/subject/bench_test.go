package subject_test

import (
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

const benchJobID = "0b6f0e2c-3c1e-4a53-9a0e-2f1d1f5f6a10"

func BenchmarkFor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := subject.For("prod", "billing", benchJobID, event.TypeCompleted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
}

func BenchmarkAppendFor(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, subject.MaxLen)
	var err error
	for b.Loop() {
		if buf, err = subject.AppendFor(buf[:0], "prod", "billing", benchJobID, event.TypeCompleted); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	s := "naq.events.prod.billing." + benchJobID + ".completed"
	for b.Loop() {
		if _, err := subject.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "subjects/s")
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	filter := "naq.events.prod.billing." + benchJobID + ".*"
	s := "naq.events.prod.billing." + benchJobID + ".completed"
	for b.Loop() {
		if !subject.Match(filter, s) {
			b.Fatal("no match")
		}
	}
}
