package logger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Logger records job events without making its callers wait for storage.
//
// Log validates an event, copies it into a bounded in-memory queue and
// returns; it never blocks and never does I/O. One flusher goroutine takes
// batches off the queue and hands them to a store goroutine that calls
// Store.StoreBatch (and Spill.Replay), one call at a time, or up to two
// with a Store that pipelines (see Pipeliner; on by default); writes to the
// Spill go through a goroutine of their own, so that neither a stalled
// store nor a stalled disk holds the flusher. While a call is in flight
// the next batch fills up (group commit): a lone event is stored in about
// one round trip, and a flood goes out in batches of up to BatchSize.
//
//	 callers            Logger                     flusher goroutine         store goroutine
//	┌────────┐  Log  ┌─────────────────┐  take  ┌──────────────────────┐ job ┌──────────────┐
//	│ many   ├──────►│ queue (ring,    ├───────►│ held: in-flight batch├────►│ StoreBatch   │
//	│ gorou- │ copy, │ mutex, bounded  │ ≤Batch │ + failed, in order   │◄────┤ (ctx, time-  │
//	│ tines  │ no I/O│ by MaxBuffer)   │  Size  │ retry·backoff·breaker│ err │  out)        │
//	└────────┘       └─────────────────┘        └───┬──────────────▲───┘     │ Spill.Replay │
//	                        ▲ overflow policy       │ spill oldest │ replay  └──────────────┘
//	                        │ (DropOldest…)         ▼ (outage)     │ first
//	                                             ┌──────────────────┐
//	                                             │ Spill (optional) │
//	                                             │ writes: on the   │
//	                                             │ spill goroutine  │
//	                                             └──────────────────┘
//
// Guarantees:
//
//   - Order: events are stored in the order they were accepted. A failed
//     batch is retried ahead of newer events; spilled events are older than
//     everything in memory and are replayed before any of it. The one
//     exception is a partial write: when the store (or the Spill) takes
//     only part of a batch (a *BatchError), the failed events are retried
//     (or kept) ahead of every event not yet sent, but land after those of
//     their batch that it did take. docs/logger.md states the exact
//     per-job and stream-wide guarantee.
//   - At least once, never twice: a retry or a replay resends the same
//     event IDs and the Store de-duplicates them within its window (its
//     contract); beyond the window, events whose earlier publish had an
//     unknown outcome are first looked up, if the Store (or WithLookup)
//     provides a Lookup (lookup.go). Without a Lookup, an event re-sent
//     after the window may be stored twice.
//   - Bounded memory: at most MaxBufferSize events are held, whatever the
//     length of an outage.
//   - Nothing lost silently: the "release valve" is the overflow policy
//     (by default the oldest queued event is discarded). With a Spill, the
//     oldest events are written to it instead once the buffer is three
//     quarters full or a batch has used up its retries. Every discarded
//     event is counted by reason (Stats), passed to the drop handler and
//     reported through slog (the first at once, then at most every 10 s);
//     LogSync, Flush and Close say what happened to their events.
//   - Refused at the door: Log refuses (event.ErrInvalid, naming the
//     field) every event the codec cannot encode, see event.Validate.
//   - Rejections are final: an event the Store or the Spill reports as
//     invalid (its error wraps event.ErrInvalid inside a *BatchError) is
//     dropped with reason DropRejected and never retried; the other events
//     of that write count as stored (or spilled).
//   - Honest outcomes: an event given up on after a publish that was sent
//     and never acknowledged is neither stored nor dropped but "outcome
//     unknown" (ErrOutcomeUnknown, Stats.OutcomeUnknown).
//   - Close is bounded: it returns by its ctx's deadline plus CloseGrace.
//   - No goroutine outlives Close, except one blocked in a Store or Spill
//     call that ignores its cancelled ctx: Close stops waiting for it at
//     its bound, and that goroutine ends when the call returns.
//
// A Logger must be made with New. Its methods are safe for concurrent use.
type Logger struct {
	cfg       config
	store     Store
	lookup    Lookup        // the store's, if it has one; see lookup.go
	window    time.Duration // lookup.DedupWindow()
	highWater int           // depth at which the oldest events are spilled
	lowWater  int           // depth spilling brings the buffer down to

	mu        sync.Mutex
	q         ring
	qseq      uint64 // sequence number of the oldest queued event
	held      int    // events taken by the flusher, counted against the max
	heldLow   uint64 // sequence number of the oldest taken event, if held > 0
	closed    bool
	idle      bool          // the flusher sleeps until woken
	dropNoted bool          // a drop happened that the flusher has not reported
	space     chan struct{} // closed when room frees up (Block policy)
	waiters   map[uint64]chan error
	flushes   []*flushWaiter
	st        Stats
	fates     fates

	pauseReplay atomic.Bool
	wake        chan struct{}
	closing     chan context.Context
	done        chan struct{}
	closeErr    error

	f flusher // owned by the flusher goroutine
}

