package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

func init() {
	register(command{
		name:    "stats",
		summary: "counts by type, failure rate and duration percentiles over a window",
		usage:   "[flags]",
		run:     runStats,
	})
}

// statsTimeout bounds reading the window: a big window is read in full.
const statsTimeout = 2 * time.Minute

// statsResult is what stats prints; with --json, as is.
type statsResult struct {
	Window      string         `json:"window"`
	Since       time.Time      `json:"since"`
	Until       time.Time      `json:"until"`
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
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
}

func runStats(ctx context.Context, env *Env, args []string) error {
	c := newClient("stats", env)
	var ff filterFlags
	ff.register(c.fs)
	window := c.fs.Duration("window", time.Hour, "look at events of the last `DURATION`")
	jsonOut := c.fs.Bool("json", false, "print the result as one JSON object")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usageErrorf("unexpected argument %q; stats takes only flags (e.g. --job %s)", c.fs.Arg(0), c.fs.Arg(0))
	case *window <= 0:
		return usageErrorf("--window %s: want a positive duration such as 1h or 15m", *window)
	}
	flt, err := ff.filter(c, env)
	if err != nil {
		return err
	}
	until := time.Now()
	flt.Since = until.Add(-*window)

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	rctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	recs, err := s.store.List(rctx, flt, event.Page{})
	if err != nil {
		return fmt.Errorf("read the events of the last %s: %w; try a shorter --window", *window, err)
	}
	res := computeStats(recs, *window, flt.Since, until)

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

func computeStats(recs []event.Record, window time.Duration, since, until time.Time) statsResult {
	res := statsResult{
		Window: window.String(),
		Since:  since.UTC().Truncate(time.Millisecond),
		Until:  until.UTC().Truncate(time.Millisecond),
		Total:  len(recs),
		ByType: map[string]int{},
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
	res.Duration.P90 = percentile(durations, 90)
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
	fmt.Fprintf(w, "%s in the last %s (since %s)\n", plural(res.Total, "event"), res.Window,
		res.Since.Local().Format("2006-01-02 15:04:05"))
	for _, t := range byCount(res) {
		fmt.Fprintf(w, "  %-24s %8d\n", t, res.ByType[t])
	}
	if res.FailureRate != nil {
		fmt.Fprintf(w, "failure rate  %.1f%% (%d failed, %d completed)\n", *res.FailureRate*100, res.Failed, res.Completed)
	} else {
		fmt.Fprintln(w, "failure rate  n/a (no completed or failed events)")
	}
	if d := res.Duration; d.Count > 0 {
		fmt.Fprintf(w, "duration      p50 %s  p90 %s  p99 %s  (%s)\n",
			fmtDuration(*d.P50), fmtDuration(*d.P90), fmtDuration(*d.P99), plural(d.Count, "completed event"))
	} else {
		fmt.Fprintln(w, "duration      n/a (no completed events with a duration)")
	}
}
