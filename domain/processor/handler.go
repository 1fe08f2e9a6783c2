package processor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Handler handles one event. Returning nil means done; an error means the
// delivery failed and the event will be retried (all its handlers again) or
// dead-lettered. ctx is cancelled at the handler timeout and when Stop's
// deadline passes; a handler must return soon after.
type Handler func(ctx context.Context, ev event.JobEvent) error

// Middleware wraps a Handler, in the manner of Watermill's router
// middlewares: each concern (recover, timeout, your own metrics or tracing)
// is one small function.
type Middleware func(Handler) Handler

// Recoverer turns a panic in h into a *PanicError (wrapping ErrPanic) that
// carries the panic value and stack.
func Recoverer(h Handler) Handler {
	return func(ctx context.Context, ev event.JobEvent) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		return h(ctx, ev)
	}
}

// Timeout returns a middleware that cancels the handler's ctx after d; an
// error returned after that wraps ErrHandlerTimeout.
func Timeout(d time.Duration) Middleware {
	return func(h Handler) Handler {
		return func(ctx context.Context, ev event.JobEvent) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			err := h(ctx, ev)
			if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrPanic) {
				return fmt.Errorf("%w after %s: %w", ErrHandlerTimeout, d, err)
			}
			return err
		}
	}
}

// chain applies mws so that mws[0] is outermost.
func chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// registry holds handlers; dispatch reads an immutable per-type snapshot
// without locking.
type registry struct {
	mu      sync.Mutex
	nextID  uint64
	entries []entry // registration order
	snap    atomic.Pointer[map[event.JobEventType][]Handler]
}

type entry struct {
	id  uint64
	typ event.JobEventType // "" for every type
	h   Handler
}

func (r *registry) add(t event.JobEventType, h Handler) func() {
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.entries = append(r.entries, entry{id: id, typ: t, h: h})
	r.rebuildLocked()
	r.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { r.remove(id) }) }
}

func (r *registry) remove(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.entries {
		if e.id == id {
			r.entries = append(r.entries[:i:i], r.entries[i+1:]...)
			r.rebuildLocked()
			return
		}
	}
}

func (r *registry) rebuildLocked() {
	m := make(map[event.JobEventType][]Handler, len(event.Types()))
	for _, t := range event.Types() {
		for _, e := range r.entries {
			if e.typ == "" || e.typ == t {
				m[t] = append(m[t], e.h)
			}
		}
	}
	r.snap.Store(&m)
}

// handlers returns the handlers of t in registration order.
func (r *registry) handlers(t event.JobEventType) []Handler {
	m := r.snap.Load()
	if m == nil {
		return nil
	}
	return (*m)[t]
}
