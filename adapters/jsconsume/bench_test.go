package jsconsume_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/domain/subject"
)

// BenchmarkThroughput measures events/s through the processor with a no-op
// handler, over an embedded server holding b.N pre-published events.
//
//	go test -run '^$' -bench Throughput -benchtime 200000x ./jsconsume/
func BenchmarkThroughput(b *testing.B) {
	for _, conc := range []int{processor.DefaultMaxConcurrent, 64} {
		b.Run("concurrent="+strconv.Itoa(conc), func(b *testing.B) {
			h := newHarness(b)
			h.publishBulk(b.N)
			src := h.source(h.js, jsconsume.WithAckWait(30*time.Second))
			p := processor.New(src, processor.WithMaxConcurrent(conc), processor.WithSlog(testLogger(b)))
			_, err := p.HandleAll(func(context.Context, event.JobEvent) error { return nil })
			require.NoError(b, err)
			b.ReportAllocs()
			b.ResetTimer()
			require.NoError(b, p.Start(context.Background()))
			tick := time.NewTicker(100 * time.Microsecond)
			for p.Stats().Handled < uint64(b.N) {
				<-tick.C
			}
			tick.Stop()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			require.NoError(b, p.Stop(context.Background()))
		})
	}
}

// BenchmarkLatency measures publish→handler latency (event timestamp to
// handler call) at a steady rate: one event per 500 µs tick (the timer
// resolution of a loaded machine makes it ~1000–2000 events/s; the achieved
// rate is reported as events/s).
//
//	go test -run '^$' -bench Latency -benchtime 10000x ./jsconsume/
func BenchmarkLatency(b *testing.B) {
	h := newHarness(b)
	src := h.source(h.js, jsconsume.WithAckWait(30*time.Second))
	p := processor.New(src, processor.WithSlog(testLogger(b)))
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	done := make(chan struct{})
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		d := time.Since(e.Timestamp)
		mu.Lock()
		lat = append(lat, d)
		if len(lat) == b.N {
			close(done)
		}
		mu.Unlock()
		return nil
	})
	require.NoError(b, err)
	require.NoError(b, p.Start(context.Background()))
	defer func() { require.NoError(b, p.Stop(context.Background())) }()

	b.ReportAllocs()
	b.ResetTimer()
	tick := time.NewTicker(500 * time.Microsecond)
	defer tick.Stop()
	for i := range b.N {
		<-tick.C
		e := event.New("job-"+strconv.Itoa(i%100), event.TypeStarted)
		subj, _ := subject.ForEvent(env, svc, &e)
		data, _ := e.AppendJSON(nil)
		_, err := h.js.PublishAsync(subj, data, jetstream.WithMsgID(e.ID))
		require.NoError(b, err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatal("not every event reached the handler")
	}
	b.StopTimer()
	mu.Lock()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "max-ms")
	mu.Unlock()
}

// publishBulk stores n events with asynchronous publishes.
func (h *harness) publishBulk(n int) {
	h.t.Helper()
	const chunk = 5000
	for i := 0; i < n; i += chunk {
		h.publish(jobEvents(100, min(chunk, n-i))...)
	}
}
