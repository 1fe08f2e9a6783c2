package event

import (
	"slices"
	"time"
)

// Page selects a window of an ordered result. Limit 0 means no limit.
type Page struct {
	Limit  int
	Offset int
}

// Filter selects events. A zero field matches everything; set fields are
// combined with AND, Types with OR among themselves. Since and Until bound the
// event timestamp: Since inclusive, Until exclusive.
type Filter struct {
	Environment string
	Service     string
	JobID       string
	Types       []JobEventType
	Queue       string
	Worker      string
	Since       time.Time
	Until       time.Time
}

// Match reports whether an event stored under environment env and service
// svc passes the filter.
func (f Filter) Match(env, svc string, e *JobEvent) bool {
	switch {
	case f.Environment != "" && f.Environment != env,
		f.Service != "" && f.Service != svc,
		f.JobID != "" && f.JobID != e.JobID,
		len(f.Types) > 0 && !slices.Contains(f.Types, e.Type),
		f.Queue != "" && f.Queue != e.QueueName,
		f.Worker != "" && f.Worker != e.WorkerID,
		!f.Since.IsZero() && e.Timestamp.Before(f.Since),
		!f.Until.IsZero() && !e.Timestamp.Before(f.Until):
		return false
	}
	return true
}

// Record is a stored event with where it sits in its store.
type Record struct {
	// Seq is the store's sequence number: strictly increasing in store
	// order, never reused. For JetStream it is the stream sequence.
	Seq         uint64
	Environment string
	Service     string
	Event       JobEvent
}

// StreamOptions says where a stream starts. The zero value delivers only
// events stored after the stream started.
type StreamOptions struct {
	// History delivers every stored event matching the filter first, then
	// live events, with no gap and no duplicate.
	History bool
	// FromSeq starts at this store sequence (inclusive) and wins over
	// History and FromTime. Resume with the last seen Seq+1.
	FromSeq uint64
	// FromTime starts at the first event stored at or after this time.
	FromTime time.Time
}
