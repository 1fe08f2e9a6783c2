package ports

import (
	"errors"
	"fmt"

	"github.com/naq-go/events/domain/event"
)

// Sentinel errors every store returns, wrapped with context; test them with
// errors.Is.
var (
	// ErrNotFound: the thing asked for (a job, a stream, an event) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrClosed: the store was closed; the call did nothing.
	ErrClosed = errors.New("store closed")
	// ErrUnavailable: the backend cannot be reached now; the call may succeed later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalid: the input is malformed; the wrapping error names the field.
	// It is the domain's event.ErrInvalid, so one errors.Is test covers both.
	ErrInvalid = event.ErrInvalid
	// ErrScanBound: answering the query would mean reading more stored
	// events than the store's stated bound (a filter its indexes cannot
	// select, over a large part of the stream). The store is fine; the
	// query must be narrowed. The wrapping *ScanError says how.
	ErrScanBound = errors.New("query would scan too many events")
	// ErrForbidden: the backend refused the operation to this user (a NATS
	// permission it lacks); it will not succeed until the user is given the
	// permission, which the wrapping error names.
	ErrForbidden = errors.New("operation not permitted")
)

// ScanError is a query refused because it would read more than Bound
// stored events to find what Filter asks for. Fix says what to add to the
// query, in the filter's own words ("since or type").
type ScanError struct {
	What     string // the part of the filter that needs the scan: "queue filter"
	Estimate uint64 // events the scan would read (at least)
	Bound    int
	NoWindow bool   // the query has no time window
	Fix      string // what to add: "since= or type="
}

func (e *ScanError) Error() string {
	return fmt.Sprintf("%v: %s", ErrScanBound, e.Describe())
}

// Describe says what is refused and how to fix it, without the sentinel:
// "queue filter over 1000000 events without a time window (the bound is
// 100000): add since= or type=".
func (e *ScanError) Describe() string {
	window := ""
	if e.NoWindow {
		window = " without a time window"
	}
	return fmt.Sprintf("%s over %d events%s (the bound is %d): add %s", e.What, e.Estimate, window, e.Bound, e.Fix)
}

// Unwrap makes errors.Is(err, ErrScanBound) hold.
func (e *ScanError) Unwrap() error { return ErrScanBound }
