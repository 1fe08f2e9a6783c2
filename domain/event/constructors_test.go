package event_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

// TestConstructors: every type of event.Types has a constructor (the
// fixtures list them in the same order), which sets the type, a fresh id, the
// current time and a message, and whose event validates.
func TestConstructors(t *testing.T) {
	types := event.Types()
	if len(types) != 24 || len(fixtures) != len(types) {
		t.Fatalf("%d types, %d constructor fixtures; want 24 of each", len(types), len(fixtures))
	}
	seen := map[string]bool{}
	for i, f := range fixtures {
		t.Run(string(f.typ), func(t *testing.T) {
			check(t, "fixture order follows Types()", f.typ, types[i])
			before := time.Now().Truncate(time.Microsecond)
			ev := f.build()
			after := time.Now()
			check(t, "type", ev.Type, f.typ)
			check(t, "job", ev.JobID, "job-1")
			if err := ev.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(ev.ID) != event.IDLen || seen[ev.ID] {
				t.Errorf("id %q is not a fresh %d-character id", ev.ID, event.IDLen)
			}
			seen[ev.ID] = true
			if ev.Timestamp.Before(before) || ev.Timestamp.After(after) {
				t.Errorf("timestamp %v not between %v and %v", ev.Timestamp, before, after)
			}
			check(t, "timestamp has µs precision", ev.Timestamp.Nanosecond()%1000, 0)
			if ev.Message == "" {
				t.Error("no message")
			}
			for k := range ev.Details {
				if k != strings.ToLower(k) || strings.ContainsAny(k, " -") {
					t.Errorf("details key %q is not snake_case", k)
				}
			}
			if _, err := ev.AppendJSON(nil); err != nil {
				t.Errorf("AppendJSON: %v", err)
			}
			// Options apply after the constructor's own fields.
			o := f.build(event.WithMessage("custom"), event.WithWorker("w-9", "process"), event.WithDetail("extra", 1))
			check(t, "WithMessage overrides", o.Message, "custom")
			check(t, "WithWorker overrides", o.WorkerID+"/"+o.WorkerType, "w-9/process")
			check(t, "WithDetail adds", o.Details["extra"], any(1))
		})
	}
}

// TestConstructorFields checks the design's own examples and the units of
// durations and times.
func TestConstructorFields(t *testing.T) {
	e := event.Enqueued("j", "q", 0)
	check(t, "enqueued message", e.Message, "Job enqueued to 'q' with priority 0")
	check(t, "enqueued priority", e.Details["priority"], any(0))
	check(t, "enqueued queue", e.QueueName, "q")

	s := event.Started("j", "w-1", "async")
	check(t, "started message", s.Message, "Job started on async worker w-1")

	c := event.Completed("j", "w-1", 12500*time.Microsecond)
	check(t, "completed message", c.Message, "Job completed successfully in 12.50ms")
	check(t, "completed duration_ms", *c.DurationMS, 12.5)

	f := event.Failed("j", "w-1", errors.New("boom"), 3*time.Millisecond, 1)
	check(t, "failed message", f.Message, "Job failed after 3.00ms (retry 1)")
	check(t, "failed error_type", f.ErrorType, "errors.errorString")
	check(t, "failed error_message", f.ErrorMessage, "boom")
	check(t, "failed retry_count", f.Details["retry_count"], any(1))
	check(t, "failed duration_ms", *f.DurationMS, 3.0)

	n := event.Failed("j", "w-1", nil, 0, 0)
	check(t, "nil error → no error fields", n.ErrorType+n.ErrorMessage, "")

	check(t, "timeout_ms", event.Timeout("j", "w", 1500*time.Millisecond).Details["timeout_ms"], any(1500.0))
	check(t, "delay_ms", event.RetryScheduled("j", 1, 250*time.Microsecond).Details["delay_ms"], any(0.25))
	check(t, "ttl_ms", event.TTLExpired("j", time.Minute).Details["ttl_ms"], any(60000.0))
	at := time.Date(2030, 1, 2, 3, 4, 5, 678901234, time.UTC)
	check(t, "run_at in seconds, µs", event.Scheduled("j", at).Details["run_at"], any(1893553445.678901))
	check(t, "expires_at", event.TTLExtended("j", at).Details["expires_at"], any(1893553445.678901))
	check(t, "scheduled message", event.Scheduled("j", at).Message, "Job scheduled to run at 2030-01-02T03:04:05.678901Z")

	ids := []string{"a", "b"}
	w := event.WaitingForDependencies("j", ids)
	ids[0] = "changed"
	deps, ok := w.Details["dependency_ids"].([]string)
	if !ok || len(deps) != 2 {
		t.Fatalf("dependency_ids = %#v, want a []string of 2", w.Details["dependency_ids"])
	}
	check(t, "dependency_ids copied", deps[0], "a")

	check(t, "cancel without reason", event.Cancelled("j", "").Message, "Job cancelled")
	check(t, "cancel without reason has no details", event.Cancelled("j", "").Details == nil, true)
	check(t, "moved sets new queue", event.QueueMoved("j", "a", "b").QueueName, "b")
}

type codeError struct{ code int }

func (e codeError) Error() string { return fmt.Sprint("code ", e.code) }

func TestErrorType(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("x"), "errors.errorString"},
		{fmt.Errorf("plain %d", 1), "errors.errorString"},
		{pathErr, "fs.PathError"},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", pathErr)), "fs.PathError"},
		{fmt.Errorf("a: %w, %w", pathErr, os.ErrClosed), "fmt.wrapErrors"},
		{errors.Join(pathErr, os.ErrClosed), "errors.joinError"},
		{codeError{1}, "event_test.codeError"},
		{context.DeadlineExceeded, "context.deadlineExceededError"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			check(t, "ErrorType", event.ErrorType(c.err), c.want)
		})
	}
}
