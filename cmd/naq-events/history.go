package main

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

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
	envGiven := c.set("environment") || env.Getenv("NAQ_ENVIRONMENT") != ""
	svcGiven := c.set("service") || env.Getenv("NAQ_SERVICE") != ""
	f := event.Filter{JobID: job, Environment: c.cfg.Environment, Service: c.cfg.Service}
	if !envGiven || !svcGiven {
		if f, err = findJob(ctx, env, s, job, envGiven, svcGiven, c); err != nil {
			return err
		}
	}
	recs, err := s.store.List(ctx, f, event.Page{})
	if err != nil {
		return fmt.Errorf("read job %s: %w", job, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("no events for job %q in environment %q, service %q; check the job id, or --environment and --service (NAQ_ENVIRONMENT, NAQ_SERVICE)",
			job, f.Environment, f.Service)
	}
	events := make([]event.JobEvent, len(recs))
	for i := range recs {
		events[i] = recs[i].Event
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
		writeTimeline(w, f.Environment+"/"+f.Service, events, colors(env, env.Stdout))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// findJob finds where job has events when the environment or the service
// was not given (flag or environment variable): under every environment
// and service, narrowed by the one given, from the store's subject index.
// One place is the answer (said on stderr when it is not the configured
// one); none or several are an error that lists what was searched or the
// candidates.
func findJob(ctx context.Context, env *Env, s *session, job string, envGiven, svcGiven bool, c *client) (event.Filter, error) {
	locs, err := ports.FindJob(ctx, s.store, job)
	if err != nil {
		return event.Filter{}, fmt.Errorf("find job %s: %w", job, err)
	}
	locs = slices.DeleteFunc(locs, func(l ports.JobLocation) bool {
		return (envGiven && l.Environment != c.cfg.Environment) || (svcGiven && l.Service != c.cfg.Service)
	})
	where := "any environment or service"
	switch {
	case envGiven:
		where = fmt.Sprintf("environment %q, any service", c.cfg.Environment)
	case svcGiven:
		where = fmt.Sprintf("service %q, any environment", c.cfg.Service)
	}
	switch len(locs) {
	case 0:
		return event.Filter{}, fmt.Errorf("no events for job %q in %s; check the job id", job, where)
	case 1:
		l := locs[0]
		if l.Environment != c.cfg.Environment || l.Service != c.cfg.Service {
			printInfo(env.Stderr, "history: job %s found in environment %s, service %s\n", job, l.Environment, l.Service)
		}
		return event.Filter{JobID: job, Environment: l.Environment, Service: l.Service}, nil
	}
	cands := make([]string, len(locs))
	for i, l := range locs {
		cands[i] = fmt.Sprintf("%s/%s (%s)", l.Environment, l.Service, plural(l.Events, "event"))
	}
	return event.Filter{}, fmt.Errorf("job %q has events in %d places: %s; name one with --environment and --service",
		job, len(locs), strings.Join(cands, ", "))
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
