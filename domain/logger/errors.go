package logger

import (
	"errors"
	"fmt"
)

// BatchError says which events of a batch were not stored. Errs has one entry
// per event of the batch, in order; a nil entry means that event is stored.
type BatchError struct {
	Errs []error
}

func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("%d of %d events not stored, first: %v", n, len(e.Errs), first)
}

// Unwrap returns the per-event errors so errors.Is sees through a BatchError.
func (e *BatchError) Unwrap() []error {
	out := make([]error, 0, len(e.Errs))
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// ErrClosed is returned by Log and friends after Close has begun.
var ErrClosed = errors.New("logger: closed")

// ErrBufferFull is wrapped by the error of Log under the Block policy when
// the buffer is full, and of LogCtx and LogSync when their ctx ends while
// they wait for room. The event was not accepted.
var ErrBufferFull = errors.New("logger: buffer full")

// ErrSpilled is wrapped by the error of LogSync, Flush and Close for events
// that were written to the Spill instead of the Store. They are durable and
// will be replayed, but they are not stored yet.
var ErrSpilled = errors.New("logger: spilled, not yet stored")

// ErrDropped is wrapped by the error of LogSync, Flush and Close for events
// that were discarded; the error names the reason.
var ErrDropped = errors.New("logger: dropped")

// ErrOutcomeUnknown is wrapped by the error of LogSync, Flush and Close
// for events the logger gave up on after a publish whose outcome it does
// not know: the event was sent, but no acknowledgement came (a timeout,
// ctx ended, the connection was lost). The store may hold it or not. Such
// an event is neither counted as stored nor as dropped but as
// Stats().OutcomeUnknown; see docs/logger.md for what to do with it.
var ErrOutcomeUnknown = errors.New("logger: outcome unknown, may or may not be stored")

// ErrNotSent is for Store implementations: a per-event error (or a batch's
// error) that wraps it says the event certainly did not reach the store
// (for example it was never published). Without it the logger assumes that
// a failed event may be stored, and if it gives up on it, counts it as
// outcome unknown rather than dropped.
var ErrNotSent = errors.New("logger: not sent to the store")

// CloseError is returned by Close when some events held at Close were not
// stored. NotStored = Spilled + Dropped + OutcomeUnknown: nothing is left
// unaccounted for.
type CloseError struct {
	NotStored int
	Spilled   int // written to the Spill; replayed by the next Logger on it
	Dropped   int // discarded, certainly not stored; see Stats().Dropped
	// OutcomeUnknown counts events given up on whose publish was sent but
	// never acknowledged (or whose spill write did not return in time):
	// they may be stored (or on disk). See ErrOutcomeUnknown.
	OutcomeUnknown int
	// Err is ctx's error when Close's ctx ended before the buffer drained,
	// else nil (the events were spilled because the store was failing or
	// the Spill held older events).
	Err error
}

func (e *CloseError) Error() string {
	s := fmt.Sprintf("logger: closed with %d events not stored: %d spilled, %d dropped, %d outcome unknown",
		e.NotStored, e.Spilled, e.Dropped, e.OutcomeUnknown)
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap lets errors.Is find ctx's error, ErrSpilled, ErrDropped and
// ErrOutcomeUnknown.
func (e *CloseError) Unwrap() []error {
	var out []error
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.Spilled > 0 {
		out = append(out, ErrSpilled)
	}
	if e.Dropped > 0 {
		out = append(out, ErrDropped)
	}
	if e.OutcomeUnknown > 0 {
		out = append(out, ErrOutcomeUnknown)
	}
	return out
}

// dropErrors are the errors LogSync returns for a discarded event, made
// once so that dropping costs no allocation.
var dropErrors = func() (errs [DropClosed + 1]error) {
	for r := range errs {
		errs[r] = fmt.Errorf("%w: %s", ErrDropped, DropReason(r))
	}
	return errs
}()

func dropError(r DropReason) error { return dropErrors[r] }

// errGivenUp is what LogSync returns for an event of unknown outcome.
var errGivenUp = fmt.Errorf("%w: the logger gave up on it after a publish that was never acknowledged", ErrOutcomeUnknown)
