package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

type item struct {
	rec event.Record
	err error
}

// receiver ranges over a stream in its own goroutine and hands the test what
// it yields. The test's cleanup stops and waits for the goroutine.
type receiver struct {
	items  chan item
	done   chan struct{} // closed when the range loop has ended
	cancel context.CancelFunc
	wait   time.Duration
}

// startStream starts ranging over st.Stream(f, so); receiver.cancel cancels
// the stream's context.
func (s *suite) startStream(t *testing.T, st ports.Store, f event.Filter, so event.StreamOptions) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	r := &receiver{items: make(chan item), done: make(chan struct{}), cancel: cancel, wait: s.o.waitTimeout}
	go func() {
		defer close(r.done)
		for rec, err := range st.Stream(ctx, f, so) {
			select {
			case r.items <- item{rec, err}:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		close(stop)
		timer := time.NewTimer(s.o.waitTimeout)
		defer timer.Stop()
		select {
		case <-r.done:
		case <-timer.C:
			t.Errorf("Stream(%+v, %+v) did not end within %v of its context being cancelled", f, so, s.o.waitTimeout)
		}
	})
	return r
}

// within waits up to d for the next item; ended reports that the stream is
// over.
func (r *receiver) within(d time.Duration) (it item, got, ended bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case it := <-r.items:
		return it, true, false
	case <-r.done:
		return item{}, false, true
	case <-timer.C:
		return item{}, false, false
	}
}

// next returns the next item or false when the stream has ended; it fails the
// test after the wait timeout.
func (r *receiver) next(t *testing.T) (item, bool) {
	t.Helper()
	it, got, ended := r.within(r.wait)
	if !got && !ended {
		t.Fatalf("nothing from the stream within %v", r.wait)
	}
	return it, got
}

// record returns the next record, failing on an error or the end.
func (r *receiver) record(t *testing.T) event.Record {
	t.Helper()
	it, ok := r.next(t)
	switch {
	case !ok:
		t.Fatalf("the stream ended early")
	case it.err != nil:
		t.Fatalf("the stream yielded an error: %v", it.err)
	}
	return it.rec
}

// until returns the records before the one with id end, leaving out skip.
func (r *receiver) until(t *testing.T, end string, skip map[string]bool) []event.Record {
	t.Helper()
	var out []event.Record
	for {
		rec := r.record(t)
		if rec.Event.ID == end {
			return out
		}
		if !skip[rec.Event.ID] {
			out = append(out, rec)
		}
	}
}

// quiet is how long started watches a fresh stream for events it must not
// deliver before writing its first marker. It only makes the check sharper;
// nothing depends on the stream having started within it.
const quiet = 20 * time.Millisecond

// started writes markers (events the stream's filter matches) until the
// stream delivers one: from then on it has started, so every matching event
// written afterwards must arrive. It returns the ids of all markers written;
// those after the first may still arrive and should be skipped.
func (s *suite) started(t *testing.T, st ports.Store, r *receiver, marker func(i int) event.JobEvent) map[string]bool {
	t.Helper()
	// Anything arriving before the first marker was stored before the
	// stream started (or is not ours).
	switch it, got, ended := r.within(quiet); {
	case ended:
		t.Fatalf("the stream ended before delivering anything")
	case got && it.err != nil:
		t.Fatalf("the stream yielded an error before its first record: %v", it.err)
	case got:
		t.Fatalf("the stream delivered %s, stored before it started", label(it.rec.Event.ID))
	}
	markers := map[string]bool{}
	deadline := time.Now().Add(s.o.waitTimeout)
	wait := 5 * time.Millisecond
	for i := 0; ; i++ {
		m := marker(i)
		markers[m.ID] = true
		if err := st.Store(t.Context(), m); err != nil {
			t.Fatalf("Store of marker: %v", err)
		}
		it, got, ended := r.within(wait)
		switch {
		case ended:
			t.Fatalf("the stream ended before delivering anything")
		case got && it.err != nil:
			t.Fatalf("the stream yielded an error before its first record: %v", it.err)
		case got && markers[it.rec.Event.ID]:
			return markers
		case got:
			t.Fatalf("the stream delivered %s before any marker; want only events stored after it started", label(it.rec.Event.ID))
		case time.Now().After(deadline):
			t.Fatalf("the stream delivered none of %d markers within %v", len(markers), s.o.waitTimeout)
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// firstStreamErr returns the first thing st.Stream(f) yields, which should be
// an error.
func firstStreamErr(t *testing.T, s *suite, st ports.Store, f event.Filter) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), s.o.waitTimeout)
	defer cancel()
	for rec, err := range st.Stream(ctx, f, event.StreamOptions{History: true}) {
		if err != nil {
			return err
		}
		return fmt.Errorf("Stream(%+v) yielded record %s, not an error", f, label(rec.Event.ID))
	}
	return fmt.Errorf("Stream(%+v) ended without yielding anything", f)
}