type flushWaiter struct {
	target                    uint64 // every event with a smaller sequence number
	spilled, dropped, unknown int
	done                      chan struct{}
}

// New returns a Logger writing to store and starts its goroutines (the
// flusher, the store caller and, with a Spill, the spill writer); Close
// stops them. If opts include a Spill that holds events, they are replayed
// before anything logged now.
//
// New panics if store is nil.
func New(store Store, opts ...Option) *Logger {
	if store == nil {
		panic("logger.New: nil Store")
	}
	cfg := newConfig(opts)
	l := &Logger{
		cfg:       cfg,
		store:     store,
		highWater: max(1, cfg.maxBufferSize-cfg.maxBufferSize/4),
		lowWater:  cfg.maxBufferSize / 2,
		q:         newRing(cfg.maxBufferSize),
		wake:      make(chan struct{}, 1),
		closing:   make(chan context.Context, 1),
		done:      make(chan struct{}),
	}
	if lk, ok := store.(Lookup); ok {
		l.lookup = lk
	}
	if cfg.lookup != nil {
		l.lookup = cfg.lookup
	}
	if l.lookup != nil {
		l.window = l.lookup.DedupWindow()
	}
	l.f.init(l)
	go l.run()
	return l
}

// Log accepts ev for storage and returns at once: it never blocks and does
// no I/O. It returns an error wrapping event.ErrInvalid if ev does not
// validate, ErrClosed once Close has begun, and, under the Block policy
// only, ErrBufferFull when the buffer is full. Under the drop policies a
// full buffer discards an event (counted and reported) and Log returns nil.
func (l *Logger) Log(ev event.JobEvent) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	_, err := l.enqueue(context.Background(), false, &ev, nil)
	return err
}

// LogCtx is Log, except that under the Block policy it waits for room in
// the buffer until ctx is done, then returns an error wrapping both
// ErrBufferFull and ctx's error.
func (l *Logger) LogCtx(ctx context.Context, ev event.JobEvent) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	_, err := l.enqueue(ctx, true, &ev, nil)
	return err
}

// LogSync logs ev (waiting for room under the Block policy, like LogCtx)
// and returns once the store has acknowledged it: nil means ev is durably
// stored. Otherwise it returns ctx's error (ev stays in the pipeline), the
// store's rejection (wrapping event.ErrInvalid), an error wrapping
// ErrSpilled (ev is in the Spill, durable but not stored yet), one
// wrapping ErrOutcomeUnknown (sent, never acknowledged, given up on: it may
// be stored) or one wrapping ErrDropped that names the reason.
func (l *Logger) LogSync(ctx context.Context, ev event.JobEvent) error {
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	w := make(chan error, 1)
	seq, err := l.enqueue(ctx, true, &ev, w)
	if err != nil {
		return err
	}
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		l.mu.Lock()
		delete(l.waiters, seq)
		l.mu.Unlock()
		return fmt.Errorf("logger: waiting for event %s to be stored: %w", ev.ID, ctx.Err())
	}
}

