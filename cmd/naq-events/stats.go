package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// statsTimeout bounds a stats run: catching up with the stream, or reading
// a job's or worker's events.
const statsTimeout = 2 * time.Minute

// statsResult is what stats prints; with --json, as is.
type statsResult struct {
	Window string    `json:"window"` // "all" with --all
	Since  time.Time `json:"since"`  // the interval counted: the window widened to whole buckets
	Until  time.Time `json:"until"`
	// Source is "rollups" (kept by `naq-events serve` in a key-value
	// bucket), "stream" (no bucket: computed from the stream by this run)
	// or "events" (a --job or --worker filter: those events read).
	Source      string         `json:"source"`
	Seq         uint64         `json:"seq,omitempty"` // the last stream sequence counted (rollups, stream)
	Total       int            `json:"total"`
	ByType      map[string]int `json:"by_type"`
	Completed   int            `json:"completed"`
	Failed      int            `json:"failed"`
	FailureRate *float64       `json:"failure_rate"` // failed/(completed+failed); null when both are 0
	Duration    durationStats  `json:"duration_ms"`  // of completed events with a duration
}

type durationStats struct {
	Count int      `json:"count"`
	P50   *float64 `json:"p50"`
	P95   *float64 `json:"p95"`
	P99   *float64 `json:"p99"`
	// RelativeError bounds the error of the percentiles: 0 when they are
	// exact (read from events), rollup.RelativeError from the rollups.
	RelativeError float64 `json:"relative_error"`
}

