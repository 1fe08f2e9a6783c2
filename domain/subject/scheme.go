package subject

import (
	"fmt"
	"strings"

	"github.com/naq-go/events/domain/event"
)

// DefaultPrefix is the prefix of the design: every subject starts with
// "naq.events.".
const DefaultPrefix = "naq.events"

// MaxPrefixLen is the longest prefix a Scheme accepts, in bytes.
const MaxPrefixLen = 255

// maxTypeLen is the length of the longest event type wire value,
// "waiting_for_dependencies".
const maxTypeLen = len(event.TypeWaitingForDependencies)

// MaxLen is the longest subject any Scheme builds, in bytes: a prefix of
// MaxPrefixLen bytes, three tokens of event.MaxTokenLen bytes, the longest
// event type and the dots between them. It is far below the 4096-byte
// default limit of a NATS protocol line, and a buffer of this capacity
// never grows in AppendFor.
const MaxLen = MaxPrefixLen + 3*(1+event.MaxTokenLen) + 1 + maxTypeLen

// Scheme is a subject hierarchy with its prefix. The zero value, like
// Default, uses DefaultPrefix.
//
// A custom Prefix lets several deployments share one NATS account, e.g.
// "acme.naq.events". It must be one or more dot-separated tokens, each valid
// for event.CheckToken, at most MaxPrefixLen bytes in all. Every method of a
// Scheme with an invalid Prefix returns an error wrapping event.ErrInvalid;
// check it once with Validate when loading configuration.
type Scheme struct {
	Prefix string
}

// Default is the Scheme of the design, used by the package-level functions.
var Default = Scheme{Prefix: DefaultPrefix}

// Parts are the event tokens of a subject: everything after the prefix.
type Parts struct {
	Environment string
	Service     string
	JobID       string
	Type        event.JobEventType
}

// Validate reports whether the Scheme's prefix is usable, with an error
// wrapping event.ErrInvalid that names the prefix and what is wrong.
func (s Scheme) Validate() error {
	_, err := s.prefix()
	return err
}

// prefix returns the validated prefix, DefaultPrefix for an empty one.
func (s Scheme) prefix() (string, error) {
	p := s.Prefix
	if p == "" {
		return DefaultPrefix, nil
	}
	if len(p) > MaxPrefixLen {
		return "", fmt.Errorf("%w: subject prefix %.32q... is %d bytes long, the limit is %d", event.ErrInvalid, p, len(p), MaxPrefixLen)
	}
	for rest := p; ; {
		tok, after, more := strings.Cut(rest, ".")
		if err := event.CheckToken("prefix", tok); err != nil {
			return "", fmt.Errorf("subject prefix %q: %w", p, err)
		}
		if !more {
			return p, nil
		}
		rest = after
	}
}

// For returns the subject of an event of type t for job jobID of service svc
// in environment env: "naq.events.{env}.{svc}.{jobID}.{t}" for the Default
// scheme.
//
// Each of env, svc and jobID must pass event.CheckToken, and t must be one of
// the 24 known types; otherwise the error wraps event.ErrInvalid and names the
// field ("environment", "service", "job_id", "event_type") and the value.
func (s Scheme) For(env, svc, jobID string, t event.JobEventType) (string, error) {
	p, err := s.checkAll(env, svc, jobID, t)
	if err != nil {
		return "", err
	}
	return join(p, env, svc, jobID, string(t)), nil
}

// AppendFor appends the subject For would return to dst and returns the
// extended buffer. It does not allocate when dst has room for the subject
// (MaxLen bytes always suffice), which makes it the variant for publishing
// in a loop. On error dst is returned unchanged.
func (s Scheme) AppendFor(dst []byte, env, svc, jobID string, t event.JobEventType) ([]byte, error) {
	p, err := s.checkAll(env, svc, jobID, t)
	if err != nil {
		return dst, err
	}
	return appendJoin(dst, p, env, svc, jobID, string(t)), nil
}

// ForEvent returns the subject of e, stored under environment env and
// service svc: For(env, svc, e.JobID, e.Type).
func (s Scheme) ForEvent(env, svc string, e *event.JobEvent) (string, error) {
	return s.For(env, svc, e.JobID, e.Type)
}

