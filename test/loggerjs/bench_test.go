package loggerjs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// benchJobs is how many jobs (subjects per type) the sustained benchmarks
// spread events over, as natscli's --multisubject does.
const benchJobs = 100_000

// eventSource hands out copies of one 512-byte template event with fresh
// ids and rotating job ids, made before the timer starts.
type eventSource struct {
	tmpl event.JobEvent
	ids  []string
	jobs []string
}

func newEventSource(b *testing.B, n int) *eventSource {
	b.Helper()
	s := &eventSource{tmpl: paddedEvent(b, 512), ids: make([]string, n), jobs: make([]string, min(n, benchJobs))}
	for i := range s.ids {
		s.ids[i] = event.NewID()
	}
	for i := range s.jobs {
		s.jobs[i] = "job-" + strconv.Itoa(10000+i) // same length as the template's job-00000
	}
	return s
}

func (s *eventSource) event(i int) event.JobEvent {
	ev := s.tmpl
	ev.ID, ev.JobID = s.ids[i], s.jobs[i%len(s.jobs)]
	return ev
}

func BenchmarkSustained512B(b *testing.B) {
	b.Run("logger", func(b *testing.B) {
		srv := startServer(b)
		nc := connect(b, srv.ClientURL())
		st := newStore(b, nc)
		src := newEventSource(b, b.N)
		l := logger.New(st, logger.WithOverflow(logger.Block), logger.WithSlog(quiet))
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := l.LogCtx(ctx, src.event(i)); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, l.Close(ctx))
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		s := l.Stats()
		require.Equal(b, uint64(b.N), s.Stored)
		b.ReportMetric(float64(s.Stored)/float64(max(1, s.Batches)), "events/batch")
	})
	b.Run("async-publish-500", func(b *testing.B) {
		srv := startServer(b)
		nc := connect(b, srv.ClientURL())
		newStore(b, nc)
		js, err := jetstream.New(nc)
		require.NoError(b, err)
		src := newEventSource(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		buf := make([]byte, 0, 600)
		for i := range b.N {
			ev := src.event(i)
			buf, _ = ev.AppendJSON(buf[:0])
			if _, err := js.PublishAsync("naq.events.dev.naq."+ev.JobID+".started", append([]byte(nil), buf...), jetstream.WithMsgID(ev.ID)); err != nil {
				b.Fatal(err)
			}
			if (i+1)%500 == 0 || i == b.N-1 {
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(10 * time.Second):
					b.Fatal("acks pending")
				}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("sync-publish-per-event", func(b *testing.B) {
		srv := startServer(b)
		nc := connect(b, srv.ClientURL())
		st := newStore(b, nc)
		src := newEventSource(b, b.N)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := st.Store(ctx, src.event(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	_ = jsstore.DefaultStream
}
