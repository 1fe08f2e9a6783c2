package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// The page of a failure group (/failures/{group}) lists the group's jobs,
// newest first, a page at a time: the store's failed events of the window
// (a filter on type failed and the window's time bound) read backwards by
// stream sequence, matched to the group by rollup.FailureKey (the key the
// rollups group by), each job once per page with its failures on that
// page. ?before= is the cursor (a stream sequence, exclusive: the page
// lists failures stored before it), ?limit= the page size.
//
// When the rollups are a rollup.FailureLocator (the service's keeper),
// only the chunks of the stream where they counted failures of the group
// in the window are read, and what they have not applied yet; otherwise
// everything from the window's first failure.
//
// The work of a page is bounded: it reads back through at most groupScan
// stream sequences (WithGroupScan), in ranges that double from twice the
// page size (at least minGroupStep) to maxGroupStep sequences, each a cursor read
// (Page{After, Before}) that the store starts at its lower bound. When
// the budget runs out first, the page shows what it found, says where the
// scan stopped, and its Older link continues from there.
const (
	minGroupStep  = 32
	maxGroupStep  = 16_384
	wholeChunkMax = 512
)

// groupID names a failure group in URLs: the first 16 hex digits of the
// SHA-256 of its error type and normalised message.
func groupID(errType, msg string) string {
	sum := sha256.Sum256([]byte(errType + "\x00" + msg))
	return hex.EncodeToString(sum[:8])
}

// groupJob is a job of a failure group's page.
type groupJob struct {
	JobID    string
	Failures int          // its failures of the group on this page
	Last     event.Record // the newest of them
}

// groupScan is one page's scan.
type groupScan struct {
	Jobs     []groupJob
	Failures int
	Next     uint64 // the cursor of the next (older) page; 0: none, the window's start was reached
	Stopped  bool   // the budget ran out before the page was full
	Scanned  uint64 // stream sequences read back through
}

// scanGroup reads the failures of the group (errType, msg) matching f (and
// queue, checked here: a queue filter is not one the store's index can
// select) stored before the cursor before (0: the newest), newest first,
// until limit jobs are found, the window's first failure is passed, or the
// budget of d.groupScan sequences is spent.
func (d *Dashboard) scanGroup(ctx context.Context, f event.Filter, q rollup.Query, errType, msg string, before uint64, limit int) (groupScan, error) {
	queue := q.Queue
	var res groupScan
	top := before
	if top == 0 {
		h, err := d.store.Health(ctx)
		if err != nil {
			return res, fmt.Errorf("read where the stream ends: %w", err)
		}
		top = h.LastSeq + 1
	}
	// The parts of the stream below top to read, newest first: where the
	// rollups saw failures of the group in the window (and all they have
	// not applied yet); from rollups that cannot tell, everything from the
	// window's first failure on.
	var ranges []rollup.SeqRange
	if loc, ok := d.rollups.(rollup.FailureLocator); ok {
		located, seq, err := loc.FailureRanges(ctx, q, errType, msg)
		if err != nil {
			return res, fmt.Errorf("locate the group's failures: %w", err)
		}
		if seq+1 < top {
			ranges = append(ranges, rollup.SeqRange{First: seq + 1, Last: top - 1})
		}
		for _, rg := range located {
			if rg.Last = min(rg.Last, top-1, seq); rg.First <= rg.Last {
				ranges = append(ranges, rg)
			}
		}
	} else {
		// The store starts this read at the window's start.
		first, err := d.store.List(ctx, f, event.Page{Limit: 1, Before: top})
		if err != nil {
			return res, fmt.Errorf("find the window's first failure: %w", err)
		}
		if len(first) > 0 {
			ranges = append(ranges, rollup.SeqRange{First: first[0].Seq, Last: top - 1})
		}
	}
	budget := uint64(d.groupScan)
	index := make(map[string]int)
	// take adds recs (ascending) newest first; false: the page is full.
	take := func(recs []event.Record) bool {
		for i := len(recs) - 1; i >= 0; i-- {
			rec := &recs[i]
			if queue != "" && rec.Event.QueueName != queue {
				continue
			}
			if et, m := rollup.FailureKey(&rec.Event); et != errType || m != msg {
				continue
			}
			j, ok := index[rec.Event.JobID]
			if !ok {
				if len(res.Jobs) == limit {
					res.Next = rec.Seq + 1 // the next page starts with this failure
					return false
				}
				j = len(res.Jobs)
				index[rec.Event.JobID] = j
				res.Jobs = append(res.Jobs, groupJob{JobID: rec.Event.JobID, Last: *rec})
			}
			res.Jobs[j].Failures++
			res.Failures++
		}
		return true
	}
	// The first read asks for twice the page: dense failures fill it at once.
	step := uint64(max(2*limit, minGroupStep))
	for _, rg := range ranges {
		if rg.Failed > 0 && rg.Failed <= wholeChunkMax {
			// A located chunk with few failures: one read of them all,
			// limited to what the rollups counted there, so that the store
			// stops at the last of them (a read that ends at Before without
			// that looks on for the next failure beyond it, however far:
			// 0.8 s when half the stream follows without one). A denser
			// chunk is read from its top in steps like the rest.
			hi := rg.Last + 1
			if n := hi - rg.First; res.Scanned > 0 && res.Scanned+n > budget {
				res.Stopped, res.Next = true, hi
				return res, nil
			}
			recs, err := d.store.List(ctx, f, event.Page{After: rg.First - 1, Before: hi, Limit: int(rg.Failed)})
			if err != nil {
				return res, fmt.Errorf("read failures %d–%d: %w", rg.First, rg.Last, err)
			}
			res.Scanned += hi - rg.First
			if !take(recs) {
				return res, nil
			}
			continue
		}
		for hi := rg.Last + 1; hi > rg.First; {
			if res.Scanned >= budget {
				res.Stopped, res.Next = true, hi
				return res, nil
			}
			n := min(step, hi-rg.First, budget-res.Scanned)
			lo := hi - n
			// At most n failures lie in [lo, hi): a limit of n stops a read
			// of a range that holds only failures at its end.
			recs, err := d.store.List(ctx, f, event.Page{After: lo - 1, Before: hi, Limit: int(n)})
			if err != nil {
				return res, fmt.Errorf("read failures %d–%d: %w", lo, hi-1, err)
			}
			res.Scanned += n
			if !take(recs) {
				return res, nil
			}
			hi = lo
			step = min(2*step, maxGroupStep)
		}
	}
	return res, nil
}