// Parse splits a subject built by For back into its parts. Parse(For(...))
// gives back the arguments of For, and For(Parse(s)) gives back s: the
// mapping is one-to-one.
//
// The subject must start with the prefix and a dot, have exactly four tokens
// after it, each valid for event.CheckToken, and end in a known event type.
// Wildcard subjects are rejected like any other invalid token. Errors wrap
// event.ErrInvalid and say what is wrong with which value. The strings in
// Parts share memory with subj; Parse does not allocate unless it fails.
func (s Scheme) Parse(subj string) (Parts, error) {
	p, err := s.prefix()
	if err != nil {
		return Parts{}, err
	}
	rest, ok := strings.CutPrefix(subj, p)
	if ok {
		rest, ok = strings.CutPrefix(rest, ".")
	}
	if !ok {
		return Parts{}, fmt.Errorf("%w: subject %q does not start with %q", event.ErrInvalid, subj, p+".")
	}
	if n := strings.Count(rest, ".") + 1; n != 4 {
		return Parts{}, fmt.Errorf("%w: subject %q has %d tokens after %q, want 4 (environment.service.job_id.event_type)",
			event.ErrInvalid, subj, n, p)
	}
	env, rest, _ := strings.Cut(rest, ".")
	svc, rest, _ := strings.Cut(rest, ".")
	jobID, typ, _ := strings.Cut(rest, ".")
	if err := checkTokens(env, svc, jobID); err != nil {
		return Parts{}, fmt.Errorf("subject %q: %w", subj, err)
	}
	t := event.JobEventType(typ)
	if !t.Valid() {
		_, err := event.ParseType(typ)
		return Parts{}, fmt.Errorf("subject %q: %w", subj, err)
	}
	return Parts{Environment: env, Service: svc, JobID: jobID, Type: t}, nil
}

// checkAll validates the prefix, the three tokens and the type.
func (s Scheme) checkAll(env, svc, jobID string, t event.JobEventType) (string, error) {
	p, err := s.prefix()
	if err != nil {
		return "", err
	}
	if err := checkTokens(env, svc, jobID); err != nil {
		return "", err
	}
	if err := checkType(t); err != nil {
		return "", err
	}
	return p, nil
}

func checkTokens(env, svc, jobID string) error {
	if err := event.CheckToken("environment", env); err != nil {
		return err
	}
	if err := event.CheckToken("service", svc); err != nil {
		return err
	}
	return event.CheckToken("job_id", jobID)
}

func checkType(t event.JobEventType) error {
	if t.Valid() {
		return nil
	}
	_, err := event.ParseType(string(t))
	return err
}

// join returns prefix.a.b.c.d with a single allocation.
func join(prefix, a, b, c, d string) string {
	var sb strings.Builder
	sb.Grow(len(prefix) + len(a) + len(b) + len(c) + len(d) + 4)
	sb.WriteString(prefix)
	for _, tok := range [...]string{a, b, c, d} {
		sb.WriteByte('.')
		sb.WriteString(tok)
	}
	return sb.String()
}

func appendJoin(dst []byte, prefix, a, b, c, d string) []byte {
	dst = append(dst, prefix...)
	for _, tok := range [...]string{a, b, c, d} {
		dst = append(dst, '.')
		dst = append(dst, tok...)
	}
	return dst
}

// For returns Default.For(env, svc, jobID, t).
func For(env, svc, jobID string, t event.JobEventType) (string, error) {
	return Default.For(env, svc, jobID, t)
}

// AppendFor returns Default.AppendFor(dst, env, svc, jobID, t).
func AppendFor(dst []byte, env, svc, jobID string, t event.JobEventType) ([]byte, error) {
	return Default.AppendFor(dst, env, svc, jobID, t)
}

// ForEvent returns Default.ForEvent(env, svc, e).
func ForEvent(env, svc string, e *event.JobEvent) (string, error) {
	return Default.ForEvent(env, svc, e)
}

// Parse returns Default.Parse(subj).
func Parse(subj string) (Parts, error) {
	return Default.Parse(subj)
}
