// Package reads holds the benchmarks of reads at the design's capacity
// (docs/performance.md, "Reads at scale"). They run under `make bench`
// only: `go test -run='^$' -bench=. ./reads/` from test/.
package reads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
)

// The reads data set: what `naq-events bench --keep --jobs 100000 --events
// 1000000` leaves in the stream, on 10 queues. Event k (0 ≤ k < 1,000,000)
// belongs to job k mod 100,000 and is that job's (k div 100,000)-th event,
// so that every job's ten events are spread over the whole stream (the
// worst case for a job's history) and every job's events follow its
// lifecycle. Events are stamped when written (event time ≈ store time), so
// time windows select a slice of the stream.
const (
	DatasetEvents = 1_000_000
	DatasetJobs   = 100_000
	DatasetQueues = 10
	datasetV      = "v1"
	// The stream's environment and service (the defaults).
	DatasetEnvironment = jsstore.DefaultEnvironment
	DatasetService     = jsstore.DefaultService
)

// datasetTypes is the lifecycle of every job, one type per round.
var datasetTypes = [...]event.JobEventType{
	event.TypeEnqueued, event.TypeDequeued, event.TypeWorkerAssigned, event.TypeStarted,
	event.TypeFailed, event.TypeRetryScheduled, event.TypeRetryStarted,
	event.TypeCompleted, event.TypeWorkerReleased, event.TypeTTLExtended,
}

// DatasetJob is the id of job j of the data set.
func DatasetJob(j int) string { return fmt.Sprintf("bench-reads-%06d", j) }

// DatasetQueue is the queue of job j.
func DatasetQueue(j int) string { return fmt.Sprintf("queue-%d", j%DatasetQueues) }

// datasetEvent is event k of the data set.
func datasetEvent(k int) event.JobEvent {
	j, round := k%DatasetJobs, k/DatasetJobs
	ev := event.New(DatasetJob(j), datasetTypes[round], event.WithQueue(DatasetQueue(j)),
		event.WithWorker(fmt.Sprintf("worker-%02d", j%40), "async"), event.WithDetail("seq", k))
	if ev.Type == event.TypeCompleted || ev.Type == event.TypeFailed {
		event.WithDuration(time.Duration(5+(j*7919)%2000) * time.Millisecond)(&ev)
	}
	return ev
}