func (s *suite) testStream(t *testing.T) {
	t.Run("Live", s.testStreamLive)
	t.Run("LiveTypes", s.testStreamLiveTypes)
	t.Run("History", s.testStreamHistory)
	t.Run("LargeHistory", s.testStreamLargeHistory)
	t.Run("FromSeq", s.testStreamFromSeq)
	t.Run("FromTime", s.testStreamFromTime)
	t.Run("Cancel", s.testStreamCancel)
	t.Run("Break", s.testStreamBreak)
}

// testStreamLive: with zero options a stream delivers every matching event
// stored after it started, in order, and nothing else.
func (s *suite) testStreamLive(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	neighbour := s.open(t, Config{Environment: cfg.Environment, Service: cfg.Service + "n"})
	before := series("job1", "before", 3, lifecycle)
	storeAll(t, ctx, st, before)

	f := own(cfg)
	f.JobID = "job1"
	r := s.startStream(t, st, f, event.StreamOptions{})
	markers := s.started(t, st, r, func(i int) event.JobEvent {
		return mk("job1", event.TypeEnqueued, fmt.Sprintf("marker%d", i))
	})

	want := series("job1", "e", 12, lifecycle)
	for i := 0; i < len(want); i += 4 {
		if err := st.Store(ctx, want[i]); err != nil {
			t.Fatalf("Store: %v", err)
		}
		storeAll(t, ctx, st, []event.JobEvent{mk("job2", event.TypeStarted, "noise"), want[i+1], want[i+2]})
		storeAll(t, ctx, neighbour, []event.JobEvent{mk("job1", event.TypeStarted, "neighbour")})
		storeAll(t, ctx, st, want[i+3:i+4])
	}
	end := mk("job1", event.TypeCompleted, "end")
	storeAll(t, ctx, st, []event.JobEvent{end})

	got := r.until(t, end.ID, markers)
	checkIDs(t, "live stream of job1", recIDs(got), ids(want))
	checkRecords(t, "live stream", got, ownedBy(cfg))
}

// testStreamLiveTypes: a stream filtered by types (OR) across jobs.
func (s *suite) testStreamLiveTypes(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	f := own(cfg)
	f.Types = []event.JobEventType{event.TypeStarted, event.TypeFailed}
	r := s.startStream(t, st, f, event.StreamOptions{})
	markers := s.started(t, st, r, func(i int) event.JobEvent {
		return mk("marker", event.TypeStarted, fmt.Sprint(i))
	})

	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeFailed, event.TypeRetryScheduled}
	var all, want []event.JobEvent
	for i := range 20 {
		ev := mk(fmt.Sprintf("job%d", i%3), types[i%len(types)], fmt.Sprint(i))
		all = append(all, ev)
		if f.Match(cfg.Environment, cfg.Service, &ev) {
			want = append(want, ev)
		}
	}
	storeAll(t, ctx, st, all[:7])
	storeAll(t, ctx, st, all[7:])
	end := mk("end", event.TypeFailed, "end")
	storeAll(t, ctx, st, []event.JobEvent{end})

	got := r.until(t, end.ID, markers)
	checkIDs(t, "stream of started|failed", recIDs(got), ids(want))
}

