package subject_test

import (
	"errors"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

// FuzzParse checks that Parse never panics, fails only with event.ErrInvalid,
// and accepts exactly the subjects For builds: For(Parse(s)) == s.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"naq.events.prod.billing.job-1.started",
		"naq.events.dev.my-service.0b6f0e2c-3c1e-4a53-9a0e-2f1d1f5f6a10.waiting_for_dependencies",
		"naq.events.prod.billing.a.b.started",
		"naq.events.prod.billing.*.started",
		"naq.events.prod.billing.>",
		"naq.events.*.*.*.*",
		"naq.events.prod.all.completed",
		"naq.events..billing.job-1.started",
		"naq.events.prod.billing.job-1.",
		"naq.events.prod.bi\xffing.job-1.failed",
		"naq.events.prod.billing.a b.failed",
		"naq.events",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := subject.Parse(s)
		if err != nil {
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap event.ErrInvalid", s, err)
			}
			return
		}
		got, err := subject.For(parts.Environment, parts.Service, parts.JobID, parts.Type)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but For rejects it: %v", s, parts, err)
		}
		if got != s {
			t.Fatalf("For(Parse(%q)) = %q", s, got)
		}
		if !subject.Match(subject.StreamFilter(), s) {
			t.Fatalf("parsed subject %q is outside the stream filter", s)
		}
	})
}

// FuzzFor checks that For either rejects its input with event.ErrInvalid or
// builds a subject that Parse inverts exactly and that the job's history
// filter, and only its own, selects.
func FuzzFor(f *testing.F) {
	f.Add("prod", "billing", "job-1", "started")
	f.Add("dev", "svc", "a.b", "failed")
	f.Add("dev", "svc", "*", "failed")
	f.Add("dev", "svc", ">", "completed")
	f.Add("dev", "svc", "a b", "enqueued")
	f.Add("", "svc", "job", "started")
	f.Add("dev", "svc", "a\x00b", "ttl_expired")
	f.Add("dev", "svc", "\xff", "timeout")
	f.Add("dev", "svc", "ジョブ", "queue_moved")
	f.Add("dev", "svc", "job", "bogus")
	f.Fuzz(func(t *testing.T, env, svc, jobID, typ string) {
		s, err := subject.For(env, svc, jobID, event.JobEventType(typ))
		if err != nil {
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("For error %v does not wrap event.ErrInvalid", err)
			}
			if s != "" {
				t.Fatalf("For returned %q with error %v", s, err)
			}
			return
		}
		parts, err := subject.Parse(s)
		if err != nil {
			t.Fatalf("Parse(For(%q, %q, %q, %q) = %q): %v", env, svc, jobID, typ, s, err)
		}
		want := subject.Parts{Environment: env, Service: svc, JobID: jobID, Type: event.JobEventType(typ)}
		if parts != want {
			t.Fatalf("Parse(%q) = %+v, want %+v", s, parts, want)
		}
		history, err := subject.Job(env, svc, jobID)
		if err != nil {
			t.Fatalf("Job(%q, %q, %q): %v", env, svc, jobID, err)
		}
		if !subject.Match(history, s) {
			t.Fatalf("history filter %q does not match %q", history, s)
		}
		if other, err := subject.Job(env, svc, jobID+"x"); err == nil && subject.Match(other, s) {
			t.Fatalf("history filter %q of another job matches %q", other, s)
		}
		buf, err := subject.AppendFor(nil, env, svc, jobID, event.JobEventType(typ))
		if err != nil || string(buf) != s {
			t.Fatalf("AppendFor = %q, %v; For = %q", buf, err, s)
		}
	})
}
