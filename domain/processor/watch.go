package processor

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/naq-go/events/domain/event"
)

// Streamer is what watching needs from a store: exactly ports.Streamer's
// method, so every ports.Store (memory, file, JetStream) is a Streamer.
//
// Stream yields matching records in store order until ctx ends, the caller
// stops ranging, or a fatal error (yielded last). With
// StreamOptions{History: true} it yields every stored match and then live
// ones with no gap and no duplicate; watching relies on that.
type Streamer interface {
	Stream(ctx context.Context, f event.Filter, opts event.StreamOptions) iter.Seq2[event.Record, error]
}

// DefaultWatchBuffer is MonitorJob's default buffer, in events.
const DefaultWatchBuffer = 1024

type watchConfig struct {
	env, svc string
	buffer   int
	logger   *slog.Logger
}

// WatchOption configures NewWatcher.
type WatchOption func(*watchConfig)

// WatchScope limits watching to jobs of one environment and service. By
// default (and for empty values) jobs of every environment and service
// match, so a job id used in two services is seen in both. A value that is
// not a valid subject token (see event.CheckToken: '.', '*', '>', white
// space) falls back to that default for its part of the scope, so it never
// turns into a wildcard or matches another environment's subjects.
func WatchScope(environment, service string) WatchOption {
	return func(c *watchConfig) {
		c.env, c.svc = "", ""
		if event.CheckToken("environment", environment) == nil {
			c.env = environment
		}
		if event.CheckToken("service", service) == nil {
			c.svc = service
		}
	}
}

// WatchBuffer sets how many events MonitorJob holds for a callback that is
// slower than the events arrive. Default 1024; n < 1 keeps the default.
func WatchBuffer(n int) WatchOption {
	return func(c *watchConfig) {
		if n >= 1 {
			c.buffer = n
		}
	}
}

