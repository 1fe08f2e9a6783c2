package processor

import (
	"errors"
	"fmt"
)

var (
	// ErrStarted is returned by Start on a processor that was started before.
	ErrStarted = errors.New("processor: already started")
	// ErrNotStarted is returned by Stop on a processor that never started.
	ErrNotStarted = errors.New("processor: not started")
	// ErrHandlerTimeout is wrapped by the error of a handler call that was
	// still running when its timeout (WithHandlerTimeout) expired.
	ErrHandlerTimeout = errors.New("processor: handler timed out")
	// ErrPanic is wrapped by a *PanicError: a handler panicked.
	ErrPanic = errors.New("processor: handler panicked")
	// ErrDropped is wrapped by MonitorJob's result when the callback was so
	// slow that the bounded buffer overflowed and events were dropped.
	ErrDropped = errors.New("processor: events dropped")
	// ErrStreamEnded is returned by WaitFor and MonitorJob when the
	// Streamer's iterator ended without an error while ctx was still live
	// (for example the store was closed).
	ErrStreamEnded = errors.New("processor: stream ended")
)

// PanicError is the error a handler call returns when it panicked: the
// panic is recovered, counted (Stats.Panics), logged with Stack, and the
// delivery is treated as a failure.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("processor: handler panicked: %v", e.Value) }

// Unwrap makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Unwrap() error { return ErrPanic }
