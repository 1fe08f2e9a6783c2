package logger

import (
	"context"
	"slices"
	"time"
)

// flusher is the state of the flusher goroutine, which only coordinates:
// each duty has its own small type (in its own file), and the loop below
// decides, between two events, which of them acts.
//
//	held     held.go     events taken off the queue, in order, with their fate so far
//	store    worker.go   the store goroutine: one StoreBatch or Spill.Replay at a time
//	         settle.go   applying a call's answer: stored, rejected, retried, given up
//	         lookup.go   which re-publishes ask the store's Lookup first
//	retry    backoff.go  tries of the head batch and of the replay, backoff
//	brk      breaker.go  consecutive failures, open/half-open/closed
//	spill    spill.go    spilling to and replaying from the Spill
//	close    close.go    draining, the bounded abort, the CloseError
//	warn     report.go   rate-limited drop warnings
//
// Only the flusher goroutine touches it (the store goroutine reads base,
// set once by init); fields shared with Log, Flush and Stats live in Logger
// under its mutex.
type flusher struct {
	held    held
	store   *worker
	inN     int  // events of held in the store calls in flight (a prefix)
	inSpilt bool // those events were spilled meanwhile
	// inDisk holds, by sequence number, the events of the calls in flight
	// that a spill write which failed for others put on disk: they leave
	// as spilled whatever the call's answer (see spillInFlight).
	inDisk  map[uint64]bool
	inSince time.Time // when the oldest of those calls started
	pipe    pipeState // a second call chained behind it (pipeline.go)
	retry   retrier
	brk     breaker
	spill   spiller
	close   closer
	warn    dropWarner
	scratch []verdict

	base   context.Context // parent of every store call; cancelled by Close (abort, or the call in flight spilled)
	cancel context.CancelFunc
	timer  *time.Timer
}

func (f *flusher) init(l *Logger) {
	c := &l.cfg
	f.base, f.cancel = context.WithCancel(context.Background())
	f.held = newHeld(c.batchSize)
	f.scratch = make([]verdict, 0, c.batchSize)
	f.retry = retrier{backoff: backoff{c.initialBackoff, c.maxBackoff}, maxAttempts: c.retryAttempts}
	f.brk = breaker{threshold: c.breakerThreshold, cooldown: c.breakerCooldown}
	if p, ok := l.store.(Pipeliner); ok && c.pipeDepth == pipeDepth {
		f.pipe.p = p
		f.store = startPipeWorker(l.call, l.send)
	} else {
		f.store = startWorker(l.call)
	}
	if c.spill != nil {
		f.spill.init(l)
	}
}

// run is the flusher goroutine.
func (l *Logger) run() {
	f := &l.f
	f.timer = time.NewTimer(time.Hour)
	f.timer.Stop()
	defer l.stop()

	for {
		now := time.Now()
		l.reportDrops(now, false)
		if f.close.draining {
			if f.close.ctx.Err() != nil {
				l.abort()
				return
			}
			l.drainToSpill(now)
			if l.drained() {
				return
			}
		}
		l.relieve(now)
		l.dispatch(now)

		l.mu.Lock()
		l.completeFlushesLocked()
		again := false
		if !f.store.busy() && f.held.len() == 0 && !f.close.draining {
			if l.q.n == 0 {
				l.idle = true
			} else if l.mayCall(now) {
				again = true // Log raced with dispatch
			}
		} else if l.q.n == 0 && l.mayChain() {
			l.idle = true // the next Log wakes the flusher to chain a call
		}
		l.mu.Unlock()
		if again {
			continue
		}

		var timerC <-chan time.Time
		if d, ok := l.nextWake(now); ok {
			f.timer.Reset(d)
			timerC = f.timer.C
		}
		var closeDone <-chan struct{}
		if f.close.draining {
			closeDone = f.close.ctx.Done()
		}
		select {
		case err := <-f.store.results:
			l.onCallResult(err, time.Now())
		case <-l.wake:
		case <-timerC:
		case <-closeDone:
		case ctx := <-l.closing:
			l.beginClose(ctx, time.Now())
		}
		f.timer.Stop()
		l.mu.Lock()
		l.idle = false
		l.mu.Unlock()
	}
}

// call runs one job on the store goroutine.
func (l *Logger) call(j job) error {
	if j.kind == callReplay {
		return l.cfg.spill.Replay(l.f.base, l.cfg.batchSize, l.replayBatch)
	}
	if j.check != nil {
		found, err := l.storeChecked(l.f.base, j.batch, j.sentAt, j.check)
		if found > 0 { // the result settles them as stored
			l.mu.Lock()
			l.st.FoundStored += uint64(found)
			l.mu.Unlock()
		}
		return err
	}
	ctx, cancel := context.WithTimeout(l.f.base, l.cfg.storeTimeout)
	defer cancel()
	return l.store.StoreBatch(ctx, j.batch)
}

