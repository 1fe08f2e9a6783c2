package loggerjs_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// The benchmarks run the logger over the JetStream store. By default the
// nats-server is embedded in the benchmark's own process (file storage, a
// temporary directory), so that plain `go test -bench` needs nothing else.
// That server shares the process's GC and scheduler with the client, while
// natscli's baseline publishes to a separate nats-server process; for a
// like-for-like comparison `make bench-logger` starts one nats-server
// process, runs natscli and these benchmarks against it in turn, and passes
// its URL in EnvNATSURL and natscli's figure in EnvBaseline, so that
// BenchmarkSustained512B can report the ratio ("x-natscli").

// EnvBaseline names the environment variable holding natscli's
// `nats bench js pub async --dedup --size=512B` figure, in msgs/s.
const EnvBaseline = "NAQ_BASELINE_MSGS_PER_SEC"

// EnvNATSURL names the environment variable holding the URL of an external
// nats-server for the benchmarks. When it is set they use that server
// instead of an embedded one: each benchmark run deletes the store's stream
// (jsstore.DefaultStream) first, so that it starts empty, and again at the
// end. Nothing else on that server is touched.
const EnvNATSURL = "NAQ_BENCH_NATS_URL"

// EnvReplicas names the environment variable holding the stream's replica
// count on an external server (a cluster: scripts/bench-logger.sh with
// NAQ_BENCH_SETUP=cluster3 sets 3). Unset: jsstore's default, 1.
const EnvReplicas = "NAQ_BENCH_REPLICAS"

// benchJobs is how many jobs (subjects per type) the sustained benchmarks
// spread events over, as natscli's --multisubject does.
const benchJobs = 100_000

// benchFixture is a server, a connection and a store for one benchmark.
type benchFixture struct {
	nc *nats.Conn
	st *jsstore.Store
}

func newBenchFixture(b *testing.B, opts ...jsstore.Option) benchFixture {
	b.Helper()
	url := os.Getenv(EnvNATSURL)
	if url == "" {
		url = startServer(b).ClientURL()
	} else {
		// An admin connection of its own, closed last (cleanups run in
		// reverse): the stream is deleted after the store and its
		// connection are closed.
		admin := connect(b, url)
		deleteBenchStream(b, admin)
		b.Cleanup(func() { deleteBenchStream(b, admin) })
		// Replicas apply to an external server only: the embedded one is
		// a single node, where more than one replica cannot be placed.
		if v := os.Getenv(EnvReplicas); v != "" {
			n, err := strconv.Atoi(v)
			require.NoError(b, err, "%s=%q", EnvReplicas, v)
			opts = append([]jsstore.Option{jsstore.WithReplicas(n)}, opts...)
		}
	}
	nc := connect(b, url)
	return benchFixture{nc: nc, st: newStore(b, nc, opts...)}
}

// deleteBenchStream deletes the store's stream on an external server, if
// it exists.
func deleteBenchStream(b *testing.B, nc *nats.Conn) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	if err := js.DeleteStream(ctx, jsstore.DefaultStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		require.NoError(b, err, "deleting stream %s on %s", jsstore.DefaultStream, nc.ConnectedUrlRedacted())
	}
}

// eventSource hands out copies of one 512-byte template event with ids and
// job ids made before the timer starts.
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
		s.jobs[i] = "job-" + strconv.Itoa(10000+i) // as long as the template's "job-00000"
	}
	return s
}

func (s *eventSource) event(i int) event.JobEvent {
	ev := s.tmpl
	ev.ID, ev.JobID = s.ids[i%len(s.ids)], s.jobs[i%len(s.jobs)]
	return ev
}

// reportRate reports events/s and, when the natscli figure is known, the
// ratio to it.
func reportRate(b *testing.B, n int) {
	rate := float64(n) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "events/s")
	if v, err := strconv.ParseFloat(os.Getenv(EnvBaseline), 64); err == nil && v > 0 {
		b.ReportMetric(rate/v, "x-natscli")
	}
}

