package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/naq-go/events/domain/event"
)

// FuzzQuery feeds raw query strings to the parameter parsing of the list,
// count and page endpoints: it never panics, and what it accepts is within
// the documented ranges.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=10&offset=5", "limit=0", "limit=10001", "offset=-1", "limit=1&limit=2",
		"type=failed,completed&type=started", "type=nope", "job=a.b", "job=%2A", "job=%3E", "job=a%00b",
		"since=2025-01-02T15:04:05Z&until=2025-01-01T00:00:00Z", "since=1e10", "since=NaN", "until=-1",
		"environment=prod&service=billing&queue=q&worker=w", "bogus=1", "%zz", "a=%", "since=9999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/http answers 400 before our code sees it... or drops the bad pair
		}
		if checkParams(q, pageParams, filterParams) != nil {
			return
		}
		if p, err := parsePage(q); err == nil {
			if p.Limit < 1 || p.Limit > MaxLimit || p.Offset < 0 {
				t.Fatalf("page %+v accepted from %q", p, raw)
			}
		}
		flt, err := parseFilter(q)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parameter") {
				t.Fatalf("error %q does not name the parameter", err)
			}
			return
		}
		for name, v := range map[string]string{"environment": flt.Environment, "service": flt.Service, "job": flt.JobID} {
			if v != "" && event.CheckToken(name, v) != nil {
				t.Fatalf("%s=%q accepted but not a subject token", name, v)
			}
		}
		if !flt.Since.IsZero() && !flt.Until.IsZero() && !flt.Since.Before(flt.Until) {
			t.Fatalf("since %v not before until %v accepted", flt.Since, flt.Until)
		}
		for _, ty := range flt.Types {
			if _, err := event.ParseType(string(ty)); err != nil {
				t.Fatalf("type %q accepted", ty)
			}
		}
	})
}

// FuzzLastEventID feeds the Last-Event-ID header and ?last_event_id= to the
// stream's resume parsing: it never panics, and an accepted id resumes
// right after that sequence.
func FuzzLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "1", "42", " 7 ", "18446744073709551615", "18446744073709551614",
		"18446744073709551616", "-1", "+1", "0x10", "1e3", "１２", "12\x00", "\t\n", "9999999999999999999999"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	for _, s := range []string{"5@1733000000", "5@", "@1", "5@x", "5@1@2", "5@-9223372036854775808"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, inQuery bool) {
		target := "/api/v1/stream"
		if inQuery {
			target += "?last_event_id=" + url.QueryEscape(raw)
		}
		r, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !inQuery {
			if strings.ContainsAny(raw, "\r\n\x00") || !utf8.ValidString(raw) {
				return // not a header value net/http would pass on
			}
			r.Header.Set("Last-Event-ID", raw)
		}
		opts, id, err := streamOptions(r)
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" {
			if opts.FromSeq != 0 {
				t.Fatalf("empty id %q resumed from %d", raw, opts.FromSeq)
			}
			return
		}
		seqPart, _, _ := strings.Cut(trimmed, "@")
		seq, perr := strconv.ParseUint(seqPart, 10, 64)
		if perr != nil || opts.FromSeq != seq+1 || opts.FromSeq == 0 || id.seq != seq || !id.given {
			t.Fatalf("id %q accepted as FromSeq %d (%+v)", trimmed, opts.FromSeq, id)
		}
	})
}
