package subject

import (
	"fmt"
	"slices"

	"github.com/naq-go/events/domain/event"
)

// Filter subjects. Each builder validates the tokens it is given exactly as
// For does, so a value that could not have been published (such as the job
// id "*") can never widen a filter. Every filter has the six tokens of the
// hierarchy, never '>', so it is always a subset of the stream's subjects.

// StreamFilter returns the subject filter that captures every event of the
// scheme: "naq.events.*.*.*.*" for Default. JetStream streams are created
// with it.
func (s Scheme) StreamFilter() (string, error) {
	p, err := s.prefix()
	if err != nil {
		return "", err
	}
	return join(p, "*", "*", "*", "*"), nil
}

// Environment returns the filter for every event of environment env:
// "naq.events.{env}.*.*.*".
func (s Scheme) Environment(env string) (string, error) {
	return s.build(env, "", "", nil, 1)
}

// Service returns the filter for every event of service svc in environment
// env: "naq.events.{env}.{svc}.*.*".
func (s Scheme) Service(env, svc string) (string, error) {
	return s.build(env, svc, "", nil, 2)
}

// Job returns the filter for the whole history of one job:
// "naq.events.{env}.{svc}.{jobID}.*".
func (s Scheme) Job(env, svc, jobID string) (string, error) {
	return s.build(env, svc, jobID, nil, 3)
}

// JobType returns the literal subject of events of type t of one job. It is
// the subject For returns, named for use as a filter.
func (s Scheme) JobType(env, svc, jobID string, t event.JobEventType) (string, error) {
	return s.For(env, svc, jobID, t)
}

// Type returns the filter for events of type t of every job of service svc
// in environment env: "naq.events.{env}.{svc}.*.{t}".
func (s Scheme) Type(env, svc string, t event.JobEventType) (string, error) {
	if err := checkType(t); err != nil {
		return "", err
	}
	return s.build(env, svc, "", []event.JobEventType{t}, 2)
}

// FromFilter returns the narrowest single NATS filter subject that selects
// every event f can match: an empty Environment, Service or JobID becomes
// '*', exactly one distinct type becomes the literal type token, and no type
// or several types become '*'. Set fields are validated as in For.
//
// The subject says nothing of f.Queue, f.Worker, f.Since and f.Until, and with
// several types it is wider than f; callers still apply f.Match to what they
// read. FromFilterAll gives exact subjects for several types.
func (s Scheme) FromFilter(f event.Filter) (string, error) {
	types, err := distinctTypes(f.Types)
	if err != nil {
		return "", err
	}
	if len(types) > 1 {
		types = nil
	}
	return s.fromFilter(f, types)
}

// FromFilterAll returns the NATS filter subjects that together select exactly
// the events f can match on its environment, service, job and types: one
// subject per distinct type of f.Types, in the order given, or the single
// subject of FromFilter when f has fewer than two types. The subjects never
// overlap, so they can be given together as a JetStream consumer's
// FilterSubjects.
func (s Scheme) FromFilterAll(f event.Filter) ([]string, error) {
	types, err := distinctTypes(f.Types)
	if err != nil {
		return nil, err
	}
	if len(types) < 2 {
		subj, err := s.fromFilter(f, types)
		if err != nil {
			return nil, err
		}
		return []string{subj}, nil
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		subj, err := s.fromFilter(f, []event.JobEventType{t})
		if err != nil {
			return nil, err
		}
		out = append(out, subj)
	}
	return out, nil
}

// fromFilter builds the subject of f with types (zero or one, validated).
func (s Scheme) fromFilter(f event.Filter, types []event.JobEventType) (string, error) {
	p, err := s.prefix()
	if err != nil {
		return "", err
	}
	toks := [4]string{f.Environment, f.Service, f.JobID, "*"}
	for i, field := range [...]string{"environment", "service", "job_id"} {
		if toks[i] == "" {
			toks[i] = "*"
			continue
		}
		if err := event.CheckToken(field, toks[i]); err != nil {
			return "", fmt.Errorf("filter: %w", err)
		}
	}
	if len(types) == 1 {
		toks[3] = string(types[0])
	}
	return join(p, toks[0], toks[1], toks[2], toks[3]), nil
}

// build validates the first n of env, svc, jobID (n is 1 to 3) and returns
// the filter with the others, and the type unless one is given, as '*'.
func (s Scheme) build(env, svc, jobID string, types []event.JobEventType, n int) (string, error) {
	toks := [3]string{env, svc, jobID}
	fields := [3]string{"environment", "service", "job_id"}
	for i := range n {
		if err := event.CheckToken(fields[i], toks[i]); err != nil {
			return "", err
		}
	}
	return s.fromFilter(event.Filter{Environment: env, Service: svc, JobID: jobID}, types)
}

// distinctTypes validates types and returns them without repeats, in order.
func distinctTypes(types []event.JobEventType) ([]event.JobEventType, error) {
	var out []event.JobEventType
	for _, t := range types {
		if err := checkType(t); err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// StreamFilter returns the stream filter of Default, "naq.events.*.*.*.*".
// It panics if a program has replaced Default with a Scheme whose prefix is
// invalid.
func StreamFilter() string {
	f, err := Default.StreamFilter()
	if err != nil {
		// Default is a package variable a program could overwrite; an
		// invalid one is a programming error, not a runtime condition.
		panic(err)
	}
	return f
}

// Environment returns Default.Environment(env).
func Environment(env string) (string, error) { return Default.Environment(env) }

// Service returns Default.Service(env, svc).
func Service(env, svc string) (string, error) { return Default.Service(env, svc) }

// Job returns Default.Job(env, svc, jobID).
func Job(env, svc, jobID string) (string, error) { return Default.Job(env, svc, jobID) }

// JobType returns Default.JobType(env, svc, jobID, t).
func JobType(env, svc, jobID string, t event.JobEventType) (string, error) {
	return Default.JobType(env, svc, jobID, t)
}

// Type returns Default.Type(env, svc, t).
func Type(env, svc string, t event.JobEventType) (string, error) { return Default.Type(env, svc, t) }

// FromFilter returns Default.FromFilter(f).
func FromFilter(f event.Filter) (string, error) { return Default.FromFilter(f) }

// FromFilterAll returns Default.FromFilterAll(f).
func FromFilterAll(f event.Filter) ([]string, error) { return Default.FromFilterAll(f) }
