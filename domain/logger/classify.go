package logger

import (
	"errors"

	"github.com/naq-go/events/domain/event"
)

// verdict is what one event's part in a Store or Spill write came to.
type verdict uint8

const (
	vDone     verdict = iota // stored (or written to the spill)
	vRejected                // refused as invalid: final, never retried
	vFailed                  // transient failure: retry, spill or give up
)

// classify sorts the n events of a write by its error, the same way for a
// Store and a Spill (their shared contract): nil stores every event; a
// *BatchError with one entry per event says which failed, and an entry
// wrapping event.ErrInvalid is a rejection; a lone event's error wrapping
// event.ErrInvalid rejects it; any other error fails every event. It
// appends to out[:0] and returns the verdicts, how many failed, and the
// per-event errors if the write gave them (else nil: err applies to all).
func classify(err error, n int, out []verdict) (_ []verdict, failed int, errs []error) {
	out = out[:0]
	var be *BatchError
	switch {
	case err == nil:
		for range n {
			out = append(out, vDone)
		}
		return out, 0, nil
	case errors.As(err, &be) && len(be.Errs) == n:
		for _, e := range be.Errs {
			switch {
			case e == nil:
				out = append(out, vDone)
			case errors.Is(e, event.ErrInvalid):
				out = append(out, vRejected)
			default:
				out = append(out, vFailed)
				failed++
			}
		}
		return out, failed, be.Errs
	case n == 1 && errors.Is(err, event.ErrInvalid):
		return append(out, vRejected), 0, []error{err}
	}
	for range n {
		out = append(out, vFailed)
	}
	return out, n, nil
}

// eventErr returns the error of event i of a classified write.
func eventErr(err error, errs []error, i int) error {
	if errs != nil {
		return errs[i]
	}
	return err
}

// maybeStored reports whether a failed publish may have reached the store
// anyway: true unless the store said it certainly did not (ErrNotSent).
func maybeStored(err error) bool { return !errors.Is(err, ErrNotSent) }
