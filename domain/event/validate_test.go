package event_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/naq-go/events/domain/event"
)

func TestValidate(t *testing.T) {
	valid := func() event.JobEvent {
		return event.Started("job-1", "w-1", "async", event.WithDuration(time.Second))
	}
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name   string
		modify func(e *event.JobEvent)
		want   string // "" = valid
	}{
		{"valid", func(*event.JobEvent) {}, ""},
		{"empty job_id", func(e *event.JobEvent) { e.JobID = "" }, "job_id is empty"},
		{"job_id with dot", func(e *event.JobEvent) { e.JobID = "a.b" }, `job_id "a.b" contains '.'`},
		{"job_id with wildcard", func(e *event.JobEvent) { e.JobID = "a>" }, `job_id "a>"`},
		{"job_id with space", func(e *event.JobEvent) { e.JobID = "a b" }, `job_id "a b" contains white space`},
		{"job_id too long", func(e *event.JobEvent) { e.JobID = strings.Repeat("x", 256) }, "is 256 bytes long"},
		{"empty type", func(e *event.JobEvent) { e.Type = "" }, "event_type is empty"},
		{"unknown type", func(e *event.JobEvent) { e.Type = "exploded" }, `event_type "exploded"`},
		{"zero timestamp", func(e *event.JobEvent) { e.Timestamp = time.Time{} }, "timestamp is zero"},
		{"before 1970", func(e *event.JobEvent) { e.Timestamp = time.Unix(-1, 0) }, "timestamp 1969-12-31T23:59:59Z is outside"},
		{"epoch is fine", func(e *event.JobEvent) { e.Timestamp = time.Unix(0, 0) }, ""},
		{"after 9999", func(e *event.JobEvent) { e.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside"},
		{"empty id", func(e *event.JobEvent) { e.ID = "" }, "event_id is empty"},
		{"id 64 bytes", func(e *event.JobEvent) { e.ID = strings.Repeat("a", 64) }, ""},
		{"id 65 bytes", func(e *event.JobEvent) { e.ID = strings.Repeat("a", 65) }, "is 65 bytes long, the limit is 64"},
		{"id with space", func(e *event.JobEvent) { e.ID = "a b" }, `event_id "a b" has byte 0x20 at 1`},
		{"id with newline", func(e *event.JobEvent) { e.ID = "a\r\nX: y" }, `has byte 0x0d at 1`},
		{"id non-ASCII", func(e *event.JobEvent) { e.ID = "ä" }, `has byte 0xc3 at 0`},
		{"id uuid", func(e *event.JobEvent) { e.ID = "3f2b9c1e-8d4a-4c1e-9f00-1234567890ab" }, ""},
		{"negative duration", func(e *event.JobEvent) { e.DurationMS = f(-1) }, "duration_ms is -1, must not be negative"},
		{"NaN memory", func(e *event.JobEvent) { e.MemoryMB = f(math.NaN()) }, "memory_mb is NaN"},
		{"Inf cpu", func(e *event.JobEvent) { e.CPUTimeMS = f(math.Inf(1)) }, "cpu_time_ms is +Inf"},
		{"-Inf cpu", func(e *event.JobEvent) { e.CPUTimeMS = f(math.Inf(-1)) }, "cpu_time_ms is -Inf"},
		{"zero metrics fine", func(e *event.JobEvent) { e.DurationMS, e.MemoryMB, e.CPUTimeMS = f(0), f(0), f(0) }, ""},
		{"first problem wins", func(e *event.JobEvent) { e.JobID, e.Type = "", "bad" }, "job_id is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := valid()
			c.modify(&e)
			err := e.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Validate = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}
