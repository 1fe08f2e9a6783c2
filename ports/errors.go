package ports

import (
	"errors"

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
)
