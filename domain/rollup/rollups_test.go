package rollup

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

type stored struct {
	seq      uint64
	env, svc string
	ev       event.JobEvent
}

// fixture: 3 queues; per job enqueued, dequeued, started, completed or
// failed; one event a second from t0.
func fixture(jobs int) []stored {
	var out []stored
	seq := uint64(0)
	add := func(ev event.JobEvent) {
		seq++
		out = append(out, stored{seq, "dev", "naq", ev})
	}
	for j := range jobs {
		q := fmt.Sprintf("q%d", j%3)
		id := fmt.Sprintf("job-%d", j)
		at := t0.Add(time.Duration(len(out)) * time.Second)
		add(event.New(id, event.TypeEnqueued, event.WithQueue(q), event.WithTimestamp(at)))
		add(event.New(id, event.TypeDequeued, event.WithQueue(q), event.WithWorker(fmt.Sprintf("w%d", j%4), "async"), event.WithTimestamp(at.Add(time.Second))))
		if j%5 == 0 {
			add(event.Failed(id, "w", fmt.Errorf("db timeout after %d ms", j), time.Duration(j)*time.Millisecond, 0,
				event.WithQueue(q), event.WithTimestamp(at.Add(2*time.Second))))
		} else {
			add(event.Completed(id, "w", time.Duration(j+1)*time.Millisecond, event.WithQueue(q), event.WithTimestamp(at.Add(2*time.Second))))
		}
	}
	return out
}

func feed(r *Rollups, evs []stored) {
	for i := range evs {
		r.Apply(evs[i].seq, evs[i].env, evs[i].svc, &evs[i].ev)
	}
}

func count(evs []stored, keep func(*stored) bool) map[event.JobEventType]int64 {
	m := map[event.JobEventType]int64{}
	for i := range evs {
		if keep(&evs[i]) {
			m[evs[i].ev.Type]++
		}
	}
	return m
}

func equalCounts(t *testing.T, what string, got, want map[event.JobEventType]int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: counts %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: counts %v, want %v", what, got, want)
		}
	}
}

