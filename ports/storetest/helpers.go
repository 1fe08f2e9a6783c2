package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// open makes a store with the factory and closes it when the test ends.
func (s *suite) open(t *testing.T, cfg Config) ports.Store {
	t.Helper()
	st := s.newStore(t, cfg)
	if st == nil {
		t.Fatalf("factory returned a nil store for %+v", cfg)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

var nameSeq atomic.Int64

// config returns a Config with an environment and a service name unique in
// the process, so that tests never see each other's data even on a backend
// that outlives one test.
func config() Config {
	n := nameSeq.Add(1)
	return Config{Environment: fmt.Sprintf("env%d", n), Service: fmt.Sprintf("svc%d", n)}
}

// own is the filter of everything cfg's store wrote.
func own(cfg Config) event.Filter {
	return event.Filter{Environment: cfg.Environment, Service: cfg.Service}
}

// labels maps event ids to readable names for failure messages.
var labels sync.Map

func label(id string) string {
	if l, ok := labels.Load(id); ok {
		return l.(string)
	}
	return id
}

// mk returns an event of job and type t, labelled "job/name" in diffs.
func mk(job string, t event.JobEventType, name string, opts ...event.Option) event.JobEvent {
	ev := event.New(job, t, opts...)
	labels.Store(ev.ID, job+"/"+name)
	return ev
}

// series returns n events of job cycling through types, named prefix0..n-1.
func series(job, prefix string, n int, types []event.JobEventType, opts ...event.Option) []event.JobEvent {
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = mk(job, types[i%len(types)], fmt.Sprintf("%s%d", prefix, i), opts...)
	}
	return out
}

var lifecycle = []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted}

func ids(evs []event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

func recIDs(recs []event.Record) []string {
	out := make([]string, len(recs))
	for i := range recs {
		out[i] = recs[i].Event.ID
	}
	return out
}

// diffIDs describes how got differs from want, or returns "" when equal.
func diffIDs(got, want []string) string {
	if slices.Equal(got, want) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d events, want %d", len(got), len(want))
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	switch {
	case i < len(got) && i < len(want):
		fmt.Fprintf(&b, "; first difference at index %d: got %s, want %s", i, label(got[i]), label(want[i]))
	case i < len(got):
		fmt.Fprintf(&b, "; unexpected from index %d: %s", i, label(got[i]))
	default:
		fmt.Fprintf(&b, "; missing from index %d: %s", i, label(want[i]))
	}
	gs, ws := set(got), set(want)
	var missing, extra []string
	for _, id := range want {
		if !gs[id] {
			missing = append(missing, label(id))
		}
	}
	for _, id := range got {
		if !ws[id] {
			extra = append(extra, label(id))
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, "\n  missing (%d): %s", len(missing), head(missing))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "\n  unexpected (%d): %s", len(extra), head(extra))
	}
	if dups := dupes(got); len(dups) > 0 {
		fmt.Fprintf(&b, "\n  duplicated (%d): %s", len(dups), head(dups))
	}
	fmt.Fprintf(&b, "\n  got:  %s\n  want: %s", head(labelAll(got)), head(labelAll(want)))
	return b.String()
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func dupes(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	var out []string
	for _, s := range ss {
		if seen[s] {
			out = append(out, label(s))
		}
		seen[s] = true
	}
	return out
}

func labelAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = label(s)
	}
	return out
}

// head prints at most 12 items.
func head(ss []string) string {
	if len(ss) <= 12 {
		return "[" + strings.Join(ss, " ") + "]"
	}
	return fmt.Sprintf("[%s ... %d more]", strings.Join(ss[:12], " "), len(ss)-12)
}

// checkIDs fails t when got differs from want.
func checkIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if d := diffIDs(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// checkRecords checks that recs have strictly increasing Seqs and that each
// record's Environment and Service are those of the store that wrote it
// (owner maps event id to that store's Config).
func checkRecords(t *testing.T, what string, recs []event.Record, owner func(id string) (Config, bool)) {
	t.Helper()
	for i, r := range recs {
		if i > 0 && r.Seq <= recs[i-1].Seq {
			t.Errorf("%s: Seq not strictly increasing at index %d: %d after %d", what, i, r.Seq, recs[i-1].Seq)
		}
		if cfg, ok := owner(r.Event.ID); ok && (r.Environment != cfg.Environment || r.Service != cfg.Service) {
			t.Errorf("%s: record %s has environment/service %q/%q, want %q/%q",
				what, label(r.Event.ID), r.Environment, r.Service, cfg.Environment, cfg.Service)
		}
	}
}

func ownedBy(cfg Config) func(string) (Config, bool) {
	return func(string) (Config, bool) { return cfg, true }
}

// checkErr fails t unless err wraps target.
func checkErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, target)
	}
}

func storeAll(t *testing.T, ctx context.Context, st ports.Store, evs []event.JobEvent) {
	t.Helper()
	if err := st.StoreBatch(ctx, evs); err != nil {
		t.Fatalf("StoreBatch of %d events: %v", len(evs), err)
	}
}

func mustJob(t *testing.T, ctx context.Context, st ports.Store, job string, p event.Page) []event.JobEvent {
	t.Helper()
	evs, err := st.Job(ctx, job, p)
	if err != nil {
		t.Fatalf("Job(%q, %+v): %v", job, p, err)
	}
	return evs
}

func mustList(t *testing.T, ctx context.Context, st ports.Store, f event.Filter, p event.Page) []event.Record {
	t.Helper()
	recs, err := st.List(ctx, f, p)
	if err != nil {
		t.Fatalf("List(%+v, %+v): %v", f, p, err)
	}
	return recs
}

func mustCount(t *testing.T, ctx context.Context, st ports.Store, f event.Filter) int {
	t.Helper()
	n, err := st.Count(ctx, f)
	if err != nil {
		t.Fatalf("Count(%+v): %v", f, err)
	}
	return n
}

// window applies p to a slice the way stores must.
func window[T any](s []T, p event.Page) []T {
	if p.Offset >= len(s) {
		return nil
	}
	s = s[p.Offset:]
	if p.Limit > 0 && p.Limit < len(s) {
		s = s[:p.Limit]
	}
	return s
}

var pages = []event.Page{
	{}, {Limit: 1}, {Limit: 3}, {Offset: 2}, {Limit: 3, Offset: 2}, {Limit: 100}, {Offset: 9}, {Offset: 10}, {Offset: 1000, Limit: 2},
}

// poll calls cond every few milliseconds until it returns true or d passes;
// it returns cond's last verdict.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
