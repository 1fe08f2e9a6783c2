package reads

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// The reads at scale (docs/performance.md, "Reads at scale"), on the 1M
// data set of OpenDataset:
//
//	cd test && go test -run='^$' -bench=BenchmarkReads -benchtime=20x ./reads/
//
// Each sub-benchmark reports ms/op and, where the spread matters, p50-ms and
// p99-ms over its operations; a cold one's operation is coldSamples server
// restarts, each followed by one history read, and p50-ms and p99-ms are
// over those reads.

func openStore(b *testing.B, d *Dataset, opts ...jsstore.Option) *jsstore.Store {
	b.Helper()
	// A cold read on a loaded machine may take seconds: no 5 s default.
	st, err := jsstore.New(context.Background(), d.NC, append([]jsstore.Option{jsstore.WithTimeout(time.Minute)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// quantiles reports p50 and p99 of ds in milliseconds.
func quantiles(b *testing.B, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(time.Millisecond), "ms/op")
}

func BenchmarkReads(b *testing.B) {
	d := OpenDataset(b)
	ctx := context.Background()

	// A page far into the stream by cursor costs what it returns.
	b.Run("PageAt900kByCursor", func(b *testing.B) {
		st := openStore(b, d)
		for b.Loop() {
			recs, err := st.List(ctx, event.Filter{}, event.Page{After: 900_000, Limit: 100})
			if err != nil || len(recs) != 100 || recs[0].Seq != 900_001 {
				b.Fatalf("List after 900000: %d records, %v", len(recs), err)
			}
		}
		reportMS(b)
	})
	// Completed events are sequences 700,001 to 800,000.
	b.Run("TypePageAt750kByCursor", func(b *testing.B) {
		st := openStore(b, d)
		for b.Loop() {
			evs, err := st.ByType(ctx, event.TypeCompleted, event.Page{After: 750_000, Limit: 100})
			if err != nil || len(evs) != 100 {
				b.Fatalf("ByType(completed) after 750000: %d events, %v", len(evs), err)
			}
		}
		reportMS(b)
	})

	// A window of an hour's share of the design's 7-day stream (1/168 of
	// it, ~6,000 events), in the middle. The data set was written in
	// seconds, so the window is that share of its store-time span, and the
	// clock skew margin is cut to match (WithClockSkew).
	span := d.Last.Sub(d.First)
	hour := span / 168
	since := d.First.Add(span / 2)
	window := event.Filter{Since: since, Until: since.Add(hour)}
	b.Run("Window1hFirstPage", func(b *testing.B) {
		st := openStore(b, d, jsstore.WithClockSkew(hour/10))
		for b.Loop() {
			recs, err := st.List(ctx, window, event.Page{Limit: 100})
			if err != nil || len(recs) != 100 {
				b.Fatalf("List of the window: %d records, %v", len(recs), err)
			}
		}
		reportMS(b)
	})
	b.Run("Window1hAll", func(b *testing.B) {
		st := openStore(b, d, jsstore.WithClockSkew(hour/10), jsstore.WithMaxLateness(hour/10))
		n := 0
		for b.Loop() {
			recs, err := st.List(ctx, window, event.Page{})
			if err != nil || len(recs) < 1000 {
				b.Fatalf("List of the window: %d records, %v", len(recs), err)
			}
			n = len(recs)
		}
		b.ReportMetric(float64(n), "events")
		reportMS(b)
	})

	// Count by queue, before rollups: refused at once with what to add.
	b.Run("CountByQueueRefused", func(b *testing.B) {
		st := openStore(b, d)
		for b.Loop() {
			_, err := st.Count(ctx, event.Filter{Queue: DatasetQueue(3)})
			if se, ok := errors.AsType[*ports.ScanError](err); !ok {
				b.Fatalf("Count by queue = %v, want a *ports.ScanError", err)
			} else if b.N == 1 {
				b.Log(se.Describe())
			}
		}
		reportMS(b)
	})
	b.Run("CountByQueueInWindow", func(b *testing.B) {
		st := openStore(b, d, jsstore.WithClockSkew(hour/10), jsstore.WithMaxLateness(hour/10))
		f := window
		f.Queue = DatasetQueue(3)
		for b.Loop() {
			if n, err := st.Count(ctx, f); err != nil || n == 0 {
				b.Fatalf("Count by queue in the window = %d, %v", n, err)
			}
		}
		reportMS(b)
	})

	// Job histories: warm (the server has read the stream's blocks since it
	// started) and cold (the first read after the server restarted), with
	// batched and single direct gets, against the wildcard consumer
	// baseline.
	for _, v := range []struct {
		name string
		opts []jsstore.Option
	}{
		{"Batched", nil},
		{"Single", []jsstore.Option{jsstore.WithJobBatch(0)}},
	} {
		b.Run("JobHistoryWarm"+v.name, func(b *testing.B) {
			st := openStore(b, d, v.opts...)
			r := rand.New(rand.NewPCG(1, 2))
			for range 50 { // warm the server's caches
				readJob(b, st, r.IntN(DatasetJobs))
			}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				readJob(b, st, r.IntN(DatasetJobs))
				ds = append(ds, time.Since(start))
			}
			quantiles(b, ds)
			reportMS(b)
		})
		b.Run("JobHistoryCold"+v.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			var ds []time.Duration
			for b.Loop() {
				for range coldSamples {
					ds = append(ds, coldRead(b, d, r, false, &[]time.Duration{}, v.opts...))
				}
			}
			quantiles(b, ds)
		})
	}
	// Cold with the service's warm pass (jsstore.KeepIndexWarm): the first
	// read once the pass after the restart is done; warmup-ms is how long
	// the pass took.
	b.Run("JobHistoryColdKeptWarm", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		var ds, warm []time.Duration
		for b.Loop() {
			for range coldSamples {
				ds = append(ds, coldRead(b, d, r, true, &warm))
			}
		}
		quantiles(b, ds)
		slices.Sort(warm)
		b.ReportMetric(float64(warm[len(warm)/2])/float64(time.Millisecond), "warmup-ms")
	})
	b.Run("BaselineJobWildcardConsumer", func(b *testing.B) {
		js, err := jetstream.New(d.NC)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			cons, err := js.OrderedConsumer(ctx, jsstore.DefaultStream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{"naq.events.dev.naq." + DatasetJob(r.IntN(DatasetJobs)) + ".*"},
			})
			if err != nil {
				b.Fatal(err)
			}
			batch, err := cons.Fetch(len(datasetTypes), jetstream.FetchMaxWait(30*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for range batch.Messages() {
				got++
			}
			if got != len(datasetTypes) {
				b.Fatalf("wildcard consumer: %d events, want %d", got, len(datasetTypes))
			}
			_ = js.DeleteConsumer(ctx, jsstore.DefaultStream, cons.CachedInfo().Name)
			ds = append(ds, time.Since(start))
		}
		quantiles(b, ds)
		reportMS(b)
	})
}

