package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// testIdempotent: an event ID is stored once however often it is written.
func (s *suite) testIdempotent(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	evs := series("job1", "e", 5, lifecycle)
	storeAll(t, ctx, st, evs)
	storeAll(t, ctx, st, evs)
	if err := st.Store(ctx, evs[2]); err != nil {
		t.Fatalf("Store of an already stored event: %v", err)
	}
	twice := mk("job1", event.TypeFailed, "twice")
	storeAll(t, ctx, st, []event.JobEvent{twice, twice})
	want := append(evs[:5:5], twice)

	if n := mustCount(t, ctx, st, own(cfg)); n != len(want) {
		t.Errorf("Count = %d after storing %d distinct events several times, want %d", n, len(want), len(want))
	}
	checkIDs(t, "Job", ids(mustJob(t, ctx, st, "job1", event.Page{})), ids(want))
}

// invalidJobIDs are job ids every store must reject.
var invalidJobIDs = []string{"a.b", "*", ">", "a b", "", "tab\there", "a.>", strings.Repeat("x", event.MaxTokenLen+1)}

// checkInvalid fails t unless err wraps ErrInvalid and names value.
func checkInvalid(t *testing.T, what string, err error, value string) {
	t.Helper()
	switch {
	case !errors.Is(err, ports.ErrInvalid):
		t.Errorf("%s: got error %v, want one wrapping ErrInvalid", what, err)
	case value == "":
		if msg := strings.ToLower(err.Error()); !strings.Contains(msg, "empty") && !strings.Contains(msg, `""`) {
			t.Errorf("%s: error %q does not say the value is empty", what, err)
		}
	case len(value) > event.MaxTokenLen:
		// Too long to quote usefully; any message will do.
	case !strings.Contains(err.Error(), value) && !strings.Contains(err.Error(), fmt.Sprintf("%q", value)):
		t.Errorf("%s: error %q does not name the value %q", what, err, value)
	}
}

// testInvalid: malformed job ids, types, filters and pages are rejected by
// every method, with ErrInvalid and a message naming the value.
func (s *suite) testInvalid(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	good := series("a", "e", 3, lifecycle)
	storeAll(t, ctx, st, good)

	for _, bad := range invalidJobIDs {
		t.Run(fmt.Sprintf("job %q", trunc(bad)), func(t *testing.T) {
			checkInvalid(t, "Store", st.Store(ctx, event.New(bad, event.TypeEnqueued)), bad)
			checkInvalid(t, "StoreBatch", st.StoreBatch(ctx, []event.JobEvent{event.New(bad, event.TypeEnqueued)}), bad)
			_, err := st.Job(ctx, bad, event.Page{})
			checkInvalid(t, "Job", err, bad)
			_, err = st.DeleteJob(ctx, bad)
			checkInvalid(t, "DeleteJob", err, bad)
			if bad != "" { // an empty JobID in a filter means "any job"
				f := own(cfg)
				f.JobID = bad
				_, err = st.List(ctx, f, event.Page{})
				checkInvalid(t, "List", err, bad)
				_, err = st.Count(ctx, f)
				checkInvalid(t, "Count", err, bad)
				checkInvalid(t, "Stream", firstStreamErr(t, s, st, f), bad)
			}
		})
	}
	t.Run("type", func(t *testing.T) {
		const bogus = "bogus_type"
		checkInvalid(t, "Store", st.Store(ctx, event.New("a", bogus)), bogus)
		checkErr(t, "Store of an empty type", st.Store(ctx, event.New("a", "")), ports.ErrInvalid)
		_, err := st.ByType(ctx, bogus, event.Page{})
		checkInvalid(t, "ByType", err, bogus)
		f := own(cfg)
		f.Types = []event.JobEventType{event.TypeStarted, bogus}
		_, err = st.List(ctx, f, event.Page{})
		checkInvalid(t, "List", err, bogus)
		_, err = st.Count(ctx, f)
		checkInvalid(t, "Count", err, bogus)
		checkInvalid(t, "Stream", firstStreamErr(t, s, st, f), bogus)
	})
	t.Run("filter names", func(t *testing.T) {
		for _, f := range []event.Filter{
			{Environment: "*", Service: cfg.Service},
			{Environment: cfg.Environment, Service: ">"},
			{Environment: "a.b"},
			{Service: "a b"},
		} {
			bad := f.Environment
			if bad == cfg.Environment || bad == "" {
				bad = f.Service
			}
			_, err := st.List(ctx, f, event.Page{})
			checkInvalid(t, fmt.Sprintf("List(%+v)", f), err, bad)
			_, err = st.Count(ctx, f)
			checkInvalid(t, fmt.Sprintf("Count(%+v)", f), err, bad)
		}
	})
	t.Run("pages", func(t *testing.T) {
		for _, p := range []event.Page{{Limit: -1}, {Offset: -2}} {
			_, err := st.Job(ctx, "a", p)
			checkErr(t, fmt.Sprintf("Job page %+v", p), err, ports.ErrInvalid)
			_, err = st.ByType(ctx, event.TypeStarted, p)
			checkErr(t, fmt.Sprintf("ByType page %+v", p), err, ports.ErrInvalid)
			_, err = st.List(ctx, own(cfg), p)
			checkErr(t, fmt.Sprintf("List page %+v", p), err, ports.ErrInvalid)
		}
	})
	// Nothing invalid got in; job "a" is exactly its own events.
	checkIDs(t, "Job(a) after the invalid writes", ids(mustJob(t, ctx, st, "a", event.Page{})), ids(good))
	if n := mustCount(t, ctx, st, own(cfg)); n != len(good) {
		t.Errorf("Count = %d after invalid writes, want %d", n, len(good))
	}
}

