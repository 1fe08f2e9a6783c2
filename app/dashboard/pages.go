package dashboard

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// Windows are the spans the overview and failures pages offer.
var windows = []struct {
	Name string
	D    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}

// scope is the filter of the rollup pages, read from and written to the URL.
type scope struct {
	Window      string
	Environment string
	Service     string
	Queue       string
	Text        string // failures only: a substring of type or message
	Windows     []string
}

// readScope reads ?window, ?environment, ?service and ?queue.
func readScope(r *http.Request) (scope, time.Duration, error) {
	s := scope{Window: trimmed(r, "window"), Environment: trimmed(r, "environment"), Service: trimmed(r, "service"), Queue: trimmed(r, "queue"), Text: trimmed(r, "text")}
	for _, w := range windows {
		s.Windows = append(s.Windows, w.Name)
	}
	if s.Window == "" {
		s.Window = windows[0].Name
	}
	for _, w := range windows {
		if w.Name == s.Window {
			for _, tok := range []struct{ name, v string }{{"environment", s.Environment}, {"service", s.Service}} {
				if tok.v != "" {
					if err := event.CheckToken(tok.name, tok.v); err != nil {
						return s, 0, fmt.Errorf("filter %s=%q: %w", tok.name, tok.v, err)
					}
				}
			}
			return s, w.D, nil
		}
	}
	return s, 0, fmt.Errorf("window %q: want one of %s", s.Window, strings.Join(s.Windows, ", "))
}

// summary reads the rollups over the window of span ending at the end of
// the current minute (rollup.Window): every request within a minute asks
// the same interval, so an idle stream shows the same figures.
func (d *Dashboard) summary(ctx context.Context, s scope, span time.Duration) (rollup.Summary, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	since, until := rollup.Window(d.now(), span)
	return d.rollups.Summary(ctx, rollup.Query{Since: since, Until: until, Environment: s.Environment, Service: s.Service, Queue: s.Queue})
}

// query is the scope's URL query (empty fields left out), for links that
// keep the filter state.
func (s scope) query() url.Values {
	q := url.Values{}
	for _, kv := range [][2]string{{"window", s.Window}, {"environment", s.Environment}, {"service", s.Service}, {"queue", s.Queue}, {"text", s.Text}} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	return q
}

// scopedSummary reads the scope of a rollup page (overview, failures) and
// the rollups' summary of it; ok false: it has answered, 400 for a bad
// scope, the read's failure otherwise.
func (d *Dashboard) scopedSummary(w http.ResponseWriter, r *http.Request) (s scope, sum rollup.Summary, ok bool) {
	s, span, err := readScope(r)
	if err != nil {
		d.badRequest(w, r, err.Error())
		return s, sum, false
	}
	if sum, err = d.summary(r.Context(), s, span); err != nil {
		d.fail(w, r, "read the rollups", err)
		return s, sum, false
	}
	return s, sum, true
}

type typeCount struct {
	Type  event.JobEventType
	Count int64
}

type durationRow struct {
	Queue string
	rollup.Quantiles
}

type overviewPage struct {
	Scope       scope
	Summary     rollup.Summary
	Rate        float64 // events/s over the covered interval
	Types       []typeCount
	Chart       template.HTML
	Legend      []SeriesLine
	Durations   []durationRow
	Workers     []rollup.WorkerInfo
	MoreWorkers int
}

