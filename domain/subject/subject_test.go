package subject_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

func TestForParseRoundTrip(t *testing.T) {
	ids := []struct{ env, svc, job string }{
		{"prod", "billing", "0b6f0e2c-3c1e-4a53-9a0e-2f1d1f5f6a10"},
		{"dev", "my-service", "job_42"},
		{"staging", "Ünïcødé", "ジョブ"},
		{"e", "s", strings.Repeat("x", event.MaxTokenLen)},
		{"$env", "svc:1", "a-b+c=d/e\\f"},
	}
	for _, typ := range event.Types() {
		for _, id := range ids {
			t.Run(string(typ)+"/"+id.env, func(t *testing.T) {
				got, err := subject.For(id.env, id.svc, id.job, typ)
				if err != nil {
					t.Fatalf("For: %v", err)
				}
				want := "naq.events." + id.env + "." + id.svc + "." + id.job + "." + string(typ)
				if got != want {
					t.Fatalf("For = %q, want %q", got, want)
				}
				parts, err := subject.Parse(got)
				if err != nil {
					t.Fatalf("Parse(%q): %v", got, err)
				}
				wantParts := subject.Parts{Environment: id.env, Service: id.svc, JobID: id.job, Type: typ}
				if parts != wantParts {
					t.Fatalf("Parse = %+v, want %+v", parts, wantParts)
				}
				e := event.JobEvent{JobID: id.job, Type: typ}
				if s, err := subject.ForEvent(id.env, id.svc, &e); err != nil || s != want {
					t.Fatalf("ForEvent = %q, %v; want %q", s, err, want)
				}
			})
		}
	}
}

// badTokens are values no token may take, with what the error must say
// besides the field name.
var badTokens = []struct {
	name, value string
	wantInErr   string
}{
	{"dot", "a.b", `"a.b"`},
	{"star", "*", `"*"`},
	{"gt", ">", `">"`},
	{"star inside", "a*", `"a*"`},
	{"gt inside", "a>b", `"a>b"`},
	{"space", "a b", `"a b"`},
	{"empty", "", "empty"},
	{"tab", "\t", `"\t"`},
	{"newline", "a\nb", `"a\nb"`},
	{"too long", strings.Repeat("x", event.MaxTokenLen+1), "256 bytes"},
	{"nul", "a\x00b", `"a\x00b"`},
	{"invalid utf8", "a\xffb", `"a\xffb"`},
	{"unicode space", "a\u00a0b", `"a\u00a0b"`},
	{"del", "a\x7fb", `"a\x7fb"`},
}

func TestForRejectsBadTokens(t *testing.T) {
	fields := []struct {
		field string
		call  func(v string) (string, error)
	}{
		{"job_id", func(v string) (string, error) { return subject.For("prod", "billing", v, event.TypeStarted) }},
		{"environment", func(v string) (string, error) { return subject.For(v, "billing", "job-1", event.TypeStarted) }},
		{"service", func(v string) (string, error) { return subject.For("prod", v, "job-1", event.TypeStarted) }},
	}
	for _, f := range fields {
		for _, tc := range badTokens {
			t.Run(f.field+"/"+tc.name, func(t *testing.T) {
				got, err := f.call(tc.value)
				if err == nil {
					t.Fatalf("For accepted %s %q as %q", f.field, tc.value, got)
				}
				if !errors.Is(err, event.ErrInvalid) {
					t.Errorf("error %v does not wrap event.ErrInvalid", err)
				}
				for _, want := range []string{f.field, tc.wantInErr} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %s", err, want)
					}
				}
				if got != "" {
					t.Errorf("For returned %q with the error", got)
				}
			})
		}
	}
}

func TestForRejectsUnknownType(t *testing.T) {
	for _, typ := range []event.JobEventType{"", "bogus", "*", ">", "Started", "started.x"} {
		t.Run(string(typ), func(t *testing.T) {
			_, err := subject.For("prod", "billing", "job-1", typ)
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("For with type %q: err = %v, want event.ErrInvalid", typ, err)
			}
			if !strings.Contains(err.Error(), "event_type") || !strings.Contains(err.Error(), fmt.Sprintf("%q", typ)) {
				t.Errorf("error %q does not name event_type %q", err, typ)
			}
		})
	}
}

