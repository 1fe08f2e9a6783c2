package logger

import (
	"context"
	"time"
)

// CloseGrace is the one constant Close may take beyond its ctx's deadline
// (or, for a ctx without one, beyond the moment it ends): the time to
// cancel the store call in flight, wait for its answer and write what is
// left to the Spill. It is a bound on the whole of Close, not per batch:
// whatever the Store and the Spill do (stall, ignore ctx, never return),
// Close returns by then, and reports what it could not settle exactly.
const CloseGrace = time.Second

// closer is the close path: draining while ctx lasts, then the bounded
// abort, then the CloseError.
type closer struct {
	draining bool // Close began
	aborting bool // Close's ctx ended
	ctx      context.Context
	// hard is when Close must be done: ctx's deadline plus CloseGrace, or,
	// for a ctx without a deadline, the moment it ended plus CloseGrace.
	// Zero while not known.
	hard time.Time
	mark fates // fates when Close began
}

// fates counts what became of events that were in memory, for Close.
type fates struct{ spilled, dropped, unknown uint64 }

// beginClose starts draining for Close(ctx).
func (l *Logger) beginClose(ctx context.Context, now time.Time) {
	c := &l.f.close
	c.draining, c.ctx = true, ctx
	if d, ok := ctx.Deadline(); ok {
		c.hard = d.Add(CloseGrace)
	} else if ctx.Err() != nil {
		c.hard = now.Add(CloseGrace)
	}
	l.mu.Lock()
	c.mark = l.fates
	l.mu.Unlock()
}

// awaitWorker waits for the result of w's call in flight. Once Close has
// begun it waits at most until Close's bound and then reports false (the
// call is abandoned); before that it also takes Close's request, so that a
// stalled write cannot keep Close from starting its clock.
func (l *Logger) awaitWorker(w *worker) (error, bool) {
	c := &l.f.close
	for {
		var hardC <-chan time.Time
		var t *time.Timer
		if !c.hard.IsZero() {
			t = time.NewTimer(time.Until(c.hard))
			hardC = t.C
		}
		var ctxDone <-chan struct{}
		if c.draining && c.hard.IsZero() {
			ctxDone = c.ctx.Done()
		}
		var closing <-chan context.Context
		if !c.draining {
			closing = l.closing
		}
		var err error
		got, expired := false, false
		select {
		case err = <-w.results:
			got = true
		case ctx := <-closing:
			l.beginClose(ctx, time.Now())
		case <-ctxDone:
			c.hard = time.Now().Add(CloseGrace)
		case <-hardC:
			expired = true
		}
		if t != nil {
			t.Stop()
		}
		switch {
		case got:
			w.took()
			return err, true
		case expired:
			return nil, false
		}
	}
}

// drainToSpill, during Close, puts everything in memory behind the spill
// when the spill holds older events or the store is failing, instead of
// waiting for the store.
func (l *Logger) drainToSpill(now time.Time) {
	f := &l.f
	if l.cfg.spill == nil || f.spill.w.busy() || now.Before(f.spill.retryAt) || (f.spill.pending == 0 && !f.brk.failing()) {
		return
	}
	if f.store.kind == callReplay {
		l.pauseReplay.Store(true)
		return
	}
	if l.spillOldest(0, now) && f.store.kind == callStore {
		f.cancel() // its events are in the spill; stop waiting for the store
	}
}

// drained reports whether Close may finish: nothing in memory or in flight.
func (l *Logger) drained() bool {
	f := &l.f
	l.mu.Lock()
	defer l.mu.Unlock()
	return !f.store.busy() && f.held.len() == 0 && l.q.n == 0
}

// abort ends Close once its ctx is done, by Close's bound: the call in
// flight is cancelled, memory goes to the Spill (the batch in flight
// first, keeping order) while time is left, the call's answer is awaited
// until the bound, and what is left is given up: as outcome unknown if it
// may be stored or on disk (sent and not acknowledged, or in a write that
// did not return), else dropped with reason DropClosed.
func (l *Logger) abort() {
	f := &l.f
	c := &f.close
	c.aborting = true
	if c.hard.IsZero() {
		c.hard = time.Now().Add(CloseGrace)
	}
	l.pauseReplay.Store(true)
	f.cancel()

	canSpill := func() bool {
		return l.cfg.spill != nil && !f.spill.w.busy() && f.store.kind != callReplay && time.Now().Before(c.hard)
	}
	if f.store.kind == callReplay {
		l.awaitStore()
	}
	if canSpill() {
		l.spillOldest(0, time.Now())
	}
	for f.store.busy() && l.awaitStore() { // two answers with a chained call
	}
	if canSpill() {
		l.spillOldest(0, time.Now()) // what the call handed back for a retry
	}

	if f.store.kind == callStore { // its answer never came
		l.settleStashed()
		n := f.inN
		f.held.detach() // the call may still read its events
		l.mu.Lock()
		l.st.InFlight = 0
		l.mu.Unlock()
		if f.inSpilt {
			l.mu.Lock()
			for i := range n {
				l.settleLocked(f.held.seqs[i], outSpilled, spilledError(f.held.evs[i].ID))
			}
			l.fates.spilled += uint64(n)
			l.removeLocked(0, n)
			clear(f.inDisk)
			l.mu.Unlock()
		} else {
			l.giveUp(0, n, DropClosed, true)
		}
		f.inN, f.inSpilt, f.pipe.headN = 0, false, 0
	}
	for {
		l.mu.Lock()
		l.takeLocked(l.q.n)
		l.mu.Unlock()
		if f.held.len() == 0 {
			return
		}
		l.giveUp(0, f.held.len(), DropClosed, false)
	}
}

// awaitStore waits for the store goroutine's answer until Close's bound
// and applies it; false if the bound came first.
func (l *Logger) awaitStore() bool {
	f := &l.f
	kind := f.store.kind
	err, ok := l.awaitWorker(f.store)
	if ok {
		l.apply(kind, err, time.Now())
	}
	return ok
}

// stop ends the flusher: its workers (a worker whose call Close abandoned
// ends when that call returns; its ctx is cancelled), the final report and
// the CloseError.
func (l *Logger) stop() {
	f := &l.f
	f.timer.Stop()
	f.cancel()
	f.store.stop()
	if f.spill.w != nil {
		f.spill.cancel()
		f.spill.w.stop()
	}
	l.finish()
	close(l.done)
}

// finish completes Close: final reports and the CloseError.
func (l *Logger) finish() {
	c := &l.f.close
	l.reportDrops(time.Now(), true)
	l.mu.Lock()
	l.completeFlushesLocked()
	spilled := l.fates.spilled - c.mark.spilled
	dropped := l.fates.dropped - c.mark.dropped
	unknown := l.fates.unknown - c.mark.unknown
	l.mu.Unlock()
	if spilled+dropped+unknown > 0 {
		ce := &CloseError{NotStored: int(spilled + dropped + unknown), Spilled: int(spilled), Dropped: int(dropped), OutcomeUnknown: int(unknown)}
		if c.aborting {
			ce.Err = c.ctx.Err()
		}
		l.closeErr = ce
	}
}
