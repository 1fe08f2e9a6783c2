package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// testJob: a job's history is in store order (not timestamp order), pages
// apply to it, an unknown job is empty, a negative page is invalid.
func (s *suite) testJob(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	if evs, err := st.Job(ctx, "nobody", event.Page{}); err != nil || len(evs) != 0 {
		t.Errorf("Job of an unknown job = %d events, %v; want none and a nil error", len(evs), err)
	}

	// Timestamps run backwards so that store order and time order differ.
	base := time.Now().Add(-time.Hour)
	job := make([]event.JobEvent, 10)
	for i := range job {
		job[i] = mk("job1", lifecycle[i%3], fmt.Sprint(i), event.WithTimestamp(base.Add(-time.Duration(i)*time.Second)))
	}
	other := series("job2", "o", 3, lifecycle)
	for _, ev := range job[:3] {
		if err := st.Store(ctx, ev); err != nil {
			t.Fatalf("Store: %v", err)
		}
	}
	storeAll(t, ctx, st, []event.JobEvent{job[3], other[0], job[4], job[5], job[6], other[1]})
	if err := st.Store(ctx, job[7]); err != nil {
		t.Fatalf("Store: %v", err)
	}
	storeAll(t, ctx, st, []event.JobEvent{job[8], job[9], other[2]})

	for _, p := range pages {
		got := mustJob(t, ctx, st, "job1", p)
		checkIDs(t, fmt.Sprintf("Job(job1, %+v)", p), ids(got), ids(window(job, p)))
		for _, ev := range got {
			if ev.JobID != "job1" {
				t.Errorf("Job(job1) returned an event of job %q", ev.JobID)
			}
		}
	}
	checkIDs(t, "Job(job2)", ids(mustJob(t, ctx, st, "job2", event.Page{})), ids(other))

	for _, p := range []event.Page{{Limit: -1}, {Offset: -1}} {
		_, err := st.Job(ctx, "job1", p)
		checkErr(t, fmt.Sprintf("Job with page %+v", p), err, ports.ErrInvalid)
	}
}

// testByType: the events of one type in store order, paged.
func (s *suite) testByType(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	var all []event.JobEvent
	for j := range 4 {
		all = append(all, series(fmt.Sprintf("job%d", j), "e", 5, []event.JobEventType{
			event.TypeEnqueued, event.TypeStarted, event.TypeFailed, event.TypeRetryScheduled, event.TypeStarted,
		})...)
	}
	// Interleave jobs in store order.
	var order []event.JobEvent
	for i := range 5 {
		for j := range 4 {
			order = append(order, all[j*5+i])
		}
	}
	storeAll(t, ctx, st, order[:7])
	storeAll(t, ctx, st, order[7:])

	for _, typ := range []event.JobEventType{event.TypeStarted, event.TypeFailed, event.TypeCompleted} {
		var want []event.JobEvent
		for _, ev := range order {
			if ev.Type == typ {
				want = append(want, ev)
			}
		}
		for _, p := range pages {
			got, err := st.ByType(ctx, typ, p)
			if err != nil {
				t.Fatalf("ByType(%s, %+v): %v", typ, p, err)
			}
			checkIDs(t, fmt.Sprintf("ByType(%s, %+v)", typ, p), ids(got), ids(window(want, p)))
		}
	}
	_, err := st.ByType(ctx, event.TypeStarted, event.Page{Offset: -3})
	checkErr(t, "ByType with a negative offset", err, ports.ErrInvalid)
}

// testRoundTrip: every field of an event comes back as stored.
func (s *suite) testRoundTrip(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	full := mk("job-full", event.TypeFailed, "full",
		event.WithTimestamp(time.Date(2025, 3, 4, 5, 6, 7, 891011000, time.UTC)),
		event.WithWorker("worker-1", "thread"),
		event.WithQueue("emails"),
		event.WithMessage("Job failed: boom"),
		event.WithDetail("attempt", 2.0),
		event.WithDetail("host", "box-1"),
		event.WithTag("team", "core"),
		event.WithMetadata("trace", "abc"),
		event.WithDuration(1500*time.Millisecond),
		event.WithMemoryMB(12.5),
		event.WithCPUTime(250*time.Millisecond),
	)
	full.ErrorType = "ValueError"
	full.ErrorMessage = "boom"
	bare := mk("job-full", event.TypeEnqueued, "bare")
	storeAll(t, ctx, st, []event.JobEvent{full, bare})

	got := mustJob(t, ctx, st, "job-full", event.Page{})
	if len(got) != 2 {
		t.Fatalf("Job returned %d events, want 2", len(got))
	}
	for i, want := range []event.JobEvent{full, bare} {
		if d := diffEvent(got[i], want); d != "" {
			t.Errorf("event %s changed in the store:\n%s", label(want.ID), d)
		}
	}
	recs := mustList(t, ctx, st, own(cfg), event.Page{})
	if len(recs) != 2 {
		t.Fatalf("List returned %d records, want 2", len(recs))
	}
	if d := diffEvent(recs[0].Event, full); d != "" {
		t.Errorf("List: event %s changed in the store:\n%s", label(full.ID), d)
	}
}