func TestAppendFor(t *testing.T) {
	buf := []byte("keep:")
	buf, err := subject.AppendFor(buf, "prod", "billing", "job-1", event.TypeFailed)
	if err != nil {
		t.Fatalf("AppendFor: %v", err)
	}
	if got, want := string(buf), "keep:naq.events.prod.billing.job-1.failed"; got != want {
		t.Fatalf("AppendFor = %q, want %q", got, want)
	}

	before := string(buf)
	buf, err = subject.AppendFor(buf, "prod", "billing", "a.b", event.TypeFailed)
	if !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("AppendFor with job id a.b: err = %v, want event.ErrInvalid", err)
	}
	if string(buf) != before {
		t.Errorf("AppendFor changed dst on error: %q, want %q", buf, before)
	}
}

func TestAppendForDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, subject.MaxLen)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		buf, err = subject.AppendFor(buf[:0], "prod", "billing", "0b6f0e2c-3c1e-4a53-9a0e-2f1d1f5f6a10", event.TypeCompleted)
	})
	if err != nil {
		t.Fatalf("AppendFor: %v", err)
	}
	if allocs != 0 {
		t.Errorf("AppendFor into a reused buffer: %v allocations per call, want 0", allocs)
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	s := "naq.events.prod.billing.job-1.completed"
	var err error
	allocs := testing.AllocsPerRun(100, func() { _, err = subject.Parse(s) })
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if allocs != 0 {
		t.Errorf("Parse: %v allocations per call, want 0", allocs)
	}
}

func TestMaxLen(t *testing.T) {
	longest := ""
	for _, typ := range event.Types() {
		if len(typ) > len(longest) {
			longest = string(typ)
		}
	}
	long := strings.Repeat("x", event.MaxTokenLen)
	prefix := strings.Repeat("p", subject.MaxPrefixLen)
	buf := make([]byte, 0, subject.MaxLen)
	buf, err := subject.Scheme{Prefix: prefix}.AppendFor(buf, long, long, long, event.JobEventType(longest))
	if err != nil {
		t.Fatalf("AppendFor with every part at its limit: %v", err)
	}
	if len(buf) != subject.MaxLen {
		t.Errorf("longest subject is %d bytes, MaxLen is %d", len(buf), subject.MaxLen)
	}
	if cap(buf) != subject.MaxLen {
		t.Errorf("buffer grew from %d to %d bytes", subject.MaxLen, cap(buf))
	}
}

func TestParseRejects(t *testing.T) {
	long := strings.Repeat("x", event.MaxTokenLen+1)
	tests := []struct {
		name, subject string
		wantInErr     []string
	}{
		{"empty", "", []string{"does not start with", `"naq.events."`}},
		{"prefix only", "naq.events", []string{"does not start with"}},
		{"prefix and dot", "naq.events.", []string{"has 1 tokens", "want 4"}},
		{"other prefix", "naq.jobs.prod.billing.job-1.started", []string{"does not start with", `"naq.jobs.prod.billing.job-1.started"`}},
		{"prefix glued", "naq.eventsx.prod.billing.job-1.started", []string{"does not start with"}},
		{"too few tokens", "naq.events.prod.billing.started", []string{"has 3 tokens", "want 4"}},
		{"too many tokens (job id a.b)", "naq.events.prod.billing.a.b.started", []string{"has 5 tokens", "want 4"}},
		{"design's all form", "naq.events.prod.all.started", []string{"has 3 tokens"}},
		{"unknown type", "naq.events.prod.billing.job-1.exploded", []string{"event_type", `"exploded"`}},
		{"wildcard type", "naq.events.prod.billing.job-1.*", []string{"event_type", `"*"`}},
		{"wildcard job", "naq.events.prod.billing.*.started", []string{"job_id", `"*"`}},
		{"tail wildcard job", "naq.events.prod.billing.>.started", []string{"job_id", `">"`}},
		{"empty environment", "naq.events..billing.job-1.started", []string{"environment", "empty"}},
		{"empty service", "naq.events.prod..job-1.started", []string{"service", "empty"}},
		{"empty type", "naq.events.prod.billing.job-1.", []string{"event_type", `""`}},
		{"space in job", "naq.events.prod.billing.a b.started", []string{"job_id", `"a b"`}},
		{"invalid utf8", "naq.events.prod.bi\xffing.job-1.started", []string{"service", `"bi\xffing"`}},
		{"long job", "naq.events.prod.billing." + long + ".started", []string{"job_id", "256 bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := subject.Parse(tc.subject)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.subject, parts)
			}
			if !errors.Is(err, event.ErrInvalid) {
				t.Errorf("error %v does not wrap event.ErrInvalid", err)
			}
			for _, want := range tc.wantInErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
			if parts != (subject.Parts{}) {
				t.Errorf("Parse returned %+v with the error", parts)
			}
		})
	}
}