// testStreamHistory: History delivers stored events then live ones with no
// gap and no duplicate, while a writer keeps writing.
func (s *suite) testStreamHistory(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	pre := series("job1", "pre", 50, lifecycle)
	storeAll(t, ctx, st, pre)
	live := series("job1", "live", 200, lifecycle)

	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	werr := make(chan error, 1)
	wg.Go(func() {
		for i := 0; i < len(live); i += 10 {
			batch := append([]event.JobEvent{mk("job2", event.TypeStarted, "noise")}, live[i:i+10]...)
			if err := st.StoreBatch(ctx, batch); err != nil {
				werr <- err
				return
			}
		}
	})

	f := own(cfg)
	f.JobID = "job1"
	r := s.startStream(t, st, f, event.StreamOptions{History: true})
	want := append(pre[:len(pre):len(pre)], live...)
	got := make([]event.Record, 0, len(want))
	seen := make(map[string]bool, len(want))
	for len(got) < len(want) {
		select {
		case err := <-werr:
			t.Fatalf("writer: %v", err)
		default:
		}
		rec := r.record(t)
		if seen[rec.Event.ID] {
			t.Fatalf("History stream delivered %s twice (after %d records)", label(rec.Event.ID), len(got))
		}
		seen[rec.Event.ID] = true
		got = append(got, rec)
	}
	wg.Wait()
	end := mk("job1", event.TypeCompleted, "end")
	storeAll(t, ctx, st, []event.JobEvent{end})
	got = append(got, r.until(t, end.ID, nil)...)

	checkIDs(t, "History stream while writing", recIDs(got), ids(want))
	checkRecords(t, "History stream", got, ownedBy(cfg))
}

// testStreamLargeHistory: a history bigger than any sensible read batch
// arrives whole without further writes to wake the stream.
func (s *suite) testStreamLargeHistory(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	evs := series("job1", "e", 1000, lifecycle)
	for i := 0; i < len(evs); i += 100 {
		storeAll(t, ctx, st, evs[i:i+100])
	}
	r := s.startStream(t, st, own(cfg), event.StreamOptions{History: true})
	got := make([]event.Record, 0, len(evs))
	for range evs {
		got = append(got, r.record(t))
	}
	checkIDs(t, "History stream of 1000 events", recIDs(got), ids(evs))
}

// testStreamFromSeq: FromSeq starts exactly at a sequence, also when
// History is set, and resumes after the last seen record.
func (s *suite) testStreamFromSeq(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	evs := series("job1", "e", 10, lifecycle)
	storeAll(t, ctx, st, evs[:5])
	storeAll(t, ctx, st, []event.JobEvent{mk("job2", event.TypeStarted, "noise")})
	storeAll(t, ctx, st, evs[5:])
	f := own(cfg)
	f.JobID = "job1"
	recs := mustList(t, ctx, st, f, event.Page{})
	if len(recs) != len(evs) {
		t.Fatalf("List returned %d records, want %d", len(recs), len(evs))
	}

	r := s.startStream(t, st, f, event.StreamOptions{FromSeq: recs[4].Seq, History: true})
	var got []event.Record
	for range len(evs) - 4 {
		got = append(got, r.record(t))
	}
	checkIDs(t, fmt.Sprintf("stream FromSeq %d", recs[4].Seq), recIDs(got), ids(evs[4:]))

	more := series("job1", "more", 3, lifecycle)
	storeAll(t, ctx, st, more)
	end := mk("job1", event.TypeCompleted, "end")
	storeAll(t, ctx, st, []event.JobEvent{end})
	checkIDs(t, "stream FromSeq, live part", recIDs(r.until(t, end.ID, nil)), ids(more))

	// Resume after the last record seen.
	last := got[len(got)-1].Seq
	r2 := s.startStream(t, st, f, event.StreamOptions{FromSeq: last + 1})
	checkIDs(t, fmt.Sprintf("stream resumed FromSeq %d", last+1), recIDs(r2.until(t, end.ID, nil)), ids(more))
}