// BenchmarkLog measures Log over the JetStream store: the caller's cost
// while the flusher publishes. Log outruns JetStream by two orders of
// magnitude, so most events overflow (DropOldest, the default): the drop
// path costs the same as the append path, and "stored/logged" says which
// share went through.
func BenchmarkLog(b *testing.B) {
	f := newBenchFixture(b)
	evs := logEvents()
	l := logger.New(f.st, logger.WithSlog(quiet))
	b.ReportAllocs()
	logLoop(b, l, evs)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	closeAndReport(b, l)
}

// BenchmarkLogParallel is BenchmarkLog from 8 goroutines.
func BenchmarkLogParallel(b *testing.B) {
	f := newBenchFixture(b)
	evs := logEvents()
	l := logger.New(f.st, logger.WithSlog(quiet))
	b.ReportAllocs()
	logParallel(b, l, evs)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	closeAndReport(b, l)
}

// logEvents returns 4096 typical events (an enqueued event with a queue,
// a worker and a tag), built before the timer starts. Log copies them, so
// the benchmarks cycle through them; the stream de-duplicates repeats.
func logEvents() []event.JobEvent {
	evs := make([]event.JobEvent, 4096)
	for i := range evs {
		evs[i] = event.Enqueued("job-"+strconv.Itoa(i), "default", 5)
	}
	return evs
}