type groupPage struct {
	Scope        scope
	ID           string
	Group        rollup.FailureGroup
	Since, Until time.Time
	Limit        int
	Before       uint64 // this page's cursor; 0 on the newest page
	groupScan
	Overflow  bool   // the group of failures beyond the per-bucket bound: no key to match
	Older     string // the next page, "" when the window's start was reached
	Newest    string // the first page, "" on it
	Back      string // the failures page with the same scope
	Budget    int64  // the scan budget in stream sequences
	MaxGroups int    // rollup.MaxFailureGroups
}

func (d *Dashboard) failureGroup(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s, span, err := readScope(r)
	if err != nil {
		d.badRequest(w, r, err.Error())
		return
	}
	p := groupPage{Scope: s, ID: r.PathValue("group"), Limit: DefaultGroupPage, Budget: int64(d.groupScan), MaxGroups: rollup.MaxFailureGroups}
	if v := trimmed(r, "limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxGroupPage {
			d.badRequest(w, r, fmt.Sprintf("limit=%q: want a whole number from 1 to %d (default %d)", v, MaxGroupPage, DefaultGroupPage))
			return
		}
		p.Limit = n
	}
	if v := trimmed(r, "before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < 1 {
			d.badRequest(w, r, fmt.Sprintf("before=%q: want a stream sequence (a positive whole number), as the Older link gives", v))
			return
		}
		p.Before = n
	}
	back := s.query()
	p.Back = "/failures?" + back.Encode()

	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	p.Since, p.Until = rollup.Window(d.now(), span)
	sum, err := d.rollups.Summary(ctx, rollup.Query{Since: p.Since, Until: p.Until, Environment: s.Environment, Service: s.Service, Queue: s.Queue})
	if err != nil {
		d.fail(w, r, "read the rollups", err)
		return
	}
	found := false
	for _, g := range sum.Failures {
		if groupID(g.ErrorType, g.Message) == p.ID {
			p.Group, found = g, true
			break
		}
	}
	if !found {
		d.render(w, r, http.StatusNotFound, "error", "Not found", "failures", errorPage{Status: http.StatusNotFound,
			Message: fmt.Sprintf("No failure group %s among the failures of the last %s in this scope; the failures page lists the groups there are.", p.ID, s.Window)})
		return
	}
	if p.Overflow = p.Group.ErrorType == "" && p.Group.Message == rollup.OtherFailures; !p.Overflow {
		f := event.Filter{Environment: s.Environment, Service: s.Service, Types: []event.JobEventType{event.TypeFailed}, Since: p.Since, Until: p.Until}
		q := rollup.Query{Since: p.Since, Until: p.Until, Environment: s.Environment, Service: s.Service, Queue: s.Queue}
		p.groupScan, err = d.scanGroup(ctx, f, q, p.Group.ErrorType, p.Group.Message, p.Before, p.Limit)
		if se, ok := errors.AsType[*ports.ScanError](err); ok {
			d.render(w, r, http.StatusUnprocessableEntity, "error", "Scan refused", "failures", errorPage{Status: http.StatusUnprocessableEntity,
				Message: "read the group's failures: " + se.Describe()})
			return
		}
		if err != nil {
			d.fail(w, r, "read the group's failures", err)
			return
		}
	}
	reads := time.Since(start)
	link := func(before uint64) string {
		q := s.query()
		if p.Limit != DefaultGroupPage {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if before != 0 {
			q.Set("before", strconv.FormatUint(before, 10))
		}
		return "/failures/" + url.PathEscape(p.ID) + "?" + q.Encode()
	}
	if p.Next != 0 {
		p.Older = link(p.Next)
	}
	if p.Before != 0 {
		p.Newest = link(0)
	}
	d.renderTimed(w, r, http.StatusOK, "group", layout{Title: "Failures: " + p.Group.ErrorType, Nav: "failures", Body: p, Reads: reads}, start)
}