// onCallResult applies the result of the store goroutine's call.
func (l *Logger) onCallResult(err error, now time.Time) {
	kind := l.f.store.kind
	l.f.store.took()
	l.apply(kind, err, now)
}

// apply applies the result of a store goroutine's call of kind.
func (l *Logger) apply(kind callKind, err error, now time.Time) {
	if kind == callReplay {
		l.onReplayResult(err, now)
		return
	}
	l.onResult(err, now)
}

// mayCall reports whether a store call may start now.
func (l *Logger) mayCall(now time.Time) bool {
	f := &l.f
	return !f.store.busy() && !now.Before(f.retry.at) && f.brk.allows(now)
}

// dispatch starts the next store call if the store is free: a replay of
// the Spill when it holds events (they are older than anything in
// memory), else the oldest batch; then, with a Pipeliner, a call chained
// behind it if more events are queued.
func (l *Logger) dispatch(now time.Time) {
	if l.mayChain() {
		l.dispatchChained(now)
		return
	}
	l.dispatchHead(now)
	if l.mayChain() {
		l.dispatchChained(now)
	}
}

// dispatchHead starts a store call when none is in flight.
func (l *Logger) dispatchHead(now time.Time) {
	f := &l.f
	if !l.mayCall(now) {
		return
	}
	if f.spill.pending > 0 {
		if f.close.draining {
			return // drainToSpill puts memory behind the spill instead
		}
		l.pauseReplay.Store(false)
		f.spill.beginReplay()
		f.store.start(job{kind: callReplay})
		return
	}
	l.mu.Lock()
	l.takeLocked(l.cfg.batchSize - f.held.len())
	n := min(f.held.len(), l.cfg.batchSize)
	l.st.InFlight = n
	more := l.q.n > 0 || f.held.len() > n
	l.st.Retried += uint64(f.held.resent(n))
	l.mu.Unlock()
	if n == 0 {
		return
	}
	check := l.lookupFor(f.held.evs[:n], f.held.sentAt[:n], now)
	// A lone event with nothing queued behind it (a low rate) goes out
	// plain, which answers sooner than an open fast batch lingering for a
	// next call; anything more is pipelined.
	pipe := l.pipeFresh(n, check) && (more || n > 1 || n == l.cfg.batchSize)
	f.inN, f.inSpilt, f.inSince = n, false, now
	f.pipe.headN, f.pipe.headPipe = n, pipe
	var sentAt []time.Time
	if check != nil { // a copy: the flusher may note sentAt of events in flight
		sentAt = slices.Clone(f.held.sentAt[:n])
	}
	f.store.start(job{kind: callStore, batch: f.held.evs[:n:n], check: check, sentAt: sentAt, pipe: pipe, more: more})
}

// takeLocked moves up to k of the oldest queued events to held.
func (l *Logger) takeLocked(k int) {
	k = min(k, l.q.n)
	if k <= 0 {
		return
	}
	l.f.held.take(&l.q, k, l.qseq)
	l.qseq += uint64(k)
	l.syncHeldLocked()
}

// syncHeldLocked publishes the size of held to Log and Flush and wakes
// Block-policy callers when room appeared.
func (l *Logger) syncHeldLocked() {
	h := &l.f.held
	l.held = h.len()
	if l.held > 0 {
		l.heldLow = h.seqs[0]
	}
	if l.space != nil && l.q.n+l.held < l.cfg.maxBufferSize {
		close(l.space)
		l.space = nil
	}
}

// removeLocked deletes held[i:j], which no call in flight reads.
func (l *Logger) removeLocked(i, j int) {
	l.f.held.remove(i, j)
	l.syncHeldLocked()
}

// nextWake returns how long the flusher may sleep, if there is a deadline.
func (l *Logger) nextWake(now time.Time) (time.Duration, bool) {
	f := &l.f
	var at time.Time
	earliest := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	l.mu.Lock()
	queued := l.q.n > 0
	unreported := l.st.Dropped.Total() > f.warn.warned
	l.mu.Unlock()
	if !f.store.busy() && (queued || f.held.len() > 0 || f.spill.pending > 0) {
		t := f.retry.at
		if f.brk.open && f.brk.until.After(t) {
			t = f.brk.until
		}
		if t.After(now) {
			earliest(t)
		}
	}
	if queued || f.held.len() > 0 {
		earliest(now.Add(l.cfg.flushInterval))
	}
	if unreported {
		earliest(f.warn.last.Add(dropWarnEvery))
	}
	if l.cfg.spill != nil && f.spill.retryAt.After(now) {
		earliest(f.spill.retryAt)
	}
	if f.close.draining && !f.close.hard.IsZero() {
		earliest(f.close.hard)
	}
	if at.IsZero() {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}