// enqueue appends ev, applying the overflow policy when the buffer is full.
// Under the Block policy it waits for room until ctx is done if wait is
// true, and refuses at once otherwise (Log). w, if not nil, is registered to receive the
// event's fate. It returns the event's sequence number.
func (l *Logger) enqueue(ctx context.Context, wait bool, ev *event.JobEvent, w chan error) (uint64, error) {
	var (
		signal  bool
		dropped event.JobEvent
		hasDrop bool // dropped holds the discarded event, for the drop handler
		shift   bool // the oldest queued event is discarded: ev takes its place in one step
	)
	l.mu.Lock()
	for l.q.n+l.held >= l.cfg.maxBufferSize && !l.closed {
		if l.cfg.overflow == Block {
			if !wait {
				l.st.Refused++
				l.mu.Unlock()
				return 0, fmt.Errorf("%w: %d events held; Log does not wait under the Block policy, use LogCtx", ErrBufferFull, l.cfg.maxBufferSize)
			}
			if l.space == nil {
				l.space = make(chan struct{})
			}
			space := l.space
			l.mu.Unlock()
			select {
			case <-space:
				l.mu.Lock()
				continue
			case <-ctx.Done():
				l.mu.Lock()
				l.st.Refused++
				l.mu.Unlock()
				return 0, fmt.Errorf("%w: %w", ErrBufferFull, ctx.Err())
			}
		}
		l.st.Dropped.Overflow++
		l.fates.dropped++
		signal = l.noteDropLocked()
		if l.cfg.overflow == DropNewest || l.q.n == 0 {
			// Discard the new event: the policy says so, or every held
			// event is taken by a store call already.
			l.st.Logged++
			l.mu.Unlock()
			l.wakeFlusher(signal)
			if l.cfg.onDrop != nil {
				l.cfg.onDrop(*ev, DropOverflow)
			}
			if w != nil {
				return 0, dropError(DropOverflow)
			}
			return 0, nil
		}
		if l.cfg.onDrop != nil {
			dropped, hasDrop = l.q.pop(), true
		} else {
			shift = true // nobody looks at the discarded event: no copy of it
		}
		if l.trackingLocked() {
			l.settleLocked(l.qseq, outDropped, dropError(DropOverflow))
		}
		l.qseq++
		break
	}
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	var seq uint64
	if shift {
		seq = l.qseq + uint64(l.q.n-1)
		l.q.shift(ev)
	} else {
		seq = l.qseq + uint64(l.q.n)
		l.q.push(ev)
	}
	l.st.Logged++
	if w != nil {
		if l.waiters == nil {
			l.waiters = make(map[uint64]chan error)
		}
		l.waiters[seq] = w
	}
	if l.idle {
		l.idle, signal = false, true
	}
	if l.cfg.spill != nil && l.q.n+l.held == l.highWater {
		signal = true
	}
	l.mu.Unlock()
	l.wakeFlusher(signal)
	if hasDrop && l.cfg.onDrop != nil {
		l.cfg.onDrop(dropped, DropOverflow)
	}
	return seq, nil
}

