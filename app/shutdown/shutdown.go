// Package shutdown is the stop sequence of `naq-events serve`, written down
// once: Order says which component stops when and why, and a Sequence runs
// the stop functions the modules register, step by step in that order,
// within the stop deadline.
//
// fx would otherwise stop components in the reverse order of their
// construction, which makes the order a side effect of constructor
// parameters. Here the modules hand their stop functions to the Sequence
// (Add) instead of appending stop hooks of their own, and the Sequence is
// one stop hook, appended before any module's start hook: it runs whether
// the service stops normally or fx undoes a start that failed half-way.
//
// A new component joins by adding its Step to the constants and to Order,
// where it must stop, and calling Sequence.Add with that Step in its module.
package shutdown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.uber.org/fx"
)

// Step is one component in the stop sequence; its value is the name of the
// app/ package whose module registers it.
type Step string

// The steps of Order.
const (
	Demo      Step = "demo"       // the demo workload stops logging
	HTTP      Step = "httpapi"    // HTTP intake stops: streams end, requests finish
	Logger    Step = "eventlog"   // the logger drains into the store (or its spill)
	Processor Step = "processing" // the processor stops consuming
	Rollups   Step = "rollups"    // the rollup keeper stops reading the stream
	Store     Step = "storage"    // the store closes
	NATS      Step = "natsconn"   // the NATS connection drains
	Embedded  Step = "embedded"   // the embedded nats-server shuts down
)

// Order is the stop order of the service, first to last:
//
//  1. Demo, HTTP: intake stops first, so nothing is logged into a closed
//     logger and no request reads a closed store;
//  2. Logger: the logger drains its buffer into the store while the
//     processor and the rollups still consume, so they see the last events;
//  3. Processor, Rollups: the consumers of the stream stop, each waiting for
//     its handlers, before the store they read closes;
//  4. Store: closed once nothing writes or reads it;
//  5. NATS: the connection drains after every user of it has stopped;
//  6. Embedded: the server goes last, after its last client.
//
// A step with nothing registered (no NATS with memory storage, no demo
// without --demo) is skipped.
var Order = []Step{Demo, HTTP, Logger, Processor, Rollups, Store, NATS, Embedded}

// Sequence runs stop functions in the order of its steps. Its methods are
// safe for concurrent use.
type Sequence struct {
	order []Step
	log   *slog.Logger

	mu      sync.Mutex
	stops   map[Step][]func(context.Context) error
	observe []func(Step)
	stopped bool
}

// New returns a Sequence over order (normally Order) that logs each step at
// debug level to log (nil: slog.Default()).
func New(order []Step, log *slog.Logger) *Sequence {
	if log == nil {
		log = slog.Default()
	}
	return &Sequence{
		order: slices.Clone(order),
		log:   log.With("component", "shutdown"),
		stops: make(map[Step][]func(context.Context) error),
	}
}

// Add registers stop to run at step. Several functions of one step run in
// the order they were added. stop gets the stop deadline in its ctx; it
// must also work when its component never started (fx undoing a failed
// start). Add panics when step is not in the Sequence's order or stop is
// nil: a programming error that the first start of the graph shows. Adding
// after Stop has begun has no effect.
func (s *Sequence) Add(step Step, stop func(context.Context) error) {
	if !slices.Contains(s.order, step) {
		panic(fmt.Sprintf("shutdown: step %q is not in the stop order %v; add it to shutdown.Order where it must stop", step, s.order))
	}
	if stop == nil {
		panic(fmt.Sprintf("shutdown: nil stop function for step %q", step))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stops[step] = append(s.stops[step], stop)
	}
}

// Observe calls fn with each step just before its stop functions run (for
// tests and diagnostics). fn must be fast.
func (s *Sequence) Observe(fn func(Step)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe = append(s.observe, fn)
}

// Steps returns the steps that have stop functions, in the order they will
// stop.
func (s *Sequence) Steps() []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Step
	for _, st := range s.order {
		if len(s.stops[st]) > 0 {
			out = append(out, st)
		}
	}
	return out
}

// Stop runs every registered stop function, step by step in order, each
// with ctx. A failing step does not stop the sequence: later steps still
// run (a store that cannot close must not keep NATS open), and the errors
// are returned joined, each prefixed by its step. Stop runs once; later
// calls return nil.
func (s *Sequence) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	observe := slices.Clone(s.observe)
	s.mu.Unlock() // stops is no longer written once stopped is set

	var errs []error
	for _, step := range s.order {
		fns := s.stops[step]
		if len(fns) == 0 {
			continue
		}
		for _, fn := range observe {
			fn(step)
		}
		start := time.Now()
		for _, stop := range fns {
			if err := stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", step, err))
			}
		}
		s.log.Debug("stopped", "step", string(step), "took", time.Since(start))
	}
	return errors.Join(errs...)
}

// Module provides the *Sequence of Order and runs it as the graph's one stop
// hook. Every module that has something to stop takes the *Sequence and
// calls Add; fx constructs the Sequence before them, so its hook is
// appended before their start hooks and runs after a partial start too.
// The module's own invoke builds the Sequence at its place in the graph's
// options (put the module before those that append start hooks), so that
// this holds even for a start hook whose constructor does not take it.
var Module = fx.Module("shutdown",
	fx.Provide(func(lc fx.Lifecycle, log *slog.Logger) *Sequence {
		s := New(Order, log)
		lc.Append(fx.StopHook(s.Stop))
		return s
	}),
	fx.Invoke(func(*Sequence) {}),
)
