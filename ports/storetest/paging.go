package storetest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// testHugeOffset: offsets and limits near math.MaxInt never overflow: past
// every match they give an empty page and a nil error, in every read.
func (s *suite) testHugeOffset(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	evs := series("job1", "e", 6, lifecycle)
	storeAll(t, ctx, st, evs)

	for _, p := range []event.Page{
		{Offset: math.MaxInt, Limit: 10},
		{Offset: math.MaxInt - 5, Limit: 10},
		{Offset: math.MaxInt - 5, Limit: math.MaxInt},
		{Offset: math.MaxInt},
		{Offset: event.MaxOffset + 1, Limit: 3},
	} {
		got, err := st.ByType(ctx, event.TypeStarted, p)
		if err != nil || len(got) != 0 {
			t.Errorf("ByType(started, %+v) = %d events, %v; want none and a nil error", p, len(got), err)
		}
		gotJ, err := st.Job(ctx, "job1", p)
		if err != nil || len(gotJ) != 0 {
			t.Errorf("Job(job1, %+v) = %d events, %v; want none and a nil error", p, len(gotJ), err)
		}
		recs, err := st.List(ctx, own(cfg), p)
		if err != nil || len(recs) != 0 {
			t.Errorf("List(own, %+v) = %d records, %v; want none and a nil error", p, len(recs), err)
		}
	}
	p := event.Page{Offset: 1, Limit: math.MaxInt}
	checkIDs(t, fmt.Sprintf("Job(job1, %+v)", p), ids(mustJob(t, ctx, st, "job1", p)), ids(evs[1:]))
	recs := mustList(t, ctx, st, own(cfg), event.Page{Offset: 4, Limit: math.MaxInt - 3})
	checkIDs(t, "List with limit near MaxInt", recIDs(recs), ids(evs[4:]))
}

// testCursor: After and Before bound every read by sequence, exclusive at
// both ends; the pages of a cursor walk join into the whole result.
func (s *suite) testCursor(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	var evs []event.JobEvent
	for i := range 20 {
		evs = append(evs, mk(fmt.Sprintf("job%d", i%2), lifecycle[i%3], fmt.Sprint(i), event.WithQueue(fmt.Sprintf("q%d", i%2))))
	}
	storeAll(t, ctx, st, evs[:9])
	storeAll(t, ctx, st, []event.JobEvent{mk("other", event.TypeStarted, "x")}) // a gap in the own job's sequences
	storeAll(t, ctx, st, evs[9:])
	all := mustList(t, ctx, st, own(cfg), event.Page{})
	seq := map[string]uint64{}
	for _, r := range all {
		seq[r.Event.ID] = r.Seq
	}
	in := func(evs []event.JobEvent, p event.Page) []event.JobEvent {
		var out []event.JobEvent
		for _, ev := range evs {
			if p.Contains(seq[ev.ID]) {
				out = append(out, ev)
			}
		}
		return window(out, event.Page{Offset: p.Offset, Limit: p.Limit})
	}
	var job0, started []event.JobEvent
	for _, ev := range evs {
		if ev.JobID == "job0" {
			job0 = append(job0, ev)
		}
		if ev.Type == event.TypeStarted {
			started = append(started, ev)
		}
	}
	s3, s8, s15 := seq[evs[3].ID], seq[evs[8].ID], seq[evs[15].ID]
	last := all[len(all)-1].Seq
	pages := []event.Page{
		{After: s3},
		{After: s3, Limit: 4},
		{After: s3, Offset: 2, Limit: 3},
		{Before: s8},
		{After: s3, Before: s15},
		{After: s3, Before: s15, Limit: 2},
		{After: s8, Before: s8 + 1}, // empty: nothing between
		{After: s8, Before: s8},     // empty: Before not above After
		{After: s15, Before: s3},    // empty: reversed
		{After: last},               // empty: after the last
		{Before: all[0].Seq},        // empty: before the first
		{After: math.MaxUint64},
		{After: math.MaxUint64 - 1, Before: math.MaxUint64},
	}
	for _, p := range pages {
		recs := mustList(t, ctx, st, own(cfg), p)
		checkIDs(t, fmt.Sprintf("List(own, %+v)", p), recIDs(recs), ids(in(append(evs[:9:9], append([]event.JobEvent{all[9].Event}, evs[9:]...)...), p)))
		for _, r := range recs {
			if !p.Contains(r.Seq) {
				t.Errorf("List(own, %+v) returned Seq %d, outside the page", p, r.Seq)
			}
		}
		checkIDs(t, fmt.Sprintf("Job(job0, %+v)", p), ids(mustJob(t, ctx, st, "job0", p)), ids(in(job0, p)))
		got, err := st.ByType(ctx, event.TypeStarted, p)
		if err != nil {
			t.Fatalf("ByType(started, %+v): %v", p, err)
		}
		wantStarted := in(append(started[:3:3], append([]event.JobEvent{all[9].Event}, started[3:]...)...), p)
		checkIDs(t, fmt.Sprintf("ByType(started, %+v)", p), ids(got), ids(wantStarted))
		q1 := own(cfg)
		q1.Queue = "q1"
		var wantQ []event.JobEvent
		for _, ev := range evs {
			if ev.QueueName == "q1" {
				wantQ = append(wantQ, ev)
			}
		}
		checkIDs(t, fmt.Sprintf("List(queue q1, %+v)", p), recIDs(mustList(t, ctx, st, q1, p)), ids(in(wantQ, p)))
	}

	// A walk of pages of 3, each after the last Seq of the one before,
	// returns every record once.
	var walked []event.Record
	for after := uint64(0); ; {
		page := mustList(t, ctx, st, own(cfg), event.Page{After: after, Limit: 3})
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		after = page[len(page)-1].Seq
		if len(walked) > len(all) {
			t.Fatalf("cursor walk returned %d records, more than the %d stored", len(walked), len(all))
		}
	}
	checkIDs(t, "cursor walk by 3", recIDs(walked), recIDs(all))
}