func TestSummaryCountsQueuesFailures(t *testing.T) {
	evs := fixture(3000) // 9000 events: three chunks
	r := New()
	feed(r, evs)
	ctx := context.Background()
	s, err := r.Summary(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	equalCounts(t, "all", s.Counts, count(evs, func(*stored) bool { return true }))
	if s.Total != 9000 || s.Seq != 9000 || !s.Exact {
		t.Fatalf("total %d seq %d exact %v, want 9000 9000 true", s.Total, s.Seq, s.Exact)
	}
	if want := 600.0 / 3000; s.FailureRate != want {
		t.Errorf("failure rate %g, want %g", s.FailureRate, want)
	}
	if len(s.Failures) != 1 || s.Failures[0].Message != "db timeout after # ms" || s.Failures[0].Count != 600 {
		t.Fatalf("failures %+v, want one group of 600 'db timeout after # ms'", s.Failures)
	}
	if g := s.Failures[0]; len(g.Jobs) != SummaryJobs || g.Jobs[0] != "job-2995" || len(g.Spark) != len(s.Series) {
		t.Errorf("group jobs %v (want %d, newest job-2995 first), spark %d points for %d", g.Jobs, SummaryJobs, len(g.Spark), len(s.Series))
	}
	if len(s.Queues) != 3 || s.Queues[0].Name != "q0" || s.Queues[0].Depth != 0 {
		t.Errorf("queues %+v", s.Queues)
	}
	if len(s.Workers) != 5 || s.Workers[0].ID != "w" {
		t.Errorf("workers %+v, want w (newest), w0…w3", s.Workers)
	}
	// Durations of completed and failed: 1..3000 ms except multiples of 5 (j+1 for completed, j for failed).
	if d := s.Durations[""]; d.Count != 3000 || d.Max != 3000 {
		t.Errorf("durations %+v", d)
	}

	q1, err := r.Summary(ctx, Query{Queue: "q1", Types: []event.JobEventType{event.TypeCompleted}})
	if err != nil {
		t.Fatal(err)
	}
	equalCounts(t, "q1 completed", q1.Counts, count(evs, func(e *stored) bool {
		return e.ev.QueueName == "q1" && e.ev.Type == event.TypeCompleted
	}))
	if len(q1.Failures) != 0 {
		t.Errorf("failures listed for a query without the failed type: %+v", q1.Failures)
	}

	// A window on minute boundaries is exact; one inside a minute is not.
	since, until := t0.Add(10*time.Minute), t0.Add(70*time.Minute)
	w, _ := r.Summary(ctx, Query{Since: since, Until: until})
	equalCounts(t, "window", w.Counts, count(evs, func(e *stored) bool {
		return !e.ev.Timestamp.Before(since) && e.ev.Timestamp.Before(until)
	}))
	if !w.Exact || !w.From.Equal(since) || !w.To.Equal(until) {
		t.Errorf("window exact %v from %v to %v", w.Exact, w.From, w.To)
	}
	if w2, _ := r.Summary(ctx, Query{Since: since.Add(30 * time.Second)}); w2.Exact || !w2.From.Equal(since) {
		t.Errorf("a window cutting a minute: exact %v from %v, want false %v", w2.Exact, w2.From, since)
	}
	if _, err := r.Summary(ctx, Query{Types: []event.JobEventType{"nope"}}); !errors.Is(err, event.ErrInvalid) {
		t.Errorf("unknown type: %v, want ErrInvalid", err)
	}
}

// TestApplyIsIdempotentBySeq: replaying the stream, or a part of it, over
// the state changes nothing; so does a restored copy fed from its Seq.
func TestApplyIsIdempotentBySeq(t *testing.T) {
	evs := fixture(2000)
	r := New()
	feed(r, evs)
	feed(r, evs[1000:])
	feed(r, evs)
	ctx := context.Background()
	s, _ := r.Summary(ctx, Query{})
	if s.Total != int64(len(evs)) {
		t.Fatalf("total %d after replays, want %d", s.Total, len(evs))
	}

	// Persist half way, restore, feed the rest from the restored Seq.
	half := New()
	feed(half, evs[:3500])
	f, err := half.TakeFlush()
	if err != nil {
		t.Fatal(err)
	}
	h, err := DecodeHead(f.HeadDoc)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Restore(h, func(n uint64) ([]byte, bool, error) { b, ok := f.Chunks[n]; return b, ok, nil })
	if err != nil {
		t.Fatal(err)
	}
	if back.Seq() != 3500 {
		t.Fatalf("restored Seq %d, want 3500", back.Seq())
	}
	feed(back, evs) // from the start: everything ≤ 3500 is skipped
	got, _ := back.Summary(ctx, Query{})
	equalCounts(t, "restored", got.Counts, s.Counts)
	if got.Durations[""] != s.Durations[""] || len(got.Failures) != 1 || got.Failures[0].Count != s.Failures[0].Count {
		t.Errorf("restored durations %+v failures %+v, want %+v %+v", got.Durations[""], got.Failures, s.Durations[""], s.Failures)
	}

	// A chunk written by a writer that was behind lowers what the
	// restored state covers, so the tail fills it in.
	lagging := New()
	feed(lagging, evs[:4500])
	lf, _ := lagging.TakeFlush()
	mixed := map[uint64][]byte{0: lf.Chunks[0]}
	h2, _ := DecodeHead(lf.HeadDoc)
	old := New()
	feed(old, evs[:4200])
	of, _ := old.TakeFlush()
	mixed[1] = of.Chunks[1] // chunk 1 only through 4200
	r2, err := Restore(h2, func(n uint64) ([]byte, bool, error) { b, ok := mixed[n]; return b, ok, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r2.Seq() != 4200 {
		t.Fatalf("Seq %d with a lagging chunk, want 4200", r2.Seq())
	}
	feed(r2, evs)
	got2, _ := r2.Summary(ctx, Query{})
	equalCounts(t, "mixed", got2.Counts, s.Counts)
}

// TestDropBeforeAndRebuild: chunks below the stream's first sequence go;
// the straddling chunk and a chunk with a purged job are rebuilt from the
// live messages only, and the counts are exact again.
func TestDropBeforeAndRebuild(t *testing.T) {
	evs := fixture(4000) // 12000 events, chunks 0..2
	r := New()
	feed(r, evs)
	ctx := context.Background()
	first := uint64(5000)
	n, rebuild := r.DropBefore(first)
	if !rebuild || n != 1 {
		t.Fatalf("DropBefore(%d) = %d, %v; want chunk 1 to rebuild", first, n, rebuild)
	}
	purged := "job-3000" // in chunk 2
	b := r.Rebuild(n)
	from, last := r.Range(b)
	if from != first || last != 8191 {
		t.Fatalf("Range = [%d, %d], want [%d, 8191]", from, last, first)
	}
	for i := range evs {
		b.Apply(evs[i].seq, evs[i].env, evs[i].svc, &evs[i].ev)
	}
	r.Replace(b, last)
	b2 := r.Rebuild(2)
	_, last2 := r.Range(b2)
	for i := range evs {
		if evs[i].ev.JobID != purged {
			b2.Apply(evs[i].seq, evs[i].env, evs[i].svc, &evs[i].ev)
		}
	}
	r.Replace(b2, last2)
	s, _ := r.Summary(ctx, Query{})
	equalCounts(t, "after retention and purge", s.Counts, count(evs, func(e *stored) bool {
		return e.seq >= first && e.ev.JobID != purged
	}))
	var msgs int64
	for _, c := range r.Chunks() {
		msgs += c.Msgs
		if c.N == 0 {
			t.Errorf("chunk 0 is below the first sequence and must be gone")
		}
	}
	if msgs != s.Total {
		t.Errorf("chunk messages %d, total %d", msgs, s.Total)
	}
	f, _ := r.TakeFlush()
	if len(f.Gone) != 1 || f.Gone[0] != 0 {
		t.Errorf("flush gone %v, want [0]", f.Gone)
	}
}

// TestCompactKeepsCounts: minute buckets older than RecentWindow merge
// into hour buckets with the same counts and sketches.
func TestCompactKeepsCounts(t *testing.T) {
	evs := fixture(3000)
	r := New()
	feed(r, evs)
	ctx := context.Background()
	before, _ := r.Summary(ctx, Query{})
	r.Compact(t0.Add(RecentWindow + 4*time.Hour))
	after, _ := r.Summary(ctx, Query{})
	equalCounts(t, "compacted", after.Counts, before.Counts)
	if after.Durations[""] != before.Durations[""] {
		t.Errorf("durations %+v, want %+v", after.Durations[""], before.Durations[""])
	}
	for _, p := range after.Series {
		if p.Width != HourWidth {
			t.Fatalf("a point %v wide after compaction, want 1h", p.Width)
		}
	}
	if len(after.Series) >= len(before.Series) {
		t.Errorf("%d points after compaction, %d before", len(after.Series), len(before.Series))
	}
	if w, _ := r.Summary(ctx, Query{Since: t0.Add(10 * time.Minute)}); w.Exact {
		t.Error("a window inside an hour bucket must not be exact")
	}
}

func TestSkipAndAdvance(t *testing.T) {
	r := New()
	ev := event.New("j", event.TypeStarted, event.WithTimestamp(t0))
	r.Apply(1, "dev", "naq", &ev)
	r.Skip(2)
	r.Advance(10)
	if r.Seq() != 10 {
		t.Fatalf("Seq %d, want 10", r.Seq())
	}
	c := r.Chunks()
	if len(c) != 1 || c[0].Msgs != 2 || c[0].Seq != 10 {
		t.Fatalf("chunks %+v, want one with 2 messages covering through 10", c)
	}
	r.Apply(5, "dev", "naq", &ev) // covered: ignored
	if s, _ := r.Summary(context.Background(), Query{}); s.Total != 1 {
		t.Errorf("total %d, want 1", s.Total)
	}
}
