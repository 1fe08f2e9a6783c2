package jsstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
)

// The benchmark data set: NAQ_BENCH_EVENTS events (default 1,000,000), ten
// per job, written round by round so that each job's events lie far apart
// in the stream, as with many jobs running at once. It is built once per
// process in a temporary directory.

const eventsPerJob = 10

// bench is the data set, built by benchOnce; err is buildBench's failure,
// reported by every benchmark that asks for the data.
var (
	benchOnce sync.Once
	bench     struct {
		fix *benchFixture
		err error
	}
)

type benchFixture struct {
	srv  *natsembed.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	st   *jsstore.Store
	jobs int
}

func teardownBench() {
	if f := bench.fix; f != nil {
		_ = f.st.Close()
		f.nc.Close()
		f.srv.Shutdown()
	}
}

// jobTypes is the life of a bench job: ten events of ten types.
var jobTypes = [eventsPerJob]event.JobEventType{
	event.TypeEnqueued, event.TypeDequeued, event.TypeWorkerAssigned, event.TypeStarted,
	event.TypeFailed, event.TypeRetryScheduled, event.TypeRetryStarted, event.TypeStarted,
	event.TypeCompleted, event.TypeWorkerReleased,
}

func benchData(b *testing.B) *benchFixture {
	b.Helper()
	benchOnce.Do(func() { bench.fix, bench.err = buildBench() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.fix
}

func buildBench() (*benchFixture, error) {
	n := 1_000_000
	if v := os.Getenv("NAQ_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < eventsPerJob {
			return nil, fmt.Errorf("NAQ_BENCH_EVENTS=%q: want a number ≥ %d", v, eventsPerJob)
		}
	}
	srv, err := natsembed.Start()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	f := &benchFixture{srv: srv, nc: nc, jobs: n / eventsPerJob}
	if f.st, err = jsstore.New(context.Background(), nc, jsstore.WithMaxMsgs(0), jsstore.WithMaxBytes(0)); err != nil {
		return nil, err
	}
	if f.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192)); err != nil {
		return nil, err
	}
	start := time.Now()
	base := start.Add(-time.Hour)
	buf := make([]byte, 0, 512)
	for round := range eventsPerJob {
		for j := range f.jobs {
			ev := event.New(jobID(j), jobTypes[round],
				event.WithTimestamp(base.Add(time.Duration(round*f.jobs+j)*time.Microsecond)),
				event.WithWorker("worker-"+strconv.Itoa(j%64), "async"), event.WithQueue("default"),
				event.WithTag("project", "naq"))
			if buf, err = ev.AppendJSON(buf[:0]); err != nil {
				return nil, err
			}
			subj := "naq.events.dev.naq." + ev.JobID + "." + string(ev.Type)
			if _, err := f.js.PublishAsync(subj, append([]byte(nil), buf...), jetstream.WithStallWait(time.Minute)); err != nil {
				return nil, err
			}
		}
	}
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		return nil, fmt.Errorf("bench data set: acks still pending after 5 minutes")
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "bench data set: %d events over %d jobs stored in %v (%.0f events/s)\n",
		n, f.jobs, d.Round(time.Millisecond), float64(n)/d.Seconds())
	return f, nil
}

func jobID(j int) string { return "job-" + strconv.Itoa(j) }

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkJobHistory: Store.Job, a job's whole history (ten events) by
// batched direct gets on its 24 literal subjects.
func BenchmarkJobHistory(b *testing.B) {
	f := benchData(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		evs, err := f.st.Job(ctx, jobID(r.IntN(f.jobs)), event.Page{})
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != eventsPerJob {
			b.Fatalf("got %d events, want %d", len(evs), eventsPerJob)
		}
	}
	reportMS(b)
}

// BenchmarkCountByType: Store.Count of one type in one environment and
// service, from the server's subject index.
func BenchmarkCountByType(b *testing.B) {
	f := benchData(b)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t := jobTypes[i%len(jobTypes)]
		i++
		n, err := f.st.Count(ctx, event.Filter{Environment: "dev", Service: "naq", Types: []event.JobEventType{t}})
		if err != nil {
			b.Fatal(err)
		}
		if n < f.jobs {
			b.Fatalf("count of %s is %d, want ≥ %d", t, n, f.jobs)
		}
	}
	reportMS(b)
}

// BenchmarkBaselineJobWildcardDirectGet: the same history read as one
// batched direct get on the wildcard filter "…{job}.*".
func BenchmarkBaselineJobWildcardDirectGet(b *testing.B) {
	f := benchData(b)
	r := rand.New(rand.NewPCG(1, 2))
	inbox := nats.NewInbox()
	sub, err := f.nc.SubscribeSync(inbox)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sub.Unsubscribe(); err != nil {
			b.Error(err)
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := json.Marshal(map[string]any{"next_by_subj": "naq.events.dev.naq." + jobID(r.IntN(f.jobs)) + ".*", "batch": 100})
		if err := f.nc.PublishRequest("$JS.API.DIRECT.GET."+jsstore.DefaultStream, inbox, req); err != nil {
			b.Fatal(err)
		}
		got := 0
		for {
			m, err := sub.NextMsg(10 * time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if m.Header.Get("Status") != "" {
				break
			}
			got++
		}
		if got != eventsPerJob {
			b.Fatalf("got %d events, want %d", got, eventsPerJob)
		}
	}
	reportMS(b)
}

// BenchmarkBaselineJobOrderedConsumer: the same history read with an
// ordered consumer on "…{job}.*", a consumer per query.
func BenchmarkBaselineJobOrderedConsumer(b *testing.B) {
	f := benchData(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cons, err := f.js.OrderedConsumer(ctx, jsstore.DefaultStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"naq.events.dev.naq." + jobID(r.IntN(f.jobs)) + ".*"},
		})
		if err != nil {
			b.Fatal(err)
		}
		batch, err := cons.Fetch(eventsPerJob, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		got := 0
		for range batch.Messages() {
			got++
		}
		if got != eventsPerJob {
			b.Fatalf("got %d events, want %d", got, eventsPerJob)
		}
		if err := f.js.DeleteConsumer(ctx, jsstore.DefaultStream, cons.CachedInfo().Name); err != nil {
			b.Fatal(err)
		}
	}
	reportMS(b)
}

// BenchmarkJobHistorySingleGets: Store.Job with single-message direct gets
// (no batch, so no pending count on the server; a round trip per event).
func BenchmarkJobHistorySingleGets(b *testing.B) {
	f := benchData(b)
	jsstore.SetJobBatch(f.st, 0)
	defer jsstore.SetJobBatch(f.st, 1024)
	BenchmarkJobHistory(b)
}

// BenchmarkCountByTypeDirectGet: Store.Count from the Nats-Num-Pending
// header of a one-message batched direct get instead of a consumer.
func BenchmarkCountByTypeDirectGet(b *testing.B) {
	f := benchData(b)
	jsstore.SetCountByDirectGet(f.st, true)
	defer jsstore.SetCountByDirectGet(f.st, false)
	BenchmarkCountByType(b)
}