// maxWorkers is how many workers the overview lists.
const maxWorkers = 50

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s, sum, ok := d.scopedSummary(w, r)
	if !ok {
		return
	}
	reads := time.Since(start)
	p := overviewPage{Scope: s, Summary: sum}
	if sec := sum.To.Sub(sum.From).Seconds(); sec > 0 {
		p.Rate = float64(sum.Total) / sec
	}
	for t, n := range sum.Counts {
		p.Types = append(p.Types, typeCount{t, n})
	}
	slices.SortFunc(p.Types, func(a, b typeCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Type, b.Type)) })
	p.Chart, p.Legend = seriesChart(sum)
	for q, qs := range sum.Durations {
		p.Durations = append(p.Durations, durationRow{q, qs})
	}
	slices.SortFunc(p.Durations, func(a, b durationRow) int { return cmp.Compare(a.Queue, b.Queue) }) // "" (all) first
	p.Workers = sum.Workers
	if len(p.Workers) > maxWorkers {
		p.MoreWorkers = len(p.Workers) - maxWorkers
		p.Workers = p.Workers[:maxWorkers]
	}
	d.renderTimed(w, r, http.StatusOK, "overview", layout{Title: "Overview", Nav: "overview", Body: p, Reads: reads}, start)
}

type failureGroup struct {
	rollup.FailureGroup
	ID    string
	Spark template.HTML
	Href  string // the group's page of jobs, with the page's scope
}

type failuresPage struct {
	Scope   scope
	Summary rollup.Summary
	Groups  []failureGroup
	Hidden  int // groups the text filter hid
	Total   int64
}

func (d *Dashboard) failures(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s, sum, ok := d.scopedSummary(w, r)
	if !ok {
		return
	}
	reads := time.Since(start)
	p := failuresPage{Scope: s, Summary: sum}
	needle := strings.ToLower(s.Text)
	for i, g := range sum.Failures {
		if needle != "" && !strings.Contains(strings.ToLower(g.ErrorType+" "+g.Message), needle) {
			p.Hidden++
			continue
		}
		p.Total += g.Count
		p.Groups = append(p.Groups, failureGroup{
			FailureGroup: g, ID: "g" + strconv.Itoa(i),
			Spark: sparkline(g.Spark, fmt.Sprintf("%s failures over the window, %d in all", g.ErrorType, g.Count)),
			Href:  "/failures/" + groupID(g.ErrorType, g.Message) + "?" + s.query().Encode(),
		})
	}
	d.renderTimed(w, r, http.StatusOK, "failures", layout{Title: "Failures", Nav: "failures", Body: p, Reads: reads}, start)
}

type jobRow struct {
	N           int
	Seq         uint64
	Environment string
	Service     string
	event.JobEvent
	Delta string // since the previous event, "" for the first
	Raw   string // the v1.0 document, indented
}

type jobPage struct {
	JobID     string
	Rows      []jobRow
	Where     []string // environment/service pairs the job's events are under
	Timeline  Timeline
	Waterfall template.HTML
	Truncated bool
	APIURL    string
}

