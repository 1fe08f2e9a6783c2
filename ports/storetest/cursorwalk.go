package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// Sizes of the concurrent cursor walk: the page size, how many batches the
// handshake writer stores (one after each of the first pages read), the size
// of its batches (all but one of job "hot", cycling through the lifecycle,
// and one "cold" started: every walk's read selects some of each batch) and
// how many batches the free-running writer stores at most.
const (
	walkPage      = 7
	walkHandshake = 6
	walkBatch     = 4
	walkFreeMax   = 12
)

// walkItem is one event a cursor page returned, with its store sequence
// and where it is stored.
type walkItem struct {
	seq      uint64
	env, svc string
	ev       event.JobEvent
}

// cursorWalk is one read walked by cursor: page reads the page after a
// sequence; filter is the List filter that selects the same events, the
// oracle the walk is compared with.
type cursorWalk struct {
	name   string
	filter event.Filter
	page   func(ctx context.Context, after uint64) ([]walkItem, error)
}

// testCursorConcurrent: a cursor walk (each page After the last Seq of the
// one before) of List (every environment, the store's own, by type, by
// job), ByType and Job, while events are written concurrently, never skips
// or repeats an event. A handshake
// makes sure writes land between page reads: after each of the first
// walkHandshake pages the reader asks a writer goroutine for a batch and
// waits for it to be stored before it reads the next page; a second writer
// stores batches freely meanwhile. Every walk must yield pages in strictly
// ascending Seq, all after the cursor; hold every event stored before it
// began and every handshake event it matches (so events written during the
// walk are in it); and be exactly what List holds up to its last Seq.
func (s *suite) testCursorConcurrent(t *testing.T) {
	cfg := config()
	st := s.open(t, cfg)
	var initial []event.JobEvent
	for i := range 45 {
		job := "hot"
		if i%4 == 3 {
			job = "cold"
		}
		initial = append(initial, mk(job, lifecycle[i%3], fmt.Sprintf("init%d", i)))
	}
	ours := &sync.Map{} // the ids of the events this test stores
	for _, ev := range initial {
		ours.Store(ev.ID, true)
	}
	storeAll(t, t.Context(), st, initial)

	list := func(f event.Filter) func(context.Context, uint64) ([]walkItem, error) {
		return func(ctx context.Context, after uint64) ([]walkItem, error) {
			recs, err := st.List(ctx, f, event.Page{After: after, Limit: walkPage})
			if err != nil {
				return nil, err
			}
			out := make([]walkItem, len(recs))
			for i, r := range recs {
				if _, mine := ours.Load(r.Event.ID); mine && (r.Environment != cfg.Environment || r.Service != cfg.Service) {
					return nil, fmt.Errorf("record %s has environment/service %q/%q, want %q/%q",
						label(r.Event.ID), r.Environment, r.Service, cfg.Environment, cfg.Service)
				}
				out[i] = walkItem{r.Seq, r.Environment, r.Service, r.Event}
			}
			return out, nil
		}
	}
	// ByType and Job return no sequences: each page is matched with the
	// page List gives for the same filter and bounds, which must be the
	// same events (stores only append, so the first matches after the
	// cursor stay the same however many are written meanwhile).
	withSeqs := func(ctx context.Context, f event.Filter, after uint64, evs []event.JobEvent) ([]walkItem, error) {
		if len(evs) == 0 {
			return nil, nil
		}
		recs, err := st.List(ctx, f, event.Page{After: after, Limit: len(evs)})
		if err != nil {
			return nil, err
		}
		if d := diffIDs(ids(evs), recIDs(recs)); d != "" {
			return nil, fmt.Errorf("it differs from List's page of as many with the same filter after %d: %s", after, d)
		}
		out := make([]walkItem, len(evs))
		for i, ev := range evs {
			out[i] = walkItem{recs[i].Seq, cfg.Environment, cfg.Service, ev}
		}
		return out, nil
	}
	started := own(cfg)
	started.Types = []event.JobEventType{event.TypeStarted}
	hot := own(cfg)
	hot.JobID = "hot"
	// Job and ByType first: they read more per page, and every walk adds
	// to what the next ones read.
	walks := []cursorWalk{
		{"Job(hot)", hot, func(ctx context.Context, after uint64) ([]walkItem, error) {
			evs, err := st.Job(ctx, "hot", event.Page{After: after, Limit: walkPage})
			if err != nil {
				return nil, err
			}
			return withSeqs(ctx, hot, after, evs)
		}},
		{"ByType(started)", started, func(ctx context.Context, after uint64) ([]walkItem, error) {
			evs, err := st.ByType(ctx, event.TypeStarted, event.Page{After: after, Limit: walkPage})
			if err != nil {
				return nil, err
			}
			return withSeqs(ctx, started, after, evs)
		}},
		{"List(job hot)", hot, list(hot)},
		{"List(type started)", started, list(started)},
		{"List(all)", own(cfg), list(own(cfg))},
		{"List(every environment)", event.Filter{}, list(event.Filter{})},
	}
	for wi, w := range walks {
		t.Run(w.name, func(t *testing.T) {
			ctx := t.Context()
			before := recIDs(mustList(t, ctx, st, w.filter, event.Page{}))
			if len(before) == 0 {
				t.Fatalf("%s: the store holds no matching events before the walk", w.name)
			}
			walked, last, written := s.walkDuringWrites(t, st, cfg, ours, w, fmt.Sprint(wi))

			got := make([]string, len(walked))
			for i, it := range walked {
				got[i] = it.ev.ID
			}
			in := set(got)
			for _, id := range before {
				if !in[id] {
					t.Errorf("%s: the walk skipped %s, stored before it began", w.name, label(id))
				}
			}
			during := 0
			for _, ev := range written {
				if !w.filter.Match(cfg.Environment, cfg.Service, &ev) {
					continue
				}
				if !in[ev.ID] {
					t.Errorf("%s: the walk skipped %s, written (and acknowledged) between two of its pages", w.name, label(ev.ID))
					continue
				}
				during++
			}
			if during == 0 {
				t.Errorf("%s: the walk holds none of the events written during it", w.name)
			}
			final := mustList(t, ctx, st, w.filter, event.Page{Before: last + 1})
			checkIDs(t, fmt.Sprintf("%s: the walk against List up to its last Seq %d", w.name, last), got, recIDs(final))
		})
	}
}