// WatchSlog sets the logger. Default slog.Default(); nil keeps it.
func WatchSlog(l *slog.Logger) WatchOption {
	return func(c *watchConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// Watcher follows single jobs through a Streamer. It is safe for
// concurrent use and holds no goroutine between calls.
type Watcher struct {
	s       Streamer
	cfg     watchConfig
	dropped atomic.Uint64
}

// NewWatcher returns a watcher reading s.
func NewWatcher(s Streamer, opts ...WatchOption) *Watcher {
	cfg := watchConfig{buffer: DefaultWatchBuffer, logger: slog.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	return &Watcher{s: s, cfg: cfg}
}

// Dropped is how many events all MonitorJob calls of w have dropped.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

func (w *Watcher) filter(jobID string, types []event.JobEventType) (event.Filter, error) {
	if err := event.CheckToken("job_id", jobID); err != nil {
		return event.Filter{}, err
	}
	for _, t := range types {
		if !t.Valid() {
			return event.Filter{}, fmt.Errorf("%w: event type %q is not one of the 24 known types", event.ErrInvalid, t)
		}
	}
	return event.Filter{Environment: w.cfg.env, Service: w.cfg.svc, JobID: jobID, Types: types}, nil
}

// WaitFor returns the first event of job jobID whose type is one of types
// (any type if none), whether it was stored before the call or is stored
// later. History and live events come from one Stream call, so an event
// stored while WaitFor starts is neither missed nor waited for twice. When
// ctx ends first, the error wraps ctx.Err() (context.DeadlineExceeded for a
// timeout) even if the store is quiet.
func (w *Watcher) WaitFor(ctx context.Context, jobID string, types ...event.JobEventType) (event.JobEvent, error) {
	f, err := w.filter(jobID, types)
	if err != nil {
		return event.JobEvent{}, fmt.Errorf("wait for job: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for rec, err := range w.s.Stream(ctx, f, event.StreamOptions{History: true}) {
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return event.JobEvent{}, fmt.Errorf("wait for %v of job %q: %w", types, jobID, err)
		}
		return rec.Event, nil
	}
	if err := ctx.Err(); err != nil {
		return event.JobEvent{}, fmt.Errorf("wait for %v of job %q: %w", types, jobID, err)
	}
	return event.JobEvent{}, fmt.Errorf("wait for %v of job %q: %w", types, jobID, ErrStreamEnded)
}

// MonitorJob calls fn with every event of job jobID: its history first,
// then live events as they are stored, in store order with no gap and no
// duplicate, until ctx ends (it returns ctx.Err()), fn returns an error (it
// returns that error) or the stream fails.
//
// fn runs on the caller's goroutine while another goroutine reads the
// store into a buffer of WatchBuffer events. When fn falls that far behind,
// the oldest buffered event is dropped to make room, so fn keeps seeing the
// job's latest state (its final event is never the one dropped for a
// newer one); drops are counted (Watcher.Dropped), logged once per call, and
// the returned error then also wraps ErrDropped with the count. To see every
// event of a very long history with a slow fn, raise WatchBuffer.
func (w *Watcher) MonitorJob(ctx context.Context, jobID string, fn func(event.JobEvent) error) error {
	f, err := w.filter(jobID, nil)
	if err != nil {
		return fmt.Errorf("monitor job: %w", err)
	}
	if fn == nil {
		return fmt.Errorf("monitor job %q: %w: callback is nil", jobID, event.ErrInvalid)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	buf := newRing(w.cfg.buffer)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for rec, err := range w.s.Stream(ctx, f, event.StreamOptions{History: true}) {
			if err != nil {
				buf.close(err)
				return
			}
			if buf.push(rec.Event) {
				if w.dropped.Add(1); buf.drops() == 1 {
					w.cfg.logger.Warn("monitor callback too slow; dropping oldest events",
						"job_id", jobID, "buffer", w.cfg.buffer)
				}
			}
		}
		buf.close(nil)
	}()

	var res error
	for {
		ev, ok, err := buf.pop(ctx)
		if !ok {
			switch {
			case err != nil && ctx.Err() == nil:
				res = fmt.Errorf("monitor job %q: %w", jobID, err)
			case ctx.Err() != nil:
				res = ctx.Err()
			default:
				res = fmt.Errorf("monitor job %q: %w", jobID, ErrStreamEnded)
			}
			break
		}
		if err := fn(ev); err != nil {
			res = err
			break
		}
	}
	if n := buf.drops(); n > 0 {
		res = errors.Join(res, fmt.Errorf("monitor job %q: %w: %d events, the callback fell more than %d behind",
			jobID, ErrDropped, n, w.cfg.buffer))
	}
	return res
}

// ring is a bounded FIFO that overwrites its oldest item when full.
type ring struct {
	mu      sync.Mutex
	items   []event.JobEvent
	head, n int
	dropped uint64
	done    bool
	err     error
	notify  chan struct{} // capacity 1: "something changed"
}

func newRing(size int) *ring {
	return &ring{items: make([]event.JobEvent, size), notify: make(chan struct{}, 1)}
}

// push appends ev and reports whether the oldest item was dropped for it.
func (r *ring) push(ev event.JobEvent) (dropped bool) {
	r.mu.Lock()
	if r.n == len(r.items) {
		r.head = (r.head + 1) % len(r.items)
		r.n--
		r.dropped++
		dropped = true
	}
	r.items[(r.head+r.n)%len(r.items)] = ev
	r.n++
	r.mu.Unlock()
	r.signal()
	return dropped
}

func (r *ring) close(err error) {
	r.mu.Lock()
	r.done, r.err = true, err
	r.mu.Unlock()
	r.signal()
}

func (r *ring) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *ring) drops() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// pop waits for the oldest item; ok is false once the ring is closed and
// empty (err is the close error) or ctx ended.
func (r *ring) pop(ctx context.Context) (ev event.JobEvent, ok bool, err error) {
	for {
		r.mu.Lock()
		if r.n > 0 {
			ev = r.items[r.head]
			r.items[r.head] = event.JobEvent{}
			r.head = (r.head + 1) % len(r.items)
			r.n--
			r.mu.Unlock()
			return ev, true, nil
		}
		done, err := r.done, r.err
		r.mu.Unlock()
		if done {
			return ev, false, err
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return ev, false, ctx.Err()
		}
	}
}
