package rollup

import (
	"context"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Query selects the part of the rollups a reader wants. A zero field
// matches everything. Since is inclusive, Until exclusive; both are rounded
// outwards to the bucket width in force for that age, and the Summary says
// the interval it really covers.
type Query struct {
	Since, Until time.Time
	Environment  string
	Service      string
	Queue        string
	Types        []event.JobEventType
}

// Window is the interval of "the last span" at now, aligned to whole
// minutes: it ends at the end of now's minute (so the events of the current
// minute count) and starts span before that. Every call within one minute
// gives the same interval, and, for a span up to RecentWindow, the rollups
// answer it from whole minute buckets (Compact merges only hours older
// than that): exactly, and the same on an idle stream however often the
// keeper compacts in between. A window of now−span instead cut a bucket
// differently every second.
func Window(now time.Time, span time.Duration) (since, until time.Time) {
	until = now.Truncate(MinuteWidth).Add(MinuteWidth)
	return until.Add(-span), until
}

// FailureKey is the failure group a failed event counts in: its error
// type and its error message (its message when it has none) normalised by
// NormalizeMessage. The rollups group failures by it, and whoever lists a
// group's events matches them with it.
func FailureKey(ev *event.JobEvent) (errorType, message string) {
	msg := ev.ErrorMessage
	if msg == "" {
		msg = ev.Message
	}
	return ev.ErrorType, NormalizeMessage(msg)
}

// Quantiles are duration percentiles from a sketch, in milliseconds. Each
// is within the sketch's stated relative error of the exact value.
type Quantiles struct {
	Count         int64
	P50, P95, P99 float64
	Min, Max      float64
}

// Point is one bucket of the time series: events stored in [Start, Start+Width).
type Point struct {
	Start  time.Time
	Width  time.Duration
	Counts map[event.JobEventType]int64
}

// FailureGroup is failures grouped by error type and normalised message.
type FailureGroup struct {
	ErrorType string
	Message   string // normalised: numbers, ids and quoted values replaced
	Count     int64
	FirstSeen time.Time
	LastSeen  time.Time
	Spark     []int64  // counts per bucket over the query interval, oldest first
	Jobs      []string // a bounded sample of failing job ids, newest first
}

// QueueInfo is a queue as seen from its events.
type QueueInfo struct {
	Name     string
	Depth    int64 // enqueued − dequeued over the covered interval
	LastSeen time.Time
}

// WorkerInfo is a worker as seen from its events.
type WorkerInfo struct {
	ID       string
	Queue    string
	LastSeen time.Time
}

// Summary answers a Query from the rollups: O(buckets), never O(events).
type Summary struct {
	From, To    time.Time // the interval the answer covers
	Seq         uint64    // the last stream sequence applied to the rollups
	Total       int64
	Counts      map[event.JobEventType]int64
	FailureRate float64 // failed / (completed + failed); 0 when neither
	// Durations of completed and failed events per queue; key "" is all
	// queues together.
	Durations map[string]Quantiles
	Series    []Point
	Failures  []FailureGroup // most frequent first
	Queues    []QueueInfo    // by name
	Workers   []WorkerInfo   // most recently seen first
	// Exact is true when no bucket the answer counts reaches outside
	// [Since, Until): the counts are then exactly those of the events
	// with timestamps in the query's interval (as of Seq).
	Exact bool
	// Behind is how many stream sequences were stored after Seq when the
	// answer was made (0 from a reader that does not know).
	Behind uint64
}

// Reader answers queries from the rollups. The service's aggregator
// implements it; the CLI's stats, the HTTP count/stats routes and the
// dashboard read through it.
type Reader interface {
	Summary(ctx context.Context, q Query) (Summary, error)
}