// DatasetDir is where the data set's nats-server keeps its store: built
// once, kept between runs (NAQ_READS_BENCH_DIR, default
// $TMPDIR/naq-events-reads-1m-v1). Remove it to rebuild.
func DatasetDir() string {
	if d := os.Getenv("NAQ_READS_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "naq-events-reads-1m-"+datasetV)
}

// Dataset is the running data set: an embedded nats-server on
// DatasetDir holding it in stream jsstore.DefaultStream.
type Dataset struct {
	Server *natsembed.Server
	NC     *nats.Conn
	// First and Last are the store times of the first and last event.
	First, Last time.Time
	// DayEnd is, for the day variant, the end of the 24 h its event
	// times span (zero otherwise).
	DayEnd time.Time

	dir string
	day bool
}

// The day variant of the data set: the same events, but event k is
// stamped DayEnd − 24 h + k·86.4 ms, so the events are spread evenly over
// the 24 hours before the moment it was built (the overview's 24 h window
// then holds 1,440 minute buckets per queue), while they are stored within
// a couple of minutes. Kept in a directory of its own (NAQ_READS_DAY_DIR,
// default $TMPDIR/naq-events-reads-1m-day-v1).
const datasetDayV = "day-v1"

// DatasetDayDir is where the day variant's nats-server keeps its store.
func DatasetDayDir() string {
	if d := os.Getenv("NAQ_READS_DAY_DIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "naq-events-reads-1m-"+datasetDayV)
}

// DayStep is the event-time step of the day variant.
const DayStep = 24 * time.Hour / DatasetEvents

// OpenDataset starts an embedded nats-server on DatasetDir, builds the
// data set there unless it is already there, and returns it; the server
// and the connection close when tb ends. Other benchmarks of this package
// (the rollup ones) may call it to share the data set.
func OpenDataset(tb testing.TB) *Dataset {
	tb.Helper()
	return openDataset(tb, &Dataset{dir: DatasetDir()})
}

// OpenDayDataset is OpenDataset for the day variant (DatasetDayDir): its
// DayEnd is the end of the 24 hours its event times span. Measure it "as
// at" DayEnd (a clock running from there), so that a cached copy built
// days ago still has its events in the last 24 h.
func OpenDayDataset(tb testing.TB) *Dataset {
	tb.Helper()
	d := openDataset(tb, &Dataset{dir: DatasetDayDir(), day: true})
	js, err := jetstream.New(d.NC)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := js.Stream(context.Background(), jsstore.DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), DatasetEvents)
	if err != nil {
		tb.Fatalf("get the last message: %v", err)
	}
	ev, err := event.Decode(m.Data)
	if err != nil {
		tb.Fatalf("decode the last event: %v", err)
	}
	d.DayEnd = ev.Timestamp.Add(DayStep)
	return d
}

func openDataset(tb testing.TB, d *Dataset) *Dataset {
	tb.Helper()
	d.start(tb)
	tb.Cleanup(d.stop) // the server of the moment: Restart replaces it
	ctx := context.Background()
	st, err := jsstore.New(ctx, d.NC, jsstore.WithTimeout(time.Minute))
	if err != nil {
		tb.Fatalf("open the stream: %v", err)
	}
	defer func() { _ = st.Close() }()
	h, err := st.Health(ctx)
	if err != nil {
		tb.Fatalf("health: %v", err)
	}
	switch {
	case h.LastSeq == DatasetEvents && h.Detail["messages"] == uint64(DatasetEvents):
	case h.LastSeq != 0:
		tb.Fatalf("stream %q in %s holds %v events up to sequence %d, not the data set: remove the directory", st.StreamName(), d.dir, h.Detail["messages"], h.LastSeq)
	default:
		start := time.Now()
		dayStart := start.Add(-24 * time.Hour)
		batch := make([]event.JobEvent, 0, 2000)
		for k := range DatasetEvents {
			ev := datasetEvent(k)
			if d.day {
				ev.Timestamp = dayStart.Add(time.Duration(k) * DayStep)
			}
			batch = append(batch, ev)
			if len(batch) == cap(batch) {
				if err := st.StoreBatch(ctx, batch); err != nil {
					tb.Fatalf("store events up to %d: %v", k, err)
				}
				batch = batch[:0]
			}
		}
		tb.Logf("built the reads data set (%d events, %d jobs, %d queues, day variant %v) in %s, in %s",
			DatasetEvents, DatasetJobs, DatasetQueues, d.day, time.Since(start).Round(time.Second), d.dir)
	}
	d.First, d.Last = d.storedAt(tb, 1), d.storedAt(tb, DatasetEvents)
	return d
}

func (d *Dataset) start(tb testing.TB) {
	tb.Helper()
	srv, err := natsembed.Start(natsembed.WithStoreDir(d.dir), natsembed.WithPort(-1), natsembed.WithReadyTimeout(time.Minute))
	if err != nil {
		tb.Fatalf("start nats-server on %s: %v", d.dir, err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		tb.Fatalf("connect: %v", err)
	}
	d.Server, d.NC = srv, nc
}

func (d *Dataset) stop() {
	if d.NC != nil {
		d.NC.Close()
		d.Server.Shutdown()
		d.NC, d.Server = nil, nil
	}
}

// Restart stops the server and starts it again on the same directory: what
// `naq-events serve` restarting does to the server's caches. The new server
// lives until OpenDataset's tb ends, not only until tb (a sub-benchmark)
// ends, so later sub-benchmarks find it running.
func (d *Dataset) Restart(tb testing.TB) {
	tb.Helper()
	d.stop()
	d.start(tb)
}

// storedAt returns the store time of stream sequence seq.
func (d *Dataset) storedAt(tb testing.TB, seq uint64) time.Time {
	tb.Helper()
	js, err := jetstream.New(d.NC)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := js.Stream(context.Background(), jsstore.DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		tb.Fatalf("get message %d: %v", seq, err)
	}
	return m.Time
}