// walkDuringWrites walks w by cursor until a page is empty, while a
// handshake writer stores one batch after each of the first walkHandshake
// pages (the next page is read only once that batch is stored) and a free
// writer stores up to walkFreeMax batches meanwhile. It fails t on a page
// that is too long, repeats an event, holds one w does not match, or is not
// in strictly ascending Seq after the cursor, or holds an event of ours
// (the ids the test stores) under another environment or service than
// cfg's. It returns the walk, its last Seq and the events the handshake
// writer stored.
func (s *suite) walkDuringWrites(t *testing.T, st ports.Store, cfg Config, ours *sync.Map, w cursorWalk, tag string) (walked []walkItem, last uint64, written []event.JobEvent) {
	ctx, cancel := context.WithCancel(t.Context())
	type ack struct {
		batch []event.JobEvent
		err   error
	}
	req := make(chan int)
	acks := make(chan ack, 1) // at most one request is outstanding
	stop := make(chan struct{})
	freeErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range req {
			batch := append(series("hot", fmt.Sprintf("w%s-%d-", tag, i), walkBatch-1, lifecycle),
				mk("cold", event.TypeStarted, fmt.Sprintf("w%s-%d-cold", tag, i)))
			for _, ev := range batch {
				ours.Store(ev.ID, true)
			}
			acks <- ack{batch, st.StoreBatch(ctx, batch)}
		}
	})
	wg.Go(func() {
		for i := range walkFreeMax {
			select {
			case <-stop:
				return
			default:
			}
			batch := series("free", fmt.Sprintf("f%s-%d-", tag, i), 2, lifecycle)
			for _, ev := range batch {
				ours.Store(ev.ID, true)
			}
			if err := st.StoreBatch(ctx, batch); err != nil {
				if ctx.Err() == nil {
					freeErr <- fmt.Errorf("free writer, batch %d: %w", i, err)
				}
				return
			}
		}
	})
	finish := sync.OnceFunc(func() {
		close(req)
		close(stop)
		wg.Wait()
	})
	defer func() { cancel(); finish() }() // on t.Fatal: unblock the writers first

	seen := map[string]bool{}
	timeout := time.NewTimer(s.o.waitTimeout) // for the whole walk
	defer timeout.Stop()
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("%s: the walk has not ended after %d pages", w.name, pages)
		}
		page, err := w.page(ctx, last)
		if err != nil {
			t.Fatalf("%s: page %d (after %d): %v", w.name, pages, last, err)
		}
		if len(page) > walkPage {
			t.Fatalf("%s: page %d (after %d) has %d events, more than its limit %d", w.name, pages, last, len(page), walkPage)
		}
		if len(page) == 0 {
			if len(written) < walkHandshake*walkBatch {
				t.Fatalf("%s: page %d (after %d) is empty before the writes ended", w.name, pages, last)
			}
			break
		}
		for _, it := range page {
			if it.seq <= last {
				t.Fatalf("%s: page %d returned %s with Seq %d, not after %d (the cursor or the event before it)",
					w.name, pages, label(it.ev.ID), it.seq, last)
			}
			if seen[it.ev.ID] {
				t.Fatalf("%s: page %d repeated %s", w.name, pages, label(it.ev.ID))
			}
			if !w.filter.Match(it.env, it.svc, &it.ev) {
				t.Fatalf("%s: page %d returned %s, which the read does not select", w.name, pages, label(it.ev.ID))
			}
			seen[it.ev.ID] = true
			last = it.seq
			walked = append(walked, it)
		}
		if pages >= walkHandshake {
			continue
		}
		req <- pages
		select {
		case a := <-acks:
			if a.err != nil {
				t.Fatalf("%s: handshake write after page %d: %v", w.name, pages, a.err)
			}
			written = append(written, a.batch...)
		case <-timeout.C:
			t.Fatalf("%s: the handshake write after page %d is not acknowledged %v after the walk began", w.name, pages, s.o.waitTimeout)
		}
	}
	finish()
	select {
	case err := <-freeErr:
		t.Fatal(err)
	default:
	}
	return walked, last, written
}
