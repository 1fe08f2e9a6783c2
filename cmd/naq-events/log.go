package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/cmd/internal/linereader"
	"github.com/naq-go/events/domain/event"
)

// The summary and usage of log and of its alias emit.
const (
	logSummary = "log one event from flags, or v1.0 JSON lines from stdin (- or --stdin)"
	logUsage   = "[flags] --job JOB --type TYPE | [flags] -"
)

// logCommand runs `log` under name (log or emit).
func logCommand(name string) func(ctx context.Context, env *Env, args []string) error {
	return func(ctx context.Context, env *Env, args []string) error {
		return runLog(ctx, env, name, args)
	}
}

// maxLine is the longest stdin line accepted: more than NATS's default
// maximum message size, so a line that long could not be stored anyway.
const maxLine = 4 << 20

// runLog runs `log` under its name or alias.
func runLog(ctx context.Context, env *Env, name string, args []string) error {
	c := newClient(name, env)
	var (
		job, typ, queue, worker, workerType, message, errMsg, errType string
		duration                                                      time.Duration
		tags, details                                                 kvFlag
		stdin                                                         bool
	)
	fs := c.fs
	fs.StringVar(&job, "job", "", "job id (required without --stdin)")
	fs.StringVar(&typ, "type", "", "event type, e.g. started, completed, failed (required without --stdin)")
	fs.StringVar(&queue, "queue", "", "queue name")
	fs.StringVar(&worker, "worker", "", "worker id")
	fs.StringVar(&workerType, "worker-type", "", "worker type, e.g. async, thread, process")
	fs.StringVar(&message, "message", "", "human-readable message")
	fs.DurationVar(&duration, "duration", 0, "run time, written as duration_ms, e.g. 1.5s")
	fs.StringVar(&errMsg, "error", "", "error message (error_message)")
	fs.StringVar(&errType, "error-type", "", "error type (error_type); default Error when --error is given")
	fs.Var(&tags, "tag", "tag key=value (repeatable)")
	fs.Var(&details, "detail", "detail key=value (repeatable); a JSON value (number, true, {…}) is kept as such")
	fs.BoolVar(&stdin, "stdin", false, "read v1.0 JSON events, one per line, from stdin")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch rest := fs.Args(); {
	case len(rest) == 1 && rest[0] == "-":
		stdin = true
	case len(rest) > 0:
		return usageErrorf("unexpected argument %q; give the event with flags, or - to read JSON lines from stdin", rest[0])
	}

	if stdin {
		if set := c.setAny("job", "type", "queue", "worker", "worker-type", "message", "duration", "error", "error-type", "tag", "detail"); set != "" {
			return usageErrorf("--%s describes an event from flags; with --stdin (or -) the events come from stdin only", set)
		}
		return logStdin(ctx, c, env)
	}

	if job == "" || typ == "" {
		return usageErrorf("give --job and --type (e.g. --job order-42 --type started), or - to read JSON lines from stdin")
	}
	if err := event.CheckToken("--job", job); err != nil {
		return usageErrorf("%v", err)
	}
	types, err := parseTypes([]string{typ})
	if err != nil {
		return err
	}
	ev := event.New(job, types[0],
		event.WithQueue(queue), event.WithWorker(worker, workerType), event.WithMessage(message))
	if c.set("duration") {
		if duration < 0 {
			return usageErrorf("--duration %s: want a positive duration", duration)
		}
		ev.DurationMS = new(float64(duration) / float64(time.Millisecond))
	}
	if errMsg != "" || errType != "" {
		ev.ErrorMessage, ev.ErrorType = errMsg, errType
		if ev.ErrorType == "" {
			ev.ErrorType = "Error"
		}
	}
	for i, k := range tags.keys {
		event.WithTag(k, tags.values[i])(&ev)
	}
	for i, k := range details.keys {
		event.WithDetail(k, detailValue(details.values[i]))(&ev)
	}
	if _, err := ev.AppendJSON(nil); err != nil {
		return usageErrorf("the event from flags is not valid: %v", err)
	}

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	lg := c.newLogger(s)
	if err := lg.LogSync(ctx, ev); err != nil {
		_ = closeLogger(ctx, lg)
		return fmt.Errorf("event %s not stored: %w", ev.ID, err)
	}
	if err := closeLogger(ctx, lg); err != nil {
		return fmt.Errorf("close logger: %w", err)
	}
	if _, err := fmt.Fprintf(env.Stdout, "logged %s event %s of job %s\n", ev.Type, ev.ID, ev.JobID); err != nil {
		return fmt.Errorf("logged event %s, but writing the result failed: %w", ev.ID, err)
	}
	return nil
}

