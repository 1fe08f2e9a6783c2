package subject_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

func TestFilterBuilders(t *testing.T) {
	tests := []struct {
		name string
		call func() (string, error)
		want string
	}{
		{"Environment", func() (string, error) { return subject.Environment("prod") }, "naq.events.prod.*.*.*"},
		{"Service", func() (string, error) { return subject.Service("prod", "billing") }, "naq.events.prod.billing.*.*"},
		{"Job", func() (string, error) { return subject.Job("prod", "billing", "job-1") }, "naq.events.prod.billing.job-1.*"},
		{"JobType", func() (string, error) { return subject.JobType("prod", "billing", "job-1", event.TypeFailed) }, "naq.events.prod.billing.job-1.failed"},
		{"Type", func() (string, error) { return subject.Type("prod", "billing", event.TypeCompleted) }, "naq.events.prod.billing.*.completed"},
		{"StreamFilter", func() (string, error) { return subject.StreamFilter(), nil }, "naq.events.*.*.*.*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			// Every filter selects only subjects of the stream.
			if !subject.Match(subject.StreamFilter(), strings.ReplaceAll(got, "*", "x")) {
				t.Errorf("%q is not within the stream filter", got)
			}
		})
	}
}

func TestFilterBuildersReject(t *testing.T) {
	tests := []struct {
		name, field, value string
		call               func() (string, error)
	}{
		{"Environment wildcard", "environment", "*", func() (string, error) { return subject.Environment("*") }},
		{"Environment empty", "environment", "", func() (string, error) { return subject.Environment("") }},
		{"Service tail wildcard", "service", ">", func() (string, error) { return subject.Service("prod", ">") }},
		{"Service empty", "service", "", func() (string, error) { return subject.Service("prod", "") }},
		{"Job wildcard", "job_id", "*", func() (string, error) { return subject.Job("prod", "billing", "*") }},
		{"Job dotted", "job_id", "a.b", func() (string, error) { return subject.Job("prod", "billing", "a.b") }},
		{"Job empty", "job_id", "", func() (string, error) { return subject.Job("prod", "billing", "") }},
		{"JobType dotted", "job_id", "a.b", func() (string, error) { return subject.JobType("prod", "billing", "a.b", event.TypeStarted) }},
		{"Type unknown", "event_type", "bogus", func() (string, error) { return subject.Type("prod", "billing", "bogus") }},
		{"Type wildcard", "event_type", "*", func() (string, error) { return subject.Type("prod", "billing", "*") }},
		{"Type bad service", "service", "a b", func() (string, error) { return subject.Type("prod", "a b", event.TypeStarted) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if !errors.Is(err, event.ErrInvalid) {
				t.Fatalf("got %q, %v; want an error wrapping event.ErrInvalid", got, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if tc.value != "" && !strings.Contains(err.Error(), `"`+tc.value+`"`) {
				t.Errorf("error %q does not name value %q", err, tc.value)
			}
		})
	}
}

func TestFromFilter(t *testing.T) {
	tests := []struct {
		name    string
		filter  event.Filter
		want    string
		wantAll []string
	}{
		{"zero filter is the stream", event.Filter{}, "naq.events.*.*.*.*", []string{"naq.events.*.*.*.*"}},
		{"environment", event.Filter{Environment: "prod"}, "naq.events.prod.*.*.*", nil},
		{"service in every environment", event.Filter{Service: "billing"}, "naq.events.*.billing.*.*", nil},
		{"job", event.Filter{Environment: "prod", Service: "billing", JobID: "job-1"}, "naq.events.prod.billing.job-1.*", nil},
		{"job anywhere", event.Filter{JobID: "job-1"}, "naq.events.*.*.job-1.*", nil},
		{"one type", event.Filter{Types: []event.JobEventType{event.TypeFailed}}, "naq.events.*.*.*.failed", nil},
		{"repeated type is one type", event.Filter{Environment: "prod", Types: []event.JobEventType{event.TypeFailed, event.TypeFailed}},
			"naq.events.prod.*.*.failed", []string{"naq.events.prod.*.*.failed"}},
		{"job and type is literal", event.Filter{Environment: "prod", Service: "billing", JobID: "job-1", Types: []event.JobEventType{event.TypeStarted}},
			"naq.events.prod.billing.job-1.started", nil},
		{"several types", event.Filter{Environment: "prod", Service: "billing", Types: []event.JobEventType{event.TypeCompleted, event.TypeFailed, event.TypeCompleted}},
			"naq.events.prod.billing.*.*", []string{"naq.events.prod.billing.*.completed", "naq.events.prod.billing.*.failed"}},
		{"fields outside the subject are ignored", event.Filter{Queue: "default", Worker: "w-1"}, "naq.events.*.*.*.*", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := subject.FromFilter(tc.filter)
			if err != nil {
				t.Fatalf("FromFilter: %v", err)
			}
			if got != tc.want {
				t.Errorf("FromFilter = %q, want %q", got, tc.want)
			}
			wantAll := tc.wantAll
			if wantAll == nil {
				wantAll = []string{tc.want}
			}
			all, err := subject.FromFilterAll(tc.filter)
			if err != nil {
				t.Fatalf("FromFilterAll: %v", err)
			}
			if !slices.Equal(all, wantAll) {
				t.Errorf("FromFilterAll = %q, want %q", all, wantAll)
			}
		})
	}
}

func TestFromFilterRejects(t *testing.T) {
	tests := []struct {
		name, field, value string
		filter             event.Filter
	}{
		{"wildcard job", "job_id", "*", event.Filter{JobID: "*"}},
		{"dotted job", "job_id", "a.b", event.Filter{JobID: "a.b"}},
		{"tail wildcard environment", "environment", ">", event.Filter{Environment: ">"}},
		{"space in service", "service", "a b", event.Filter{Service: "a b"}},
		{"unknown type", "event_type", "bogus", event.Filter{Types: []event.JobEventType{event.TypeStarted, "bogus"}}},
		{"empty type", "event_type", "", event.Filter{Types: []event.JobEventType{""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for name, call := range map[string]func() error{
				"FromFilter":    func() error { _, err := subject.FromFilter(tc.filter); return err },
				"FromFilterAll": func() error { _, err := subject.FromFilterAll(tc.filter); return err },
			} {
				err := call()
				if !errors.Is(err, event.ErrInvalid) {
					t.Fatalf("%s: err = %v, want event.ErrInvalid", name, err)
				}
				if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), `"`+tc.value+`"`) {
					t.Errorf("%s: error %q does not name %s %q", name, err, tc.field, tc.value)
				}
			}
		})
	}
}

