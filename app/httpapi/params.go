package httpapi

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
)

// paramError is a 400 naming the parameter.
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badf(format string, args ...any) error { return &paramError{msg: fmt.Sprintf(format, args...)} }

var (
	pageParams   = []string{"limit", "offset", "after", "before"}
	placeParams  = []string{"environment", "service"}
	filterParams = []string{"environment", "service", "job", "type", "queue", "worker", "since", "until"}
	streamParams = []string{"history", "last_event_id"}
)

// checkParams rejects parameters not in any of the allowed lists.
func checkParams(q url.Values, allowed ...[]string) error {
next:
	for k := range q {
		for _, list := range allowed {
			for _, a := range list {
				if k == a {
					continue next
				}
			}
		}
		var all []string
		for _, list := range allowed {
			all = append(all, list...)
		}
		return badf("unknown parameter %q; this endpoint takes %s", k, strings.Join(all, ", "))
	}
	return nil
}

// one returns the single value of parameter name ("" if absent).
func one(q url.Values, name string) (string, error) {
	vs := q[name]
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", badf("parameter %s given %d times; give it once", name, len(vs))
	}
}

// parsePage reads ?limit (default DefaultLimit, 1..MaxLimit), ?offset (≥ 0;
// the store bounds what it skips, see event.MaxOffset) and the cursor
// bounds ?after and ?before (store sequences, exclusive).
func parsePage(q url.Values) (event.Page, error) {
	p := event.Page{Limit: DefaultLimit}
	if v, err := one(q, "limit"); err != nil {
		return p, err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return p, badf("parameter limit=%q: want an integer from 1 to %d", v, MaxLimit)
		}
		p.Limit = n
	}
	if v, err := one(q, "offset"); err != nil {
		return p, err
	} else if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, badf("parameter offset=%q: want an integer ≥ 0", v)
		}
		p.Offset = n
	}
	for _, c := range []struct {
		name string
		dst  *uint64
	}{{"after", &p.After}, {"before", &p.Before}} {
		v, err := one(q, c.name)
		if err != nil {
			return p, err
		}
		if v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return p, badf("parameter %s=%q: want a stream sequence (an integer ≥ 0), such as the next_after of the previous page", c.name, v)
		}
		*c.dst = n
	}
	return p, nil
}

// parsePlace reads the optional ?environment and ?service of a job query.
func parsePlace(q url.Values) (event.Filter, error) {
	var f event.Filter
	for _, c := range []struct {
		name string
		dst  *string
	}{{"environment", &f.Environment}, {"service", &f.Service}} {
		v, err := one(q, c.name)
		if err != nil {
			return f, err
		}
		if v != "" {
			if err := event.CheckToken(c.name, v); err != nil {
				return f, badf("parameter %s=%q: %v", c.name, v, err)
			}
		}
		*c.dst = v
	}
	return f, nil
}

// parseFilter reads the filter parameters.
func parseFilter(q url.Values) (event.Filter, error) {
	var f event.Filter
	for _, tok := range []struct {
		name string
		dst  *string
		tok  bool // must be a subject token
	}{
		{"environment", &f.Environment, true},
		{"service", &f.Service, true},
		{"job", &f.JobID, true},
		{"queue", &f.Queue, false},
		{"worker", &f.Worker, false},
	} {
		v, err := one(q, tok.name)
		if err != nil {
			return f, err
		}
		if v != "" && tok.tok {
			if err := event.CheckToken(tok.name, v); err != nil {
				return f, badf("parameter %s=%q: %v", tok.name, v, err)
			}
		}
		*tok.dst = v
	}
	for _, v := range q["type"] {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			t, err := event.ParseType(s)
			if err != nil {
				return f, badf("parameter type=%q: unknown event type; want one of %s", s, typeList())
			}
			f.Types = append(f.Types, t)
		}
	}
	var err error
	if f.Since, err = parseTime(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTime(q, "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, badf("parameters since=%s and until=%s: since must be before until",
			f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	return f, nil
}

func typeList() string {
	ts := event.Types()
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// parseTime reads an RFC 3339 time or Unix seconds (fractions allowed).
func parseTime(q url.Values, name string) (time.Time, error) {
	v, err := one(q, name)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && f >= 0 && f < 1e11 {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
	}
	return time.Time{}, badf("parameter %s=%q: want an RFC 3339 time (2025-01-02T15:04:05Z) or Unix seconds", name, v)
}

// parseBool reads an optional boolean parameter.
func parseBool(q url.Values, name string) (bool, error) {
	v, err := one(q, name)
	if err != nil || v == "" {
		return false, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badf("parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}