// jobRecords reads the first jobLimit+1 events of job id under every
// environment and service it has events in, in store order: the store's
// index names the places (ports.FindJob, no events read), and each place is
// read on the job's literal subjects. A List by job id alone would read a
// wildcard over the whole stream (60–120 ms on 1M events against 1–5 ms).
func (d *Dashboard) jobRecords(ctx context.Context, id string) ([]event.Record, error) {
	locs, err := ports.FindJob(ctx, d.store, id)
	if err != nil {
		return nil, err
	}
	var recs []event.Record
	for _, l := range locs {
		f := event.Filter{JobID: id, Environment: l.Environment, Service: l.Service}
		rs, err := d.store.List(ctx, f, event.Page{Limit: d.jobLimit + 1})
		if err != nil {
			return nil, err
		}
		recs = append(recs, rs...)
	}
	slices.SortFunc(recs, func(a, b event.Record) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(recs) > d.jobLimit+1 {
		recs = recs[:d.jobLimit+1]
	}
	return recs, nil
}

func (d *Dashboard) job(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.PathValue("job")
	if err := event.CheckToken("job", id); err != nil {
		d.badRequest(w, r, fmt.Sprintf("job id %q: %v", id, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	recs, err := d.jobRecords(ctx, id)
	if err != nil {
		d.fail(w, r, "read job "+id, err)
		return
	}
	reads := time.Since(start)
	p := jobPage{JobID: id, APIURL: "/api/v1/events?job=" + url.QueryEscape(id)}
	if len(recs) > d.jobLimit {
		recs, p.Truncated = recs[:d.jobLimit], true
	}
	evs := make([]event.JobEvent, 0, len(recs))
	seen := map[string]bool{}
	for i := range recs {
		rec := &recs[i]
		raw, err := rec.Event.AppendJSON(nil)
		if err != nil {
			d.fail(w, r, "encode event "+rec.Event.ID, err)
			return
		}
		var ind bytes.Buffer
		if json.Indent(&ind, raw, "", "  ") != nil {
			ind.Reset()
			ind.Write(raw)
		}
		row := jobRow{N: i + 1, Seq: rec.Seq, Environment: rec.Environment, Service: rec.Service, JobEvent: rec.Event, Raw: ind.String()}
		if i > 0 {
			// Rows are in store order: an event may be older than the one
			// stored before it (another producer's clock), "-…" then.
			d := rec.Event.Timestamp.Sub(recs[i-1].Event.Timestamp)
			if row.Delta = fmtDuration(d); d >= 0 {
				row.Delta = "+" + row.Delta
			}
		}
		if where := rec.Environment + "/" + rec.Service; !seen[where] {
			seen[where] = true
			p.Where = append(p.Where, where)
		}
		p.Rows = append(p.Rows, row)
		evs = append(evs, rec.Event)
	}
	status := http.StatusOK
	if len(p.Rows) == 0 {
		status = http.StatusNotFound
	}
	p.Timeline = BuildTimeline(evs)
	p.Waterfall = waterfall(p.Timeline)
	d.renderTimed(w, r, status, "job", layout{Title: "Job " + id, Nav: "job", Search: id, Body: p, Reads: reads}, start)
}

// liveFilters are the stream parameters the live page passes through.
var liveFilters = []string{"environment", "service", "queue", "type", "worker", "job"}

type livePage struct {
	Filters   map[string]string
	Types     []event.JobEventType
	StreamURL string // the API stream with the filters, without a start
	// LastID is the stream event id ("seq" or "seq@epoch", as the API's
	// stream writes them) of the last event stored when the page was
	// rendered: the feed starts after it, so it misses nothing stored
	// after the page.
	LastID string
}

func (d *Dashboard) live(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := livePage{Filters: map[string]string{}, Types: event.Types()}
	q := url.Values{}
	for _, name := range liveFilters {
		v := trimmed(r, name)
		p.Filters[name] = v
		if v == "" {
			continue
		}
		switch name {
		case "environment", "service", "job":
			if err := event.CheckToken(name, v); err != nil {
				d.badRequest(w, r, fmt.Sprintf("filter %s=%q: %v", name, v, err))
				return
			}
		case "type":
			if _, err := event.ParseType(v); err != nil {
				d.badRequest(w, r, fmt.Sprintf("filter type=%q: unknown event type", v))
				return
			}
		}
		q.Set(name, v)
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	h, err := d.store.Health(ctx)
	if err != nil {
		d.fail(w, r, "read where the stream is", err)
		return
	}
	p.LastID = strconv.FormatUint(h.LastSeq, 10)
	if !h.Created.IsZero() {
		p.LastID += "@" + strconv.FormatInt(h.Created.UnixNano(), 10)
	}
	p.StreamURL = "/api/v1/stream?" + q.Encode()
	d.renderTimed(w, r, http.StatusOK, "live", layout{Title: "Live", Nav: "live", Body: p}, start)
}

// search jumps to the job whose id is ?q.
func (d *Dashboard) search(w http.ResponseWriter, r *http.Request) {
	q := trimmed(r, "q")
	if q == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := event.CheckToken("job", q); err != nil {
		d.badRequest(w, r, fmt.Sprintf("search %q: not a job id (%v); type a job id to open its page", q, err))
		return
	}
	http.Redirect(w, r, "/jobs/"+url.PathEscape(q), http.StatusSeeOther)
}