// testStreamFromTime: FromTime starts at the first event stored at or after
// the time.
func (s *suite) testStreamFromTime(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	f := own(cfg)
	f.JobID = "job1"
	storeAll(t, ctx, st, series("job1", "old", 5, lifecycle))
	from := time.Now()
	recent := series("job1", "recent", 5, lifecycle)
	storeAll(t, ctx, st, recent)

	r := s.startStream(t, st, f, event.StreamOptions{FromTime: from})
	var got []event.Record
	for range recent {
		got = append(got, r.record(t))
	}
	checkIDs(t, "stream FromTime, stored part", recIDs(got), ids(recent))
	more := series("job1", "more", 3, lifecycle)
	storeAll(t, ctx, st, more)
	end := mk("job1", event.TypeCompleted, "end")
	storeAll(t, ctx, st, []event.JobEvent{end})
	checkIDs(t, "stream FromTime, live part", recIDs(r.until(t, end.ID, nil)), ids(more))
}

// testStreamCancel: cancelling the context ends the stream promptly with the
// context's error as its last item.
func (s *suite) testStreamCancel(t *testing.T) {
	cfg := config()
	st := s.open(t, cfg)

	r := s.startStream(t, st, own(cfg), event.StreamOptions{})
	markers := s.started(t, st, r, func(i int) event.JobEvent {
		return mk("job1", event.TypeEnqueued, fmt.Sprintf("marker%d", i))
	})
	r.cancel()
	expectFinalErr(t, r, markers, context.Canceled)
}

// expectFinalErr reads the stream to its end, allowing only markers before an
// error that wraps target, and nothing after it.
func expectFinalErr(t *testing.T, r *receiver, markers map[string]bool, target error) {
	t.Helper()
	for {
		it, ok := r.next(t)
		switch {
		case !ok:
			t.Fatalf("the stream ended without yielding an error wrapping %q", target)
		case it.err == nil && markers[it.rec.Event.ID]:
			continue
		case it.err == nil:
			t.Fatalf("the stream yielded %s, want an error wrapping %q", label(it.rec.Event.ID), target)
		case !errors.Is(it.err, target):
			t.Fatalf("the stream yielded error %v, want one wrapping %q", it.err, target)
		}
		if it, ok := r.next(t); ok {
			t.Fatalf("the stream went on after its final error: %+v", it)
		}
		return
	}
}

// testStreamBreak: a consumer that stops ranging leaves nothing running.
func (s *suite) testStreamBreak(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	storeAll(t, ctx, st, series("job1", "e", 3, lifecycle))

	once := func() {
		ctx, cancel := context.WithTimeout(ctx, s.o.waitTimeout)
		defer cancel()
		n := 0
		for rec, err := range st.Stream(ctx, own(cfg), event.StreamOptions{History: true}) {
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if rec.Event.JobID != "job1" {
				t.Fatalf("Stream yielded an event of job %q", rec.Event.JobID)
			}
			n++
			break
		}
		if n != 1 {
			t.Fatalf("Stream with History yielded %d records before the break, want 1", n)
		}
	}
	once() // let any lazily started machinery of the store settle in
	base := runtime.NumGoroutine()
	const streams = 20
	for range streams {
		once()
	}
	// Every stream's goroutines must be gone: the count returns to what it
	// was before, give or take runtime noise (a timer or finalizer
	// goroutine), far less than one stream's worth each.
	const slack = 2
	var n int
	if !poll(s.o.waitTimeout, func() bool { n = runtime.NumGoroutine(); return n <= base+slack }) {
		t.Errorf("%d goroutines %v after %d streams were abandoned by break, %d before (slack %d): streams leak", n, s.o.waitTimeout, streams, base, slack)
	}
}