// diffEvent lists the fields in which got differs from want; timestamps are
// compared as instants.
func diffEvent(got, want event.JobEvent) string {
	var b strings.Builder
	if !got.Timestamp.Equal(want.Timestamp) {
		fmt.Fprintf(&b, "  Timestamp: got %v, want %v\n", got.Timestamp, want.Timestamp)
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		name := gv.Type().Field(i).Name
		if name == "Timestamp" {
			continue
		}
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		if !sameField(g, w) {
			fmt.Fprintf(&b, "  %s: got %s, want %s\n", name, show(g), show(w))
		}
	}
	return b.String()
}

// sameField reports whether two field values are equal, a nil map being
// the same as an empty one (a store may return either).
func sameField(g, w any) bool {
	return reflect.DeepEqual(g, w) || (emptyMap(g) && emptyMap(w))
}

func emptyMap(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Map && rv.Len() == 0
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "nil"
		}
		return fmt.Sprintf("&%#v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%#v", v)
}

// testList: every filter field alone and combined, each with pages; Count
// agrees with List; records carry increasing Seqs and the writer's names.
func (s *suite) testList(t *testing.T) {
	ctx := t.Context()
	cfg := config()
	st := s.open(t, cfg)

	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeFailed, event.TypeWorkerAssigned}
	var evs []event.JobEvent
	for i := range 30 {
		evs = append(evs, mk(fmt.Sprintf("job%d", i%3), types[i%len(types)], fmt.Sprint(i),
			event.WithTimestamp(base.Add(time.Duration(i)*time.Second)),
			event.WithQueue(fmt.Sprintf("q%d", i%2)),
			event.WithWorker(fmt.Sprintf("w%d", i%4), "process"),
		))
	}
	storeAll(t, ctx, st, evs[:10])
	for _, ev := range evs[10:15] {
		if err := st.Store(ctx, ev); err != nil {
			t.Fatalf("Store: %v", err)
		}
	}
	storeAll(t, ctx, st, evs[15:])

	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	f := own(cfg)
	with := func(mod func(*event.Filter)) event.Filter { g := f; mod(&g); return g }
	cases := []struct {
		name string
		f    event.Filter
	}{
		{"own", f},
		{"environment", event.Filter{Environment: cfg.Environment}},
		{"service", event.Filter{Service: cfg.Service}},
		{"other environment", with(func(g *event.Filter) { g.Environment = "elsewhere" })},
		{"other service", with(func(g *event.Filter) { g.Service = "nobody" })},
		{"job", with(func(g *event.Filter) { g.JobID = "job1" })},
		{"unknown job", with(func(g *event.Filter) { g.JobID = "job9" })},
		{"one type", with(func(g *event.Filter) { g.Types = []event.JobEventType{event.TypeStarted} })},
		{"types OR", with(func(g *event.Filter) { g.Types = []event.JobEventType{event.TypeStarted, event.TypeFailed} })},
		{"absent type", with(func(g *event.Filter) { g.Types = []event.JobEventType{event.TypeTTLExpired} })},
		{"queue", with(func(g *event.Filter) { g.Queue = "q1" })},
		{"worker", with(func(g *event.Filter) { g.Worker = "w2" })},
		{"since", with(func(g *event.Filter) { g.Since = at(12) })},
		{"until", with(func(g *event.Filter) { g.Until = at(7) })},
		{"since until", with(func(g *event.Filter) { g.Since, g.Until = at(5), at(20) })},
		{"empty range", with(func(g *event.Filter) { g.Since, g.Until = at(5), at(5) })},
		{"job and types", with(func(g *event.Filter) {
			g.JobID, g.Types = "job2", []event.JobEventType{event.TypeEnqueued, event.TypeCompleted, event.TypeWorkerAssigned}
		})},
		{"everything", with(func(g *event.Filter) {
			g.JobID, g.Types, g.Queue, g.Worker = "job0", []event.JobEventType{event.TypeEnqueued, event.TypeStarted}, "q0", "w0"
			g.Since, g.Until = at(1), at(29)
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []event.JobEvent
			for i := range evs {
				if c.f.Match(cfg.Environment, cfg.Service, &evs[i]) {
					want = append(want, evs[i])
				}
			}
			all := mustList(t, ctx, st, c.f, event.Page{})
			checkIDs(t, "List", recIDs(all), ids(want))
			checkRecords(t, "List", all, ownedBy(cfg))
			if n := mustCount(t, ctx, st, c.f); n != len(all) || n != len(want) {
				t.Errorf("Count = %d; List returned %d, want %d", n, len(all), len(want))
			}
			for _, p := range pages[1:] {
				got := mustList(t, ctx, st, c.f, p)
				checkIDs(t, fmt.Sprintf("List page %+v", p), recIDs(got), ids(window(want, p)))
				if len(got) > 0 && len(all) > p.Offset && got[0].Seq != all[p.Offset].Seq {
					t.Errorf("List page %+v: first Seq %d, want %d", p, got[0].Seq, all[p.Offset].Seq)
				}
			}
		})
	}
	_, err := st.List(ctx, f, event.Page{Limit: -1})
	checkErr(t, "List with a negative limit", err, ports.ErrInvalid)
}