func TestScheme(t *testing.T) {
	t.Run("zero value is the default", func(t *testing.T) {
		var zero subject.Scheme
		got, err := zero.For("prod", "billing", "job-1", event.TypeStarted)
		if err != nil || got != "naq.events.prod.billing.job-1.started" {
			t.Fatalf("zero Scheme For = %q, %v", got, err)
		}
		if f, _ := zero.StreamFilter(); f != subject.StreamFilter() {
			t.Errorf("zero Scheme StreamFilter = %q, want %q", f, subject.StreamFilter())
		}
	})

	t.Run("custom prefix", func(t *testing.T) {
		s := subject.Scheme{Prefix: "acme.naq.events"}
		got, err := s.For("prod", "billing", "job-1", event.TypeStarted)
		if err != nil || got != "acme.naq.events.prod.billing.job-1.started" {
			t.Fatalf("For = %q, %v", got, err)
		}
		parts, err := s.Parse(got)
		if err != nil || parts.JobID != "job-1" || parts.Type != event.TypeStarted {
			t.Fatalf("Parse = %+v, %v", parts, err)
		}
		if _, err := subject.Parse(got); !errors.Is(err, event.ErrInvalid) {
			t.Errorf("Default.Parse accepted a subject of another prefix: %v", err)
		}
		if _, err := s.Parse("naq.events.prod.billing.job-1.started"); !errors.Is(err, event.ErrInvalid) {
			t.Errorf("custom Parse accepted a subject of the default prefix: %v", err)
		}
		if f, err := s.StreamFilter(); err != nil || f != "acme.naq.events.*.*.*.*" {
			t.Errorf("StreamFilter = %q, %v", f, err)
		}
		if !subject.Match(mustStream(t, s), got) || subject.Match(subject.StreamFilter(), got) {
			t.Errorf("stream filters of the two schemes overlap on %q", got)
		}
	})

	valid := []string{"", "naq.events", "naq", "acme.naq.events", "$ev", strings.Repeat("p", subject.MaxPrefixLen)}
	for _, p := range valid {
		t.Run("valid "+p, func(t *testing.T) {
			if err := (subject.Scheme{Prefix: p}).Validate(); err != nil {
				t.Errorf("Validate(%q) = %v", p, err)
			}
		})
	}

	invalid := []struct{ prefix, wantInErr string }{
		{".naq", "empty"},
		{"naq.", "empty"},
		{"naq..events", "empty"},
		{"naq.*", `"*"`},
		{"naq.>", `">"`},
		{"naq events", `"naq events"`},
		{"naq.ev\x00", `"ev\x00"`},
		{strings.Repeat("p", subject.MaxPrefixLen+1), "256 bytes"},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.prefix, func(t *testing.T) {
			s := subject.Scheme{Prefix: tc.prefix}
			calls := map[string]error{}
			calls["Validate"] = s.Validate()
			_, calls["For"] = s.For("prod", "billing", "job-1", event.TypeStarted)
			_, calls["AppendFor"] = s.AppendFor(nil, "prod", "billing", "job-1", event.TypeStarted)
			_, calls["Parse"] = s.Parse(tc.prefix + ".prod.billing.job-1.started")
			_, calls["StreamFilter"] = s.StreamFilter()
			_, calls["Job"] = s.Job("prod", "billing", "job-1")
			_, calls["FromFilter"] = s.FromFilter(event.Filter{})
			for name, err := range calls {
				if !errors.Is(err, event.ErrInvalid) {
					t.Errorf("%s: err = %v, want event.ErrInvalid", name, err)
					continue
				}
				if !strings.Contains(err.Error(), "prefix") || !strings.Contains(err.Error(), tc.wantInErr) {
					t.Errorf("%s: error %q does not name the prefix and %s", name, err, tc.wantInErr)
				}
			}
		})
	}
}

func mustStream(t *testing.T, s subject.Scheme) string {
	t.Helper()
	f, err := s.StreamFilter()
	if err != nil {
		t.Fatalf("StreamFilter: %v", err)
	}
	return f
}