func (l *Logger) wakeFlusher(signal bool) {
	if signal {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// noteDropLocked reports whether the flusher must be woken to report a
// drop through slog.
func (l *Logger) noteDropLocked() bool {
	if l.dropNoted {
		return false
	}
	l.dropNoted = true
	return true
}

type outcome uint8

const (
	outStored outcome = iota
	outSpilled
	outDropped
	outUnknown
)

// settleLocked tells the LogSync and Flush callers waiting for event seq
// what became of it.
func (l *Logger) settleLocked(seq uint64, o outcome, err error) {
	if w, ok := l.waiters[seq]; ok {
		w <- err
		delete(l.waiters, seq)
	}
	for _, f := range l.flushes {
		if seq < f.target {
			switch o {
			case outSpilled:
				f.spilled++
			case outDropped:
				f.dropped++
			case outUnknown:
				f.unknown++
			}
		}
	}
}

// tracking reports whether anyone waits for individual fates.
func (l *Logger) trackingLocked() bool { return len(l.waiters) > 0 || len(l.flushes) > 0 }

// lowLocked returns the sequence number below which every event has met
// its fate.
func (l *Logger) lowLocked() uint64 {
	if l.held > 0 {
		return l.heldLow
	}
	return l.qseq
}

// Flush waits until every event logged before the call and still in
// memory has met its fate, and returns nil if all of them were stored, or
// ctx's error if it ends first. If some of them were spilled, dropped or
// given up with an unknown outcome while Flush waited, it returns an error
// wrapping ErrSpilled, ErrDropped and/or ErrOutcomeUnknown with the counts. Events discarded before the call (by the
// overflow policy) were reported then, through Stats, the drop handler and
// slog. Flush does not replay the Spill, and does not wait for events
// spilled before the call.
func (l *Logger) Flush(ctx context.Context) error {
	l.mu.Lock()
	target := l.qseq + uint64(l.q.n)
	if l.lowLocked() >= target {
		l.mu.Unlock()
		return nil
	}
	fw := &flushWaiter{target: target, done: make(chan struct{})}
	l.flushes = append(l.flushes, fw)
	l.mu.Unlock()
	select {
	case <-fw.done:
		return fw.err()
	case <-ctx.Done():
		l.mu.Lock()
		for i, f := range l.flushes {
			if f == fw {
				l.flushes = append(l.flushes[:i], l.flushes[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
		return fmt.Errorf("logger: flush: %w", ctx.Err())
	}
}

func (f *flushWaiter) err() error {
	var errs []error
	if f.spilled > 0 {
		errs = append(errs, fmt.Errorf("%d events %w", f.spilled, ErrSpilled))
	}
	if f.dropped > 0 {
		errs = append(errs, fmt.Errorf("%d events %w (see Stats().Dropped)", f.dropped, ErrDropped))
	}
	if f.unknown > 0 {
		errs = append(errs, fmt.Errorf("%d events: %w (see Stats().OutcomeUnknown)", f.unknown, ErrOutcomeUnknown))
	}
	if errs == nil {
		return nil
	}
	return fmt.Errorf("logger: flush: not every event was stored: %w", errors.Join(errs...))
}

// completeFlushesLocked releases the Flush callers whose events have all
// met their fate.
func (l *Logger) completeFlushesLocked() {
	if len(l.flushes) == 0 {
		return
	}
	low := l.lowLocked()
	kept := l.flushes[:0]
	for _, f := range l.flushes {
		if f.target <= low {
			close(f.done)
		} else {
			kept = append(kept, f)
		}
	}
	clear(l.flushes[len(kept):])
	l.flushes = kept
}

// Close stops accepting events (Log returns ErrClosed), stores what is
// buffered and stops the Logger's goroutines.
//
// If every event held at Close is stored, Close returns nil. If the store
// is failing or the Spill holds older events, the buffer is written to the
// Spill (keeping order) instead of waiting. If ctx ends first, the store
// call in flight is cancelled, what is left goes to the Spill (the batch in
// flight first) while time is left, and the rest is given up: as outcome
// unknown if it may be stored or on disk (sent and never acknowledged, or
// in a spill write that did not return), else dropped with reason
// DropClosed. Close then returns a *CloseError counting the events not
// stored and where each went (NotStored = Spilled + Dropped +
// OutcomeUnknown), wrapping ctx's error if it ended.
//
// Bound: Close returns by ctx's deadline plus CloseGrace (for a ctx without
// a deadline: CloseGrace after ctx ends), whatever the Store and the Spill
// do — a call that stalls or never returns is abandoned at the bound and
// its events are counted as outcome unknown. With a ctx that never ends
// and a store that never answers, Close waits.
//
// Close does not replay the Spill; the next Logger on it does. A second
// call returns ErrClosed.
func (l *Logger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	if l.space != nil {
		close(l.space)
		l.space = nil
	}
	l.mu.Unlock()
	l.closing <- ctx
	<-l.done
	return l.closeErr
}

// Stats returns a snapshot of the counters.
func (l *Logger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.st
	s.BufferDepth = l.q.n + l.held
	return s
}
