package dashboard

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
)

// fmtCount writes n with thousands separators: 1234567 → "1,234,567".
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtMS writes a duration in milliseconds in a unit a person reads at a
// glance: "0.42 ms", "12.3 ms", "840 ms", "2.13 s", "3m 05s".
func fmtMS(ms float64) string {
	switch {
	case math.IsNaN(ms) || math.IsInf(ms, 0):
		return "–"
	case ms < 0:
		return "-" + fmtMS(-ms)
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms < 60_000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
	return fmtDuration(time.Duration(ms * float64(time.Millisecond)))
}

// fmtDuration is fmtMS for a time.Duration, with minutes and hours beyond
// a minute: "2.13 s", "3m 05s", "2h 10m".
func fmtDuration(d time.Duration) string {
	switch {
	case d == math.MinInt64: // -d overflows: what time.Sub gives for spans beyond 292 years
		return "-" + fmtDuration(math.MaxInt64)
	case d < 0:
		return "-" + fmtDuration(-d)
	case d < time.Minute:
		return fmtMS(float64(d) / float64(time.Millisecond))
	case d < time.Hour:
		d = d.Round(time.Second)
		return strconv.Itoa(int(d/time.Minute)) + "m " + pad2(int(d%time.Minute/time.Second)) + "s"
	}
	d = d.Round(time.Minute)
	return strconv.Itoa(int(d/time.Hour)) + "h " + pad2(int(d%time.Hour/time.Minute)) + "m"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// fmtPct writes a ratio as a percentage: 0.0312 → "3.1%".
func fmtPct(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}

// fmtRate writes events per second with two significant decimals.
func fmtRate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r >= 100:
		return strconv.FormatFloat(r, 'f', 0, 64)
	case r >= 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// fmtClock writes a time in UTC with milliseconds.
func fmtClock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

// fmtISO is the machine-readable form, for <time datetime>.
func fmtISO(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// fmtAgo writes how long before now t was: "4s ago", "3m 05s ago".
func fmtAgo(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < time.Second {
		return "just now"
	}
	if d < time.Minute {
		return strconv.Itoa(int(d/time.Second)) + "s ago"
	}
	return fmtDuration(d) + " ago"
}

// typeTag is the CSS class of an event type's badge: its outcome family.
func typeTag(t event.JobEventType) string {
	switch t {
	case event.TypeCompleted, event.TypeDependencySatisfied:
		return "ok"
	case event.TypeFailed, event.TypeTimeout, event.TypeMaxRetriesExceeded, event.TypeDependencyFailed, event.TypeTTLExpired:
		return "bad"
	case event.TypeRetryScheduled, event.TypeRetryStarted, event.TypeCancelled:
		return "warn"
	case event.TypeStarted, event.TypeDequeued, event.TypeWorkerAssigned:
		return "run"
	}
	return "info"
}
