package event

import (
	"fmt"
	"slices"
	"time"
)

// MaxOffset is the largest Page.Offset a store skips matches for. Offset
// paging costs what it skips; beyond this bound page by sequence with
// Page.After (see OffsetError).
const MaxOffset = 10_000

// Page selects a window of an ordered result (ascending store sequence).
//
// After and Before bound the result by store sequence, both exclusive: a
// cursor page starts right after the last Seq of the previous page
// (After = that Seq) and costs what it returns, however far into the
// stream it is. 0 means unbounded. After ≥ Before-1 (with Before set) is an
// empty page, not an error.
//
// Offset skips that many matches after the cursor; Limit then takes at most
// that many (0: no limit). An Offset above MaxOffset is honoured only when
// fewer matches than that remain: the page is empty. Otherwise the store
// answers an *OffsetError (wrapping ErrInvalid) naming the sequence to page
// on from with After. Offsets and limits near math.MaxInt never overflow.
type Page struct {
	Limit  int
	Offset int
	After  uint64
	Before uint64
}

// Contains reports whether store sequence seq lies within the page's
// After/Before bounds.
func (p Page) Contains(seq uint64) bool {
	return seq > p.After && (p.Before == 0 || seq < p.Before)
}

// Take returns how many matches a scan must see to fill the page (Offset +
// Limit), saturating at math.MaxInt instead of overflowing; 0 means all.
func (p Page) Take() int {
	if p.Limit <= 0 {
		return 0
	}
	if p.Offset > int(^uint(0)>>1)-p.Limit {
		return int(^uint(0) >> 1)
	}
	return p.Offset + p.Limit
}

// Empty reports whether the sequence bounds admit no sequence at all
// (After at the largest sequence, or Before not above After+1).
func (p Page) Empty() bool {
	return p.After == ^uint64(0) || (p.Before != 0 && p.After >= p.Before-1)
}

// OffsetError is the answer to a Page.Offset above MaxOffset when more
// matches than MaxOffset exist: skipping them would cost what a cursor page
// avoids. Page on with Page.After = After (the Seq of the MaxOffset-th match
// after the page's own After), and an Offset of Offset-MaxOffset from there.
type OffsetError struct {
	Offset int    // the offset asked for
	After  uint64 // the Seq of the MaxOffset-th match: continue after it
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("%v: page offset %d is beyond the bound of offset paging (%d); page by sequence instead: after=%d (and offset %d from there)",
		ErrInvalid, e.Offset, MaxOffset, e.After, e.Offset-MaxOffset)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *OffsetError) Unwrap() error { return ErrInvalid }

// Skipper applies a Page to matches met in store order: Offset, the bound
// on it and Limit. A store feeds it every match within the page's sequence
// bounds; it is what makes every store agree on paging.
type Skipper struct {
	page    Page
	skipped int
	taken   int
	lastSeq uint64 // the last skipped match's Seq
}

// NewSkipper returns a Skipper for p.
func NewSkipper(p Page) *Skipper { return &Skipper{page: p} }

// Offer is called with each match in order; take says whether to return
// it, more whether the scan should go on. When the offset bound is reached
// and another match follows, err is an *OffsetError.
func (k *Skipper) Offer(seq uint64) (take, more bool, err error) {
	if k.skipped < k.page.Offset {
		if k.skipped == MaxOffset {
			return false, false, &OffsetError{Offset: k.page.Offset, After: k.lastSeq}
		}
		k.skipped++
		k.lastSeq = seq
		return false, true, nil
	}
	k.taken++
	return true, k.page.Limit == 0 || k.taken < k.page.Limit, nil
}

// Full reports whether the page has taken Limit matches.
func (k *Skipper) Full() bool { return k.page.Limit > 0 && k.taken >= k.page.Limit }

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
