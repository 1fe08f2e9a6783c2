package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

// WithRollups sets the rollups GET /api/v1/stats reads and that answer
// GET /api/v1/events/count when they cover its filter. Default none:
// stats answers 503 and counts go to the store.
func WithRollups(r rollup.Reader) Option { return func(a *API) { a.rollups = r } }

// statsParams are the parameters of GET /api/v1/stats: the rollups know
// environment, service, queue, type and time, not jobs or workers.
var statsParams = []string{"environment", "service", "queue", "type", "since", "until", "window"}

// statsBody is the answer of GET /api/v1/stats: rollup.Summary in JSON.
type statsBody struct {
	From        time.Time                `json:"from"`
	To          time.Time                `json:"to"`
	Seq         uint64                   `json:"seq"`
	Behind      uint64                   `json:"behind"`
	Exact       bool                     `json:"exact"`
	Total       int64                    `json:"total"`
	Counts      map[string]int64         `json:"counts"`
	FailureRate float64                  `json:"failure_rate"`
	DurationsMS map[string]quantilesBody `json:"durations_ms"`
	Series      []pointBody              `json:"series"`
	Failures    []failureBody            `json:"failures"`
	Queues      []queueBody              `json:"queues"`
	Workers     []workerBody             `json:"workers"`
}

type quantilesBody struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

type pointBody struct {
	Start  time.Time        `json:"start"`
	WidthS float64          `json:"width_s"`
	Counts map[string]int64 `json:"counts"`
}

type failureBody struct {
	ErrorType string    `json:"error_type"`
	Message   string    `json:"message"`
	Count     int64     `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Spark     []int64   `json:"spark"`
	Jobs      []string  `json:"jobs"`
}

type queueBody struct {
	Name     string    `json:"name"`
	Depth    int64     `json:"depth"`
	LastSeen time.Time `json:"last_seen"`
}

type workerBody struct {
	ID       string    `json:"id"`
	Queue    string    `json:"queue,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

func typeCounts(m map[event.JobEventType]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for t, n := range m {
		out[string(t)] = n
	}
	return out
}

func newStatsBody(s rollup.Summary) statsBody {
	b := statsBody{From: s.From, To: s.To, Seq: s.Seq, Behind: s.Behind, Exact: s.Exact, Total: s.Total,
		Counts: typeCounts(s.Counts), FailureRate: s.FailureRate, DurationsMS: map[string]quantilesBody{},
		Series: make([]pointBody, 0, len(s.Series)), Failures: make([]failureBody, 0, len(s.Failures)),
		Queues: make([]queueBody, 0, len(s.Queues)), Workers: make([]workerBody, 0, len(s.Workers))}
	for q, d := range s.Durations {
		b.DurationsMS[q] = quantilesBody(d)
	}
	for _, p := range s.Series {
		b.Series = append(b.Series, pointBody{Start: p.Start, WidthS: p.Width.Seconds(), Counts: typeCounts(p.Counts)})
	}
	for _, f := range s.Failures {
		b.Failures = append(b.Failures, failureBody(f))
	}
	for _, q := range s.Queues {
		b.Queues = append(b.Queues, queueBody(q))
	}
	for _, w := range s.Workers {
		b.Workers = append(b.Workers, workerBody(w))
	}
	return b
}

// stats answers GET /api/v1/stats from the rollups: counts by type,
// failure rate, duration percentiles, the time series, failure groups,
// queues and workers for environment/service/queue/type and a time
// interval (since/until, or window=DURATION back from now).
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	if a.rollups == nil {
		writeError(w, http.StatusServiceUnavailable, "rollups are not enabled on this server; serve runs them (module app/rollups)")
		return
	}
	q := r.URL.Query()
	if err := checkParams(q, statsParams); err != nil {
		bad(w, err)
		return
	}
	window, err := parseWindow(q)
	if err != nil {
		bad(w, err)
		return
	}
	fq := url.Values{}
	for k, v := range q {
		if k != "window" {
			fq[k] = v
		}
	}
	f, err := parseFilter(fq)
	if err != nil {
		bad(w, err)
		return
	}
	if window > 0 {
		if !f.Since.IsZero() {
			bad(w, badf("parameters window and since: give one of them"))
			return
		}
		end := f.Until
		if end.IsZero() {
			end = time.Now()
		}
		f.Since = end.Add(-window)
	}
	s, err := a.rollups.Summary(r.Context(), queryOf(f))
	if err != nil {
		a.storeError(w, r, "read the rollups", err)
		return
	}
	writeJSON(w, http.StatusOK, newStatsBody(s))
}

func parseWindow(q url.Values) (time.Duration, error) {
	v, err := one(q, "window")
	if err != nil || v == "" {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, badf("parameter window=%q: want a positive duration such as 1h or 15m", v)
	}
	return d, nil
}

func queryOf(f event.Filter) rollup.Query {
	return rollup.Query{Since: f.Since, Until: f.Until, Environment: f.Environment, Service: f.Service, Queue: f.Queue, Types: f.Types}
}

// countFromRollups answers a count from the rollups when they cover f: no
// job or worker in it, its time bounds on bucket boundaries (Summary.Exact)
// and the rollups caught up with the stream. ok false sends the count to
// the store.
func (a *API) countFromRollups(ctx context.Context, f event.Filter) (n int64, ok bool) {
	if a.rollups == nil || f.JobID != "" || f.Worker != "" {
		return 0, false
	}
	s, err := a.rollups.Summary(ctx, queryOf(f))
	if err != nil || !s.Exact || s.Behind > 0 {
		return 0, false
	}
	return s.Total, true
}
