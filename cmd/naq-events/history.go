package main

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
)

func init() {
	register(command{
		name:    "history",
		summary: "show a job's timeline with the time between its events",
		usage:   "[flags] JOB",
		run:     runHistory,
	})
}

func runHistory(ctx context.Context, env *Env, args []string) error {
	c := newClient("history", env)
	jsonOut := c.fs.Bool("json", false, "print the events as v1.0 JSON lines")
	pos, err := c.parseArgs(env, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one job id, got %d arguments; e.g. naq-events history order-42", len(pos))
	}
	job := pos[0]
	if err := event.CheckToken("job id", job); err != nil {
		return usageErrorf("%v", err)
	}

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	events, err := s.store.Job(ctx, job, event.Page{})
	if err != nil {
		return fmt.Errorf("read job %s: %w", job, err)
	}
	if len(events) == 0 {
		return fmt.Errorf("no events for job %q in environment %q, service %q; check the job id, or --environment and --service (NAQ_ENVIRONMENT, NAQ_SERVICE)",
			job, c.cfg.Environment, c.cfg.Service)
	}
	// A timeline is in event time; events from several producers may have
	// reached the store in another order.
	slices.SortStableFunc(events, func(a, b event.JobEvent) int { return a.Timestamp.Compare(b.Timestamp) })

	w := bufio.NewWriter(env.Stdout)
	if *jsonOut {
		var buf []byte
		for i := range events {
			if buf, err = writeJSON(w, buf, &events[i]); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
	} else {
		writeTimeline(w, c.cfg.Environment+"/"+c.cfg.Service, events, colors(env, env.Stdout))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeTimeline writes a header, one line per event (time, type, time since
// the previous event, worker, duration, message, error) and the total span.
func writeTimeline(w *bufio.Writer, where string, events []event.JobEvent, color bool) {
	first, last := events[0].Timestamp, events[len(events)-1].Timestamp
	fmt.Fprintf(w, "job %s (%s): %s\n", events[0].JobID, where, plural(len(events), "event"))
	workerW := len("WORKER")
	for i := range events {
		workerW = max(workerW, len(events[i].WorkerID))
	}
	fmt.Fprintf(w, "%-23s  %-24s  %10s  %-*s  %9s  %s\n", "TIME", "TYPE", "+Δ", workerW, "WORKER", "DURATION", "MESSAGE")
	var line strings.Builder
	for i := range events {
		ev := &events[i]
		delta := ""
		if i > 0 {
			delta = fmtDelta(ev.Timestamp.Sub(events[i-1].Timestamp))
		}
		line.Reset()
		line.WriteString(ev.Timestamp.Local().Format("2006-01-02 15:04:05.000"))
		line.WriteString("  ")
		line.WriteString(paint(color, typeColor(ev.Type), string(ev.Type), 24))
		fmt.Fprintf(&line, "  %10s  %-*s  %9s  %s", delta, workerW, ev.WorkerID, durationText(ev), ev.Message)
		if e := errorText(ev); e != "" {
			line.WriteString("  " + paint(color, ansiRed, "error: "+e, 0))
		}
		fmt.Fprintln(w, line.String())
	}
	fmt.Fprintf(w, "total span %s, from %s to %s\n", fmtSpan(last.Sub(first)),
		first.Local().Format("15:04:05.000"), last.Local().Format("15:04:05.000"))
}

// fmtDelta shows the time between two events: "+0s", "+12ms", "+1.5s",
// "+2m3s"; negative only if timestamps went backwards.
func fmtDelta(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + fmtSpan(d)
}

func fmtSpan(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