// testOffsetBound: an Offset above event.MaxOffset over more matches is an
// *event.OffsetError wrapping ErrInvalid whose After continues the walk;
// an Offset of exactly MaxOffset is still served.
func (s *suite) testOffsetBound(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)
	n := event.MaxOffset + 5
	evs := make([]event.JobEvent, n)
	for i := range evs {
		evs[i] = event.New("big", lifecycle[i%3])
	}
	for i := 0; i < n; i += 1000 {
		storeAll(t, ctx, st, evs[i:min(i+1000, n)])
	}
	all := mustList(t, ctx, st, own(cfg), event.Page{})
	if len(all) != n {
		t.Fatalf("List returned %d records, want %d", len(all), n)
	}

	p := event.Page{Offset: event.MaxOffset, Limit: 2}
	checkIDs(t, fmt.Sprintf("List(own, %+v)", p), recIDs(mustList(t, ctx, st, own(cfg), p)), recIDs(all[event.MaxOffset:event.MaxOffset+2]))

	p = event.Page{Offset: event.MaxOffset + 2, Limit: 2}
	for name, read := range map[string]func() error{
		"List": func() error { _, err := st.List(ctx, own(cfg), p); return err },
		"Job":  func() error { _, err := st.Job(ctx, "big", p); return err },
	} {
		err := read()
		checkErr(t, fmt.Sprintf("%s with offset %d over %d matches", name, p.Offset, n), err, ports.ErrInvalid)
		oe, ok := errors.AsType[*event.OffsetError](err)
		if !ok {
			t.Errorf("%s with offset %d: error %v is not an *event.OffsetError", name, p.Offset, err)
			continue
		}
		if want := all[event.MaxOffset-1].Seq; oe.After != want {
			t.Errorf("%s: OffsetError.After = %d, want %d (the Seq of the %d-th match)", name, oe.After, want, event.MaxOffset)
		}
		next := mustList(t, ctx, st, own(cfg), event.Page{After: oe.After, Offset: p.Offset - event.MaxOffset, Limit: p.Limit})
		checkIDs(t, name+": the page the OffsetError points to", recIDs(next), recIDs(all[p.Offset:p.Offset+p.Limit]))
	}
	// The bound counts matches after the cursor, not the stream before it.
	p = event.Page{After: all[10].Seq, Offset: event.MaxOffset - 20, Limit: 3}
	checkIDs(t, fmt.Sprintf("List(own, %+v)", p), recIDs(mustList(t, ctx, st, own(cfg), p)), recIDs(window(all[11:], event.Page{Offset: p.Offset, Limit: 3})))
}

// testFindJob: FindJob finds a job under every environment and service
// that has it, with its event count, sorted; an unknown job is empty.
func (s *suite) testFindJob(t *testing.T) {
	ctx := t.Context()
	n := nameSeq.Add(1)
	cfgA := Config{Environment: fmt.Sprintf("fa%d", n), Service: "x"}
	cfgB := Config{Environment: fmt.Sprintf("fa%d", n), Service: "w"}
	cfgC := Config{Environment: fmt.Sprintf("fb%d", n), Service: "x"}
	a, b, c := s.open(t, cfgA), s.open(t, cfgB), s.open(t, cfgC)
	job := fmt.Sprintf("findme%d", n)
	storeAll(t, ctx, a, series(job, "a", 3, lifecycle))
	storeAll(t, ctx, b, series(job, "b", 2, lifecycle))
	storeAll(t, ctx, c, series("someone-else", "c", 2, lifecycle))

	got, err := ports.FindJob(ctx, c, job)
	if err != nil {
		t.Fatalf("FindJob(%s): %v", job, err)
	}
	want := []ports.JobLocation{
		{Environment: cfgB.Environment, Service: cfgB.Service, Events: 2},
		{Environment: cfgA.Environment, Service: cfgA.Service, Events: 3},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FindJob(%s) = %+v, want %+v", job, got, want)
	}
	if _, ok := c.(ports.JobFinder); !ok {
		t.Errorf("the store does not implement ports.JobFinder: FindJob falls back to a List of every environment")
	}
	if got, err := ports.FindJob(ctx, a, "nobody-has-this"); err != nil || len(got) != 0 {
		t.Errorf("FindJob(unknown) = %+v, %v; want none and a nil error", got, err)
	}
	_, err = ports.FindJob(ctx, a, "a.b")
	checkErr(t, "FindJob(\"a.b\")", err, ports.ErrInvalid)
}