// coldSamples is how many restarts one operation of a cold benchmark
// makes: an operation takes seconds, so the default -benchtime runs one.
const coldSamples = 5

// coldRead restarts the server, opens a store (with KeepIndexWarm and
// waiting for its first pass when warm is set, appending the pass's
// duration to passes) and returns how long the first history read took.
func coldRead(b *testing.B, d *Dataset, r *rand.Rand, warm bool, passes *[]time.Duration, opts ...jsstore.Option) time.Duration {
	b.Helper()
	d.Restart(b)
	st, err := jsstore.New(context.Background(), d.NC, append([]jsstore.Option{jsstore.WithTimeout(time.Minute)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if warm {
		st.KeepIndexWarm(0)
		deadline := time.Now().Add(time.Minute)
		for {
			if n, took := st.IndexWarmups(); n > 0 {
				*passes = append(*passes, took)
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no warm pass within a minute")
			}
			runtime.Gosched()
		}
	}
	start := time.Now()
	readJob(b, st, r.IntN(DatasetJobs))
	return time.Since(start)
}

// readJob reads job j's history and checks it is whole.
func readJob(b *testing.B, st *jsstore.Store, j int) {
	b.Helper()
	evs, err := st.Job(context.Background(), DatasetJob(j), event.Page{})
	if err != nil || len(evs) != len(datasetTypes) {
		b.Fatalf("Job(%s) = %d events, %v; want %d", DatasetJob(j), len(evs), err, len(datasetTypes))
	}
}