// testSharedBackend: stores of different environments or services on one
// backend keep their data apart where they must and share it where asked.
func (s *suite) testSharedBackend(t *testing.T) {
	ctx := t.Context()
	n := nameSeq.Add(1)
	dev := fmt.Sprintf("dev%d", n)
	cfgA := Config{Environment: dev, Service: fmt.Sprintf("a%d", n)}
	cfgB := Config{Environment: dev, Service: fmt.Sprintf("b%d", n)}
	cfgC := Config{Environment: fmt.Sprintf("prod%d", n), Service: cfgA.Service}
	a, b, c := s.open(t, cfgA), s.open(t, cfgB), s.open(t, cfgC)

	owner := map[string]Config{}
	var order []event.JobEvent // global store order
	write := func(st ports.Store, cfg Config, evs ...event.JobEvent) {
		t.Helper()
		storeAll(t, ctx, st, evs)
		for _, ev := range evs {
			owner[ev.ID] = cfg
		}
		order = append(order, evs...)
	}
	sharedA := series("shared", "a", 3, lifecycle)
	sharedB := series("shared", "b", 2, lifecycle)
	sharedC := series("shared", "c", 2, lifecycle)
	write(a, cfgA, sharedA[0], mk("onlya", event.TypeEnqueued, "a"))
	write(b, cfgB, sharedB[0])
	write(c, cfgC, sharedC...)
	write(a, cfgA, sharedA[1:]...)
	onlyB := mk("onlyb", event.TypeStarted, "b")
	write(b, cfgB, sharedB[1], onlyB)

	lookup := func(id string) (Config, bool) { cfg, ok := owner[id]; return cfg, ok }
	filters := []event.Filter{
		{Environment: dev, Service: cfgA.Service},
		{Environment: dev, Service: cfgB.Service},
		{Service: cfgA.Service},
		{Environment: dev},
		{Environment: cfgC.Environment},
		{Environment: dev, JobID: "shared"},
		{Service: cfgA.Service, JobID: "shared", Types: []event.JobEventType{event.TypeStarted, event.TypeCompleted}},
	}
	for _, f := range filters {
		var want []event.JobEvent
		for i := range order {
			cfg := owner[order[i].ID]
			if f.Match(cfg.Environment, cfg.Service, &order[i]) {
				want = append(want, order[i])
			}
		}
		recs := mustList(t, ctx, a, f, event.Page{})
		checkIDs(t, fmt.Sprintf("List(%+v)", f), recIDs(recs), ids(want))
		checkRecords(t, fmt.Sprintf("List(%+v)", f), recs, lookup)
		if n := mustCount(t, ctx, b, f); n != len(recs) {
			t.Errorf("Count(%+v) = %d, List returned %d", f, n, len(recs))
		}
	}

	checkIDs(t, "store A Job(shared)", ids(mustJob(t, ctx, a, "shared", event.Page{})), ids(sharedA))
	checkIDs(t, "store B Job(shared)", ids(mustJob(t, ctx, b, "shared", event.Page{})), ids(sharedB))
	checkIDs(t, "store C Job(shared)", ids(mustJob(t, ctx, c, "shared", event.Page{})), ids(sharedC))
	if evs := mustJob(t, ctx, a, "onlyb", event.Page{}); len(evs) != 0 {
		t.Errorf("store A Job(onlyb) = %v, want none: that job is store B's", labelAll(ids(evs)))
	}
	started, err := b.ByType(ctx, event.TypeStarted, event.Page{})
	if err != nil {
		t.Fatalf("ByType: %v", err)
	}
	checkIDs(t, "store B ByType(started)", ids(started), []string{sharedB[1].ID, onlyB.ID})

	deleted, err := a.DeleteJob(ctx, "shared")
	if err != nil || deleted != len(sharedA) {
		t.Errorf("store A DeleteJob(shared) = %d, %v; want %d, nil", deleted, err, len(sharedA))
	}
	checkIDs(t, "store A Job(shared) after its delete", ids(mustJob(t, ctx, a, "shared", event.Page{})), nil)
	checkIDs(t, "store B Job(shared) after A deleted its own", ids(mustJob(t, ctx, b, "shared", event.Page{})), ids(sharedB))
	checkIDs(t, "store C Job(shared) after A deleted its own", ids(mustJob(t, ctx, c, "shared", event.Page{})), ids(sharedC))
}