func trunc(s string) string {
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}

// testPartialBatch: the valid events of a batch are stored, in order, and the
// BatchError marks exactly the invalid ones.
func (s *suite) testPartialBatch(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	g := series("job1", "good", 3, lifecycle)
	batch := []event.JobEvent{
		g[0],
		mk("job1.x", event.TypeStarted, "bad"),
		g[1],
		mk("job1", "no_such_type", "bad"),
		g[2],
		mk("*", event.TypeStarted, "bad"),
	}
	bad := map[int]string{1: "job1.x", 3: "no_such_type", 5: "*"}

	err := st.StoreBatch(ctx, batch)
	var be *logger.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("StoreBatch with invalid events = %v, want a *logger.BatchError", err)
	}
	checkErr(t, "StoreBatch", err, ports.ErrInvalid)
	if len(be.Errs) != len(batch) {
		t.Fatalf("BatchError has %d entries for a batch of %d: %v", len(be.Errs), len(batch), be)
	}
	for i, e := range be.Errs {
		value, isBad := bad[i]
		switch {
		case isBad:
			checkInvalid(t, fmt.Sprintf("BatchError.Errs[%d]", i), e, value)
		case e != nil:
			t.Errorf("BatchError.Errs[%d] = %v for a valid event, want nil", i, e)
		}
	}
	checkIDs(t, "Job(job1) after a partly invalid batch", ids(mustJob(t, ctx, st, "job1", event.Page{})), ids(g))
	if n := mustCount(t, ctx, st, own(cfg)); n != len(g) {
		t.Errorf("Count = %d, want %d", n, len(g))
	}
}

// testDeleteJob: DeleteJob removes one job's events and says how many.
func (s *suite) testDeleteJob(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	j1, j2, j3 := series("j1", "e", 5, lifecycle), series("j2", "e", 3, lifecycle), series("j3", "e", 4, lifecycle)
	for i := range 5 {
		for _, evs := range [][]event.JobEvent{j1, j2, j3} {
			if i < len(evs) {
				storeAll(t, ctx, st, evs[i:i+1])
			}
		}
	}

	n, err := st.DeleteJob(ctx, "j2")
	if err != nil || n != len(j2) {
		t.Fatalf("DeleteJob(j2) = %d, %v; want %d, nil", n, err, len(j2))
	}
	checkIDs(t, "Job(j2) after delete", ids(mustJob(t, ctx, st, "j2", event.Page{})), nil)
	checkIDs(t, "Job(j1) after deleting j2", ids(mustJob(t, ctx, st, "j1", event.Page{})), ids(j1))
	checkIDs(t, "Job(j3) after deleting j2", ids(mustJob(t, ctx, st, "j3", event.Page{})), ids(j3))
	if c := mustCount(t, ctx, st, own(cfg)); c != len(j1)+len(j3) {
		t.Errorf("Count after deleting j2 = %d, want %d", c, len(j1)+len(j3))
	}
	f := own(cfg)
	f.JobID = "j2"
	if c := mustCount(t, ctx, st, f); c != 0 {
		t.Errorf("Count(job j2) after delete = %d, want 0", c)
	}
	started, err := st.ByType(ctx, event.TypeStarted, event.Page{})
	if err != nil {
		t.Fatalf("ByType: %v", err)
	}
	checkIDs(t, "ByType(started) after deleting j2", ids(started), []string{j1[1].ID, j3[1].ID, j1[4].ID})

	for _, job := range []string{"j2", "never"} {
		if n, err := st.DeleteJob(ctx, job); n != 0 || err != nil {
			t.Errorf("DeleteJob(%s) of a job with no events = %d, %v; want 0, nil", job, n, err)
		}
	}
	again := series("j2", "again", 2, lifecycle)
	storeAll(t, ctx, st, again)
	checkIDs(t, "Job(j2) written again after delete", ids(mustJob(t, ctx, st, "j2", event.Page{})), ids(again))
}