// logLoop logs the events of evs (4096, from logEvents) in turn for b.Loop
// and stops the benchmark at the first error.
func logLoop(b *testing.B, l *logger.Logger, evs []event.JobEvent) {
	i := 0
	for b.Loop() {
		if err := l.Log(evs[i&4095]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// logParallel is logLoop from about 8 goroutines (never fewer than
// GOMAXPROCS).
func logParallel(b *testing.B, l *logger.Logger, evs []event.JobEvent) {
	b.SetParallelism(max(1, 8/runtimeProcs()))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := l.Log(evs[i&4095]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func closeAndReport(b *testing.B, l *logger.Logger) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(b, l.Close(ctx))
	if s := l.Stats(); s.Logged > 0 {
		b.ReportMetric(float64(s.Stored)/float64(s.Logged), "stored/logged")
	}
}

// BenchmarkSustained512B measures how many 512-byte events per second
// reach JetStream (acknowledged), b.N events in all:
//
//   - logger: the default options (batches of 2000 as JetStream fast-ingest
//     batches, pipelined: a second batch chained behind the one in flight,
//     in jsstore's open fast batch), LogCtx under the Block policy (the
//     producer waits for room, nothing is dropped), then Close, which
//     drains; every event stored.
//   - logger-pipe: the defaults with logger.WithPipelineDepth(2) said
//     explicitly (the default since 2026-12-02; kept so that older figures
//     can be compared).
//   - logger-depth1: the defaults with logger.WithPipelineDepth(1): one
//     batch in flight, each its own fast batch (the default before).
//   - logger-async: the same over a store with jsstore.PublishAsync (one
//     asynchronous publish per event, the write path before fast-ingest).
//   - logger-nomsgid: the same over a store with jsstore.WithoutMsgID (no
//     Nats-Msg-Id, so no server-side de-dup window).
//   - store-inflight1/2/4: no logger, a raw loop calling StoreBatch on
//     batches of 2000 with 1, 2 or 4 calls in flight: what more than one
//     batch in flight would give (the logger keeps one, for order).
//   - async-publish-batch500: what natscli's `bench js pub async --dedup
//     --batch=500` does, in this process: 500 asynchronous publishes with
//     Nats-Msg-Id, wait for their acks, repeat. The client's ceiling here.
//   - async-publish-window: the same without the barrier every 500: up
//     to 4096 acknowledgements pending at any time (pipelining).
//   - sync-publish-per-event: one awaited publish per event, the seed's
//     loop.
func BenchmarkSustained512B(b *testing.B) {
	for _, tc := range []struct {
		name  string
		opts  []logger.Option
		store []jsstore.Option
	}{
		{"logger", nil, nil},
		{"logger-async", nil, []jsstore.Option{jsstore.WithPublishMode(jsstore.PublishAsync)}},
		{"logger-pipe", []logger.Option{logger.WithPipelineDepth(2)}, nil},
		{"logger-depth1", []logger.Option{logger.WithPipelineDepth(1)}, nil},
		{"logger-nomsgid", nil, []jsstore.Option{jsstore.WithoutMsgID()}},
		{"logger-batch500", []logger.Option{logger.WithBatchSize(500), logger.WithMaxBufferSize(10_000)}, nil},
		{"logger-batch1000", []logger.Option{logger.WithBatchSize(1000), logger.WithMaxBufferSize(10_000)}, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newBenchFixture(b, tc.store...)
			src := newEventSource(b, b.N)
			l := logger.New(f.st, append([]logger.Option{logger.WithOverflow(logger.Block), logger.WithSlog(quiet)}, tc.opts...)...)
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
			reportRate(b, b.N)
			s := l.Stats()
			require.Equal(b, uint64(b.N), s.Stored)
			b.ReportMetric(float64(s.Stored)/float64(max(1, s.Batches)), "events/batch")
		})
	}
	for _, k := range []int{1, 2, 4} {
		b.Run("store-inflight"+strconv.Itoa(k), func(b *testing.B) { benchStoreInFlight(b, 2000, k) })
	}
	b.Run("async-publish-batch500", func(b *testing.B) { benchAsyncPublish(b, 0, 500) })
	b.Run("async-publish-window", func(b *testing.B) { benchAsyncPublish(b, 4096, 0) })
	b.Run("sync-publish-per-event", func(b *testing.B) {
		f := newBenchFixture(b)
		js, err := jetstream.New(f.nc)
		require.NoError(b, err)
		src := newEventSource(b, b.N)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			ev := src.event(i)
			doc, err := ev.AppendJSON(make([]byte, 0, 512))
			if err != nil {
				b.Fatal(err)
			}
			subj := "naq.events.dev.naq." + ev.JobID + "." + string(ev.Type)
			if _, err := js.Publish(ctx, subj, doc, jetstream.WithMsgID(ev.ID)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportRate(b, b.N)
	})
}

// ackClock is a Store decorator that notes when each event's batch was
// acknowledged, as latencies since the event was logged. It runs on the
// logger's store goroutine after StoreBatch returned, so it adds nothing to
// the latency it measures.
type ackClock struct {
	logger.Store
	index  map[string]int // event id → position in logged/latency
	logged []time.Time    // written before Log; the logger's lock orders it before the read
	mu     sync.Mutex
	lat    []time.Duration
}

func (c *ackClock) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	err := c.Store.StoreBatch(ctx, evs)
	if err != nil {
		return err
	}
	c.acked(evs)
	return nil
}

// pipedClock is ackClock forwarding SendBatch too, so that the logger
// pipelines through it (ackClock alone is no logger.Pipeliner: the
// logger keeps one call in flight through it).
type pipedClock struct {
	*ackClock
	p logger.Pipeliner
}

func (c pipedClock) SendBatch(ctx context.Context, evs []event.JobEvent, chained, more bool) func() error {
	wait := c.p.SendBatch(ctx, evs, chained, more)
	return func() error {
		err := wait()
		if err == nil {
			c.acked(evs)
		}
		return err
	}
}

// acked records the latency of evs, acknowledged now.
func (c *ackClock) acked(evs []event.JobEvent) {
	now := time.Now()
	c.mu.Lock()
	for i := range evs {
		if k, ok := c.index[evs[i].ID]; ok {
			c.lat = append(c.lat, now.Sub(c.logged[k]))
		}
	}
	c.mu.Unlock()
}

// BenchmarkLatency1k measures the time from Log to the store's
// acknowledgement at 1,000 events/s (one 512-byte event per millisecond,
// paced by a ticker), b.N events: p50, p99 and max, for three batch sizes
// (at this rate a batch rarely holds more than one event, so the batch size
// should not matter; the sub-benchmarks show it does not), each with one
// call in flight, and batch2000-pipelined with the logger's defaults
// pipelining through the clock (the service's set-up).
func BenchmarkLatency1k(b *testing.B) {
	for _, n := range []int{500, 1000, 2000} {
		b.Run("batch"+strconv.Itoa(n), func(b *testing.B) {
			benchLatency1k(b, false, logger.WithBatchSize(n))
		})
	}
	b.Run("batch2000-pipelined", func(b *testing.B) { benchLatency1k(b, true) })
}

// benchLatency1k runs the latency benchmark; piped lets the logger
// pipeline (its default) through the latency clock, else it keeps one call
// in flight.
func benchLatency1k(b *testing.B, piped bool, opts ...logger.Option) {
	f := newBenchFixture(b)
	src := newEventSource(b, b.N)
	c := &ackClock{Store: f.st, index: make(map[string]int, b.N), logged: make([]time.Time, b.N), lat: make([]time.Duration, 0, b.N)}
	for i, id := range src.ids {
		c.index[id] = i
	}
	var st logger.Store = c
	if piped {
		st = pipedClock{ackClock: c, p: f.st}
	}
	l := logger.New(st, append([]logger.Option{logger.WithSlog(quiet)}, opts...)...)
	b.ReportAllocs()
	b.ResetTimer()
	tick := time.NewTicker(time.Millisecond)
	for i := range b.N {
		<-tick.C
		c.logged[i] = time.Now()
		if err := l.Log(src.event(i)); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	require.NoError(b, l.Close(context.Background()))
	b.StopTimer()
	c.mu.Lock()
	lat := slices.Clone(c.lat)
	c.mu.Unlock()
	require.Len(b, lat, b.N)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchAsyncPublish publishes b.N events with a raw jetstream client:
// asynchronously with Nats-Msg-Id, at most maxPending acknowledgements
// outstanding (0: nats.go's default), waiting for every pending ack after
// each barrier publishes (0: only at the end).
func benchAsyncPublish(b *testing.B, maxPending, barrier int) {
	f := newBenchFixture(b)
	var opts []jetstream.JetStreamOpt
	if maxPending > 0 {
		opts = append(opts, jetstream.WithPublishAsyncMaxPending(maxPending))
	}
	js, err := jetstream.New(f.nc, opts...)
	require.NoError(b, err)
	src := newEventSource(b, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev := src.event(i)
		doc, err := ev.AppendJSON(make([]byte, 0, 512))
		if err != nil {
			b.Fatal(err)
		}
		subj := "naq.events.dev.naq." + ev.JobID + "." + string(ev.Type)
		if _, err := js.PublishAsync(subj, doc, jetstream.WithMsgID(ev.ID)); err != nil {
			b.Fatal(err)
		}
		if (barrier > 0 && (i+1)%barrier == 0) || i == b.N-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("acks still pending after a minute")
			}
		}
	}
	b.StopTimer()
	reportRate(b, b.N)
}

// benchStoreInFlight stores b.N events with StoreBatch on batches of size,
// at most inflight calls at once (each a fast-ingest batch of its own), no
// logger. With inflight > 1 batches interleave on the server, so it shows
// what pipelining batches would give, not something the logger may do as
// it is (a failed batch would land behind a newer one).
func benchStoreInFlight(b *testing.B, size, inflight int) {
	f := newBenchFixture(b)
	src := newEventSource(b, b.N)
	batches := make([][]event.JobEvent, 0, b.N/size+1)
	for i := 0; i < b.N; i += size {
		evs := make([]event.JobEvent, 0, min(size, b.N-i))
		for j := i; j < min(i+size, b.N); j++ {
			evs = append(evs, src.event(j))
		}
		batches = append(batches, evs)
	}
	ctx := context.Background()
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	var failed sync.Map
	b.ReportAllocs()
	b.ResetTimer()
	for _, evs := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f.st.StoreBatch(ctx, evs); err != nil {
				failed.Store(evs[0].ID, err)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	failed.Range(func(_, v any) bool { b.Fatal(v); return false })
	reportRate(b, b.N)
}