// setAny returns the first of the named flags given on the command line.
func (c *client) setAny(names ...string) string {
	for _, n := range names {
		if c.set(n) {
			return n
		}
	}
	return ""
}

// detailValue keeps a JSON literal (number, bool, null, object, array,
// quoted string) as that value and anything else as a string.
func detailValue(s string) any {
	var v any
	if json.Valid([]byte(s)) && json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}

// logStdin logs every line of stdin as one event. A line that is not a
// valid event is reported on stderr as "line N: <error>" and counted; the
// other lines still go through. Blank lines are skipped.
func logStdin(ctx context.Context, c *client, env *Env) error {
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	lg := c.newLogger(s)

	var (
		r        = bufio.NewReaderSize(env.Stdin, 64<<10)
		lineNo   int
		accepted int
		bad      []int
		readErr  error
	)
	for ctx.Err() == nil {
		line, tooLong, err := readLine(r, maxLine)
		if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0 && !tooLong) {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		lineNo++
		var lineErr error
		switch {
		case tooLong:
			lineErr = fmt.Errorf("longer than %d bytes; a NATS message cannot hold it", maxLine)
		case len(bytes.TrimSpace(line)) == 0:
			continue
		default:
			var ev event.JobEvent
			if ev, lineErr = event.Decode(line); lineErr == nil {
				lineErr = lg.LogCtx(ctx, ev)
			}
		}
		if lineErr != nil {
			if errors.Is(lineErr, context.Canceled) && ctx.Err() != nil {
				break
			}
			bad = append(bad, lineNo)
			printInfo(env.Stderr, "line %d: %v\n", lineNo, lineErr)
			continue
		}
		accepted++
	}

	closeErr := closeLogger(ctx, lg)
	st := lg.Stats()
	stored := int(st.Stored)
	notStored := accepted - stored
	summary := fmt.Sprintf("logged %d events, %s rejected", stored, plural(len(bad), "line"))
	var problems []string
	if len(bad) > 0 {
		problems = append(problems, fmt.Sprintf("%s (see the errors above); fix them and send those lines again", lineList(bad)))
	}
	if notStored > 0 {
		why := ""
		if closeErr != nil {
			why = ": " + closeErr.Error()
		} else if st.Dropped.Rejected > 0 {
			why = fmt.Sprintf(": the store rejected %d as invalid", st.Dropped.Rejected)
		}
		problems = append(problems, fmt.Sprintf("%d valid events not stored%s", notStored, why))
	}
	if readErr != nil {
		problems = append(problems, fmt.Sprintf("reading stdin stopped after line %d: %v", lineNo, readErr))
	}
	if ctx.Err() != nil {
		problems = append(problems, fmt.Sprintf("interrupted after line %d", lineNo))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", summary, strings.Join(problems, "; "))
	}
	if _, err := fmt.Fprintln(env.Stdout, summary); err != nil {
		return fmt.Errorf("%s, but writing this result failed: %w", summary, err)
	}
	return nil
}

// readLine reads one line of stdin: linereader.Read (a line longer than
// max, its ending not counted, is consumed and reported with tooLong).
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	return linereader.Read(r, max)
}

// lineList names bad lines: "line 2", "lines 2, 5 and 9", or the first
// ones and a count.
func lineList(lines []int) string {
	const show = 5
	parts := make([]string, 0, show)
	for i, n := range lines {
		if i == show {
			break
		}
		parts = append(parts, strconv.Itoa(n))
	}
	switch {
	case len(lines) == 1:
		return "line " + parts[0]
	case len(lines) > show:
		return fmt.Sprintf("lines %s and %d more", strings.Join(parts, ", "), len(lines)-show)
	}
	return "lines " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