// TestFromFilterAgreesWithFilterMatch checks, over a grid of filters and
// events, that the subjects of a filter select every event the filter
// matches, and that FromFilterAll selects no event outside it.
func TestFromFilterAgreesWithFilterMatch(t *testing.T) {
	envs := []string{"", "prod", "dev"}
	svcs := []string{"", "billing", "mail"}
	jobs := []string{"", "a", "b"}
	typeSets := [][]event.JobEventType{nil, {event.TypeStarted}, {event.TypeStarted, event.TypeFailed}}
	for _, fe := range envs {
		for _, fs := range svcs {
			for _, fj := range jobs {
				for _, ft := range typeSets {
					f := event.Filter{Environment: fe, Service: fs, JobID: fj, Types: ft}
					one, err := subject.FromFilter(f)
					if err != nil {
						t.Fatalf("FromFilter(%+v): %v", f, err)
					}
					all, err := subject.FromFilterAll(f)
					if err != nil {
						t.Fatalf("FromFilterAll(%+v): %v", f, err)
					}
					for _, env := range envs[1:] {
						for _, svc := range svcs[1:] {
							for _, job := range jobs[1:] {
								for _, typ := range []event.JobEventType{event.TypeStarted, event.TypeFailed, event.TypeCompleted} {
									subj, err := subject.For(env, svc, job, typ)
									if err != nil {
										t.Fatal(err)
									}
									want := f.Match(env, svc, &event.JobEvent{JobID: job, Type: typ})
									if want && !subject.Match(one, subj) {
										t.Errorf("FromFilter(%+v) = %q misses %q", f, one, subj)
									}
									matched := 0
									for _, s := range all {
										if subject.Match(s, subj) {
											matched++
										}
									}
									if want && matched != 1 || !want && matched != 0 {
										t.Errorf("FromFilterAll(%+v) = %q matches %q %d times, want match=%v exactly once", f, all, subj, matched, want)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestJobHistoryIsolation is the property the rejection of invalid tokens
// buys: the history filter of a job selects the events of that job and of no
// other, and no job id can widen it.
func TestJobHistoryIsolation(t *testing.T) {
	ids := []string{"a", "b", "ab", "a-b", "a_b", "A", "a:b", "a/b", "é", "e\u0301", "0", "00", "a$", "aa", "a\\b"}
	for _, a := range ids {
		history, err := subject.Job("prod", "billing", a)
		if err != nil {
			t.Fatalf("Job(%q): %v", a, err)
		}
		for _, b := range ids {
			for _, typ := range event.Types() {
				subj, err := subject.For("prod", "billing", b, typ)
				if err != nil {
					t.Fatalf("For(%q): %v", b, err)
				}
				if got := subject.Match(history, subj); got != (a == b) {
					t.Errorf("Match(Job(%q) = %q, For(%q) = %q) = %v, want %v", a, history, b, subj, got, a == b)
				}
			}
			// The same holds across environments and services.
			other, _ := subject.For("dev", "billing", b, event.TypeStarted)
			if subject.Match(history, other) {
				t.Errorf("history of %q in prod matches %q", a, other)
			}
		}
	}

	t.Run("job id a.b never reaches the history of a", func(t *testing.T) {
		if s, err := subject.For("prod", "billing", "a.b", event.TypeStarted); !errors.Is(err, event.ErrInvalid) {
			t.Fatalf("For accepted job id a.b as %q", s)
		}
		history, _ := subject.Job("prod", "billing", "a")
		// What an unchecked producer would publish for job "a.b"; it has
		// seven tokens, so neither the history of a nor the stream sees it.
		raw := "naq.events.prod.billing.a.b.started"
		if subject.Match(history, raw) {
			t.Errorf("history of a (%q) matches %q", history, raw)
		}
		if subject.Match(subject.StreamFilter(), raw) {
			t.Errorf("stream filter matches %q", raw)
		}
		if _, err := subject.Parse(raw); !errors.Is(err, event.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want event.ErrInvalid", raw, err)
		}
	})

	t.Run("job id * never selects every job", func(t *testing.T) {
		for _, wild := range []string{"*", ">"} {
			if f, err := subject.Job("prod", "billing", wild); !errors.Is(err, event.ErrInvalid) {
				t.Errorf("Job accepted job id %q as filter %q", wild, f)
			}
			if f, err := subject.FromFilter(event.Filter{Environment: "prod", Service: "billing", JobID: wild}); !errors.Is(err, event.ErrInvalid) {
				t.Errorf("FromFilter accepted job id %q as filter %q", wild, f)
			}
			if s, err := subject.For("prod", "billing", wild, event.TypeStarted); !errors.Is(err, event.ErrInvalid) {
				t.Errorf("For accepted job id %q as %q", wild, s)
			}
		}
	})
}