func runStats(ctx context.Context, env *Env, args []string) error {
	c := newClient("stats", env)
	var ff filterFlags
	ff.register(c.fs)
	window := c.fs.Duration("window", time.Hour, "look at events of the last `DURATION`, widened to whole minutes (whole hours beyond 24h)")
	all := c.fs.Bool("all", false, "look at every event the stream holds (instead of --window)")
	jsonOut := c.fs.Bool("json", false, "print the result as one JSON object")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usageErrorf("unexpected argument %q; stats takes only flags (e.g. --job %s)", c.fs.Arg(0), c.fs.Arg(0))
	case *window <= 0:
		return usageErrorf("--window %s: want a positive duration such as 1h or 15m", *window)
	case *all && c.set("window"):
		return usageErrorf("--all and --window: give one of them")
	}
	flt, err := ff.filter(c, env)
	if err != nil {
		return err
	}
	until := time.Now()
	if !*all {
		flt.Since = until.Add(-*window)
	}

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	rctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	var res statsResult
	if flt.JobID != "" || flt.Worker != "" {
		// Jobs and workers are not in the rollups: read their events.
		recs, err := s.store.List(rctx, flt, event.Page{})
		if err != nil {
			if *all {
				return fmt.Errorf("read every event of the stream: %w; try --window instead of --all", err)
			}
			return fmt.Errorf("read the events of the last %s: %w; try a shorter --window", *window, err)
		}
		res = computeStats(recs, *window, flt.Since, until)
	} else {
		res, err = rollupStats(rctx, env, c, s, flt)
		if err != nil {
			return err
		}
	}
	res.Window = window.String()
	if *all {
		res.Window = "all"
	}

	w := bufio.NewWriter(env.Stdout)
	if *jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	} else {
		writeStats(w, res)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// loaded hands the keeper the rollups stats loaded from the service's
// bucket, and never writes to it.
type loaded struct {
	r     *rollup.Rollups
	found bool
}

func (l loaded) Load(context.Context) (*rollup.Rollups, bool, error) { return l.r, l.found, nil }
func (loaded) Save(context.Context, rollup.Flush) error              { return nil }
func (loaded) Reset(context.Context) error                           { return nil }

// rollupsOpenTimeout bounds opening the rollups bucket (one stream info
// request). The server answers a request it refuses for lack of
// permission with an asynchronous -ERR, never on the request; stats
// notices the refusal (natsconn.UntilDenied) and does not wait that long.
var rollupsOpenTimeout = 5 * time.Second // a var for the tests

// noRollups says why stats computes the rollups from the stream.
type noRollups struct {
	missing bool   // no bucket: no serve keeps rollups on this server
	text    string // for the note on stderr
}

// loadRollups opens the bucket of the rollups `serve` keeps and loads
// them, as a Persister for a keeper of this run. Without them it returns
// a nil Persister and why: no bucket, a bucket this user may not read
// (the refused subject named), rollups that do not decode. Other failures
// (a server that does not answer within rollupsOpenTimeout) are errors.
func loadRollups(ctx context.Context, nc *nats.Conn, stream string) (rollups.Persister, noRollups, error) {
	bucket := rollups.Bucket(stream)
	since := time.Now()
	// A refused request is answered only by the server's -ERR: the open
	// and the load end on it rather than at their timeout.
	wctx, stop := natsconn.UntilDenied(ctx, nc)
	defer stop()
	octx, cancel := context.WithTimeout(wctx, rollupsOpenTimeout)
	defer cancel()
	st, err := jsrollup.NewState(octx, nc, false, jsrollup.WithBucket(bucket))
	if err == nil {
		var r *rollup.Rollups
		var found bool
		// Loading reads every chunk: the stats deadline, not the open's.
		if r, found, err = st.Load(wctx); err == nil {
			return loaded{r: r, found: found}, noRollups{}, nil
		}
	}
	err = natsconn.Explain(nc, since, err)
	switch {
	case errors.Is(err, ports.ErrNotFound):
		return nil, noRollups{missing: true, text: fmt.Sprintf("no rollups on this server (bucket %q; `naq-events serve` keeps them)", bucket)}, nil
	case errors.Is(err, natsconn.ErrPermission):
		what := err.Error()
		if op, subj, ok := natsconn.Refused(nc, since); ok {
			what = fmt.Sprintf("NATS refused %s to %q", op, subj)
		}
		return nil, noRollups{text: fmt.Sprintf("this user may not read the rollups (bucket %q: %s; see the reader role in the Security section of docs/operations.md)",
			bucket, what)}, nil
	case errors.Is(err, rollup.ErrCorrupt):
		return nil, noRollups{text: fmt.Sprintf("the rollups in bucket %q do not decode (%v)", bucket, err)}, nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return nil, noRollups{}, fmt.Errorf("open the rollups of stream %q: no answer from NATS within %s: %w", stream, rollupsOpenTimeout, err)
	default:
		return nil, noRollups{}, fmt.Errorf("open the rollups of stream %q: %w", stream, err)
	}
}

// rollupStats answers from the rollups `serve` keeps (bucket
// rollups.Bucket(stream)), brought up to the stream's last sequence (and
// reconciled with its deletes) by this run. Without them (no bucket, a
// bucket this user may not read, rollups that do not decode) it computes
// them from the stream, as exactly, and says so on stderr.
func rollupStats(ctx context.Context, env *Env, c *client, s *session, flt event.Filter) (statsResult, error) {
	stream := c.cfg.Stream.Name
	log, err := jsrollup.NewLog(ctx, s.nc, stream)
	if err != nil {
		return statsResult{}, fmt.Errorf("open stream %q for its rollups: %w", stream, err)
	}
	source := "rollups"
	persist, why, err := loadRollups(ctx, s.nc, stream)
	if err != nil {
		return statsResult{}, err
	}
	if persist == nil {
		source = "stream"
		// No bucket and no events is a new set-up: nothing to say.
		state, serr := log.State(ctx)
		switch {
		case serr != nil:
			_, _ = fmt.Fprintf(env.Stderr, "naq-events stats: %s: computing them from stream %q\n", why.text, stream)
		case state.Msgs > 0 || !why.missing:
			_, _ = fmt.Fprintf(env.Stderr, "naq-events stats: %s: computing them from the %s of stream %q\n",
				why.text, plural(int(state.Msgs), "event"), stream)
		}
	}
	k := rollups.New(log, persist,
		rollups.WithFreshWait(statsTimeout), rollups.WithFreshMax(math.MaxUint64),
		rollups.WithSlog(slog.New(slog.DiscardHandler)))
	if err := k.Start(ctx); err != nil {
		return statsResult{}, fmt.Errorf("load the rollups of stream %q: %w", stream, err)
	}
	defer func() { _ = k.Stop(context.Background()) }()
	q := rollup.Query{Since: flt.Since, Environment: flt.Environment, Service: flt.Service, Queue: flt.Queue, Types: flt.Types}
	sum, err := k.Summary(ctx, q)
	if err != nil {
		return statsResult{}, fmt.Errorf("read the rollups of stream %q: %w", stream, err)
	}
	if sum.Behind > 0 {
		return statsResult{}, fmt.Errorf("the rollups of stream %q are %d events behind after %s; retry, or check that the stream is readable",
			stream, sum.Behind, statsTimeout)
	}
	res := statsResult{Since: sum.From, Until: sum.To, Source: source, Seq: sum.Seq, Total: int(sum.Total), ByType: map[string]int{}}
	if res.Until.IsZero() || time.Now().Before(res.Until) {
		res.Until = time.Now().UTC().Truncate(time.Millisecond)
	}
	if res.Since.IsZero() {
		res.Since = res.Until
	}
	for t, n := range sum.Counts {
		res.ByType[string(t)] = int(n)
	}
	res.Completed, res.Failed = int(sum.Counts[event.TypeCompleted]), int(sum.Counts[event.TypeFailed])
	if n := res.Completed + res.Failed; n > 0 {
		res.FailureRate = new(float64(res.Failed) / float64(n))
	}
	// Durations of completed events only, as from events.
	if len(q.Types) == 0 || slices.Contains(q.Types, event.TypeCompleted) {
		q.Types = []event.JobEventType{event.TypeCompleted}
		ds, err := k.Rollups().Summary(ctx, q)
		if err != nil {
			return statsResult{}, err
		}
		if d := ds.Durations[""]; d.Count > 0 {
			res.Duration = durationStats{Count: int(d.Count), P50: new(d.P50), P95: new(d.P95), P99: new(d.P99), RelativeError: rollup.RelativeError}
		}
	}
	return res, nil
}

func computeStats(recs []event.Record, window time.Duration, since, until time.Time) statsResult {
	res := statsResult{
		Window: window.String(),
		Since:  since.UTC().Truncate(time.Millisecond),
		Until:  until.UTC().Truncate(time.Millisecond),
		Total:  len(recs),
		ByType: map[string]int{},
		Source: "events",
	}
	var durations []float64
	for i := range recs {
		ev := &recs[i].Event
		res.ByType[string(ev.Type)]++
		switch ev.Type {
		case event.TypeCompleted:
			res.Completed++
			if ev.DurationMS != nil {
				durations = append(durations, *ev.DurationMS)
			}
		case event.TypeFailed:
			res.Failed++
		}
	}
	if n := res.Completed + res.Failed; n > 0 {
		res.FailureRate = new(float64(res.Failed) / float64(n))
	}
	slices.Sort(durations)
	res.Duration.Count = len(durations)
	res.Duration.P50 = percentile(durations, 50)
	res.Duration.P95 = percentile(durations, 95)
	res.Duration.P99 = percentile(durations, 99)
	return res
}

// percentile returns the nearest-rank p-th percentile of sorted values: the
// smallest value with at least p percent of the values at or below it; nil
// when there are none.
func percentile(sorted []float64, p float64) *float64 {
	if len(sorted) == 0 {
		return nil
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return new(sorted[min(max(rank, 1), len(sorted))-1])
}

// byCount returns the types of res sorted by count, most first, then name.
func byCount(res statsResult) []string {
	types := make([]string, 0, len(res.ByType))
	for t := range res.ByType {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		return cmp.Or(cmp.Compare(res.ByType[b], res.ByType[a]), cmp.Compare(a, b))
	})
	return types
}

func writeStats(w *bufio.Writer, res statsResult) {
	if res.Window == "all" {
		fmt.Fprintf(w, "%s in the stream (since %s)", plural(res.Total, "event"), res.Since.Local().Format("2006-01-02 15:04:05"))
	} else {
		fmt.Fprintf(w, "%s in the last %s (since %s)", plural(res.Total, "event"), res.Window,
			res.Since.Local().Format("2006-01-02 15:04:05"))
	}
	switch res.Source {
	case "rollups", "stream":
		fmt.Fprintf(w, " from the %s, through sequence %d\n", res.Source, res.Seq)
	default:
		fmt.Fprintln(w)
	}
	for _, t := range byCount(res) {
		fmt.Fprintf(w, "  %-24s %8d\n", t, res.ByType[t])
	}
	if res.FailureRate != nil {
		fmt.Fprintf(w, "failure rate  %.1f%% (%d failed, %d completed)\n", *res.FailureRate*100, res.Failed, res.Completed)
	} else {
		fmt.Fprintln(w, "failure rate  n/a (no completed or failed events)")
	}
	if d := res.Duration; d.Count > 0 {
		approx := ""
		if d.RelativeError > 0 {
			approx = fmt.Sprintf(", ±%g%%", d.RelativeError*100)
		}
		fmt.Fprintf(w, "duration      p50 %s  p95 %s  p99 %s  (%s%s)\n",
			fmtDuration(*d.P50), fmtDuration(*d.P95), fmtDuration(*d.P99), plural(d.Count, "completed event"), approx)
	} else {
		fmt.Fprintln(w, "duration      n/a (no completed events with a duration)")
	}
}