// testRetentionByCount: with MaxEvents N the newest N events stay.
func (s *suite) testRetentionByCount(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	cfg.MaxEvents = 10
	st := s.open(t, cfg)

	evs := series("job1", "e", 25, lifecycle)
	for i := 0; i < 20; i += 5 {
		storeAll(t, ctx, st, evs[i:i+5])
	}
	for _, ev := range evs[20:] {
		if err := st.Store(ctx, ev); err != nil {
			t.Fatalf("Store: %v", err)
		}
	}
	var n int
	ok := poll(s.o.retentionTimeout, func() bool {
		if _, err := st.Cleanup(ctx); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		n = mustCount(t, ctx, st, own(cfg))
		if n < cfg.MaxEvents {
			t.Fatalf("Count = %d with MaxEvents %d after storing %d: kept too few", n, cfg.MaxEvents, len(evs))
		}
		return n == cfg.MaxEvents
	})
	if !ok {
		t.Fatalf("Count = %d after %v with MaxEvents %d, want %d", n, s.o.retentionTimeout, cfg.MaxEvents, cfg.MaxEvents)
	}
	want := ids(evs[len(evs)-cfg.MaxEvents:])
	checkIDs(t, "Job after retention by count", ids(mustJob(t, ctx, st, "job1", event.Page{})), want)
	checkIDs(t, "List after retention by count", recIDs(mustList(t, ctx, st, own(cfg), event.Page{})), want)
}

// testRetentionByAge: events older than MaxAge go away.
func (s *suite) testRetentionByAge(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	cfg.MaxAge = s.o.retentionAge
	st := s.open(t, cfg)

	evs := series("job1", "e", 5, lifecycle)
	start := time.Now()
	storeAll(t, ctx, st, evs)
	n := mustCount(t, ctx, st, own(cfg))
	if n != len(evs) && time.Since(start) < cfg.MaxAge/2 {
		t.Fatalf("Count = %d right after storing %d events with MaxAge %v, want %d", n, len(evs), cfg.MaxAge, len(evs))
	}
	removed := 0
	ok := poll(s.o.retentionTimeout, func() bool {
		r, err := st.Cleanup(ctx)
		if err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		if r < 0 {
			t.Fatalf("Cleanup removed %d events", r)
		}
		removed += r
		n = mustCount(t, ctx, st, own(cfg))
		return n == 0
	})
	if !ok {
		t.Fatalf("Count = %d %v after storing with MaxAge %v, want 0", n, time.Since(start), cfg.MaxAge)
	}
	if removed > len(evs) {
		t.Errorf("Cleanup reported %d removed events in all, but only %d were stored", removed, len(evs))
	}
	checkIDs(t, "Job after expiry", ids(mustJob(t, ctx, st, "job1", event.Page{})), nil)
}

// testConcurrentWriters: 8 writers × 200 events into 4 shared jobs.
func (s *suite) testConcurrentWriters(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	const writers, perWriter, jobs = 8, 200, 4
	type origin struct{ w, i int }
	written := make([][]event.JobEvent, writers)
	from := make(map[string]origin, writers*perWriter)
	for w := range writers {
		written[w] = make([]event.JobEvent, perWriter)
		for i := range perWriter {
			ev := mk(fmt.Sprintf("job%d", i%jobs), lifecycle[i%3], fmt.Sprintf("w%d-%d", w, i))
			written[w][i] = ev
			from[ev.ID] = origin{w, i}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			evs := written[w]
			for i := 0; i < len(evs); {
				size := min(1+(i+w)%9, len(evs)-i)
				var err error
				if size == 1 {
					err = st.Store(ctx, evs[i])
				} else {
					err = st.StoreBatch(ctx, evs[i:i+size])
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d at event %d: %w", w, i, err)
					return
				}
				i += size
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	if n := mustCount(t, ctx, st, own(cfg)); n != writers*perWriter {
		t.Errorf("Count = %d, want %d", n, writers*perWriter)
	}
	recs := mustList(t, ctx, st, own(cfg), event.Page{})
	checkRecords(t, "List", recs, ownedBy(cfg))
	if d := dupes(recIDs(recs)); len(d) > 0 {
		t.Errorf("List has %d duplicated events: %s", len(d), head(d))
	}
	seqs := make(map[uint64]bool, len(recs))
	for _, r := range recs {
		if seqs[r.Seq] {
			t.Errorf("Seq %d used twice", r.Seq)
		}
		seqs[r.Seq] = true
	}
	for j := range jobs {
		job := fmt.Sprintf("job%d", j)
		evs := mustJob(t, ctx, st, job, event.Page{})
		if len(evs) != writers*perWriter/jobs {
			t.Errorf("Job(%s) has %d events, want %d", job, len(evs), writers*perWriter/jobs)
		}
		last := make([]int, writers)
		for w := range last {
			last[w] = -1
		}
		for _, ev := range evs {
			o, ok := from[ev.ID]
			if !ok {
				t.Errorf("Job(%s) has an event nobody wrote: %s", job, ev.ID)
				continue
			}
			if o.i <= last[o.w] {
				t.Errorf("Job(%s): writer %d's event %d comes after its event %d", job, o.w, o.i, last[o.w])
			}
			last[o.w] = o.i
		}
	}
}
