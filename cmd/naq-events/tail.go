package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
)

func runTail(ctx context.Context, env *Env, args []string) error {
	c := newClient("tail", env)
	var ff filterFlags
	ff.register(c.fs)
	history := c.fs.Bool("history", false, "start with every stored event that matches, then follow")
	since := c.fs.Duration("since", 0, "start with the events stored in the last `DURATION` (e.g. 10m), then follow")
	count := c.fs.Int("count", 0, "stop after `N` events; 0 follows until Ctrl-C")
	jsonOut := c.fs.Bool("json", false, "print v1.0 JSON lines instead of readable lines")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usageErrorf("unexpected argument %q; tail takes only flags (e.g. --job %s)", c.fs.Arg(0), c.fs.Arg(0))
	case *count < 0:
		return usageErrorf("--count %d: want 0 (no limit) or more", *count)
	case *since < 0:
		return usageErrorf("--since %s: want a positive duration such as 10m", *since)
	case *history && *since > 0:
		return usageErrorf("--history and --since both say where to start; give one of them")
	}
	flt, err := ff.filter(c, env)
	if err != nil {
		return err
	}
	opts := event.StreamOptions{History: *history}
	if *since > 0 {
		opts.FromTime = time.Now().Add(-*since)
	}

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	p := &printer{w: env.Stdout, json: *jsonOut, color: colors(env, env.Stdout)}
	n := 0
	for rec, err := range s.store.Stream(ctx, flt, opts) {
		if err != nil {
			return fmt.Errorf("following events: %w", err)
		}
		if err := p.print(rec); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		if n++; *count > 0 && n >= *count {
			return nil
		}
	}
	return nil
}

// printer writes records as tail shows them.
type printer struct {
	w     io.Writer
	json  bool
	color bool
	buf   []byte
	line  strings.Builder
}

func (p *printer) print(rec eventRecord) error {
	var err error
	if p.json {
		p.buf, err = writeJSON(p.w, p.buf, &rec.Event)
		return err
	}
	p.line.Reset()
	readableLine(&p.line, rec, p.color)
	_, err = io.WriteString(p.w, p.line.String())
	return err
}

// eventRecord is event.Record; the alias keeps signatures short.
type eventRecord = event.Record

// readableLine writes one aligned line: time, environment/service, job,
// type, worker@queue, duration, message and error.
func readableLine(b *strings.Builder, rec event.Record, color bool) {
	ev := &rec.Event
	b.WriteString(ev.Timestamp.Local().Format("15:04:05.000"))
	b.WriteString("  ")
	b.WriteString(paint(false, "", rec.Environment+"/"+rec.Service, 12))
	b.WriteString("  ")
	b.WriteString(paint(false, "", ev.JobID, 20))
	b.WriteString("  ")
	b.WriteString(paint(color, typeColor(ev.Type), string(ev.Type), 24))
	b.WriteString("  ")
	b.WriteString(paint(false, "", where(ev), 22))
	fmt.Fprintf(b, "  %9s  ", durationText(ev))
	b.WriteString(ev.Message)
	if e := errorText(ev); e != "" {
		b.WriteString("  ")
		b.WriteString(paint(color, ansiRed, e, 0))
	}
	b.WriteByte('\n')
}

// durationText is the event's duration_ms for a column, or "".
func durationText(ev *event.JobEvent) string {
	if ev.DurationMS == nil {
		return ""
	}
	return fmtDuration(*ev.DurationMS)
}

// where is "worker@queue", either part when only one is known, or "-".
func where(ev *event.JobEvent) string {
	switch {
	case ev.WorkerID != "" && ev.QueueName != "":
		return ev.WorkerID + "@" + ev.QueueName
	case ev.WorkerID != "":
		return ev.WorkerID
	case ev.QueueName != "":
		return "@" + ev.QueueName
	}
	return "-"
}

// errorText is "Type: message" of an event's error, or "".
func errorText(ev *event.JobEvent) string {
	switch {
	case ev.ErrorType != "" && ev.ErrorMessage != "":
		return ev.ErrorType + ": " + ev.ErrorMessage
	case ev.ErrorMessage != "":
		return ev.ErrorMessage
	}
	return ev.ErrorType
}
