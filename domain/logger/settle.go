package logger

import (
	"fmt"
	"time"
)

// Settling: what the flusher does with the answer of a store call (or the
// give-up of events): stored events leave, rejected ones are dropped,
// failed ones stay for a retry, go to the Spill or are given up, and
// LogSync, Flush, Stats and the breaker hear of it.

// onResult applies the outcome of the oldest store call in flight: stored
// events leave, rejected ones are dropped, failed ones stay at the head for
// a retry (or go where exhausted batches go). Events that were spilled
// while the call was in flight leave either way. With a call chained
// behind it (pipeline.go), a failed answer waits for the chained call's,
// and then both are applied in order.
func (l *Logger) onResult(err error, now time.Time) {
	f := &l.f
	ps := &f.pipe
	spilt := f.inSpilt
	if ps.stashed { // the chained call's answer: the head's first, then this one
		err1, n1, n2 := ps.stash, ps.headN, f.inN-ps.headN
		ps.stashed, ps.stash = false, nil
		f.inN, f.inSpilt, ps.headN = 0, false, 0
		w1, failed1 := l.settle(0, n1, err1, f.inSince, spilt, now)
		w2, failed2 := l.settle(w1, n2, err, ps.since2, spilt, now)
		if failed1 == 0 {
			err1 = err
		}
		l.settled(failed1+failed2, w1+w2, n1+n2, err1, spilt, now)
		return
	}
	if f.inN > ps.headN && err != nil {
		// The head failed with a call chained behind it: the chained
		// call's events are still in flight behind the head's, so nothing
		// moves until its answer comes (the store fails it too if the
		// head's events are not all stored).
		ps.stashed, ps.stash = true, err
		return
	}
	n, since := ps.headN, f.inSince
	f.inN -= n
	ps.headN, f.inSince, ps.headPipe = f.inN, ps.since2, f.inN > 0
	if f.inN == 0 {
		f.inSpilt = false
	}
	w, failed := l.settle(0, n, err, since, spilt, now)
	l.settled(failed, w, n, err, spilt, now)
}

// settle applies the answer err of a store call of the n events at
// held[off:off+n] that started at since, and returns how many failed and
// stay there (at held[off:off+w]) for a retry.
func (l *Logger) settle(off, n int, err error, since time.Time, spilt bool, now time.Time) (w, failed int) {
	f := &l.f
	var errs []error
	f.scratch, failed, errs = classify(err, n, f.scratch)
	h := &f.held

	// onDisk: the spill holds the event (all of the call's, or those a
	// partial spill write put there); if the store did not take it, it is
	// spilled (its replay reports a rejection then).
	marked := len(f.inDisk) > 0
	onDisk := func(k int) bool { return spilt || (marked && f.inDisk[h.seqs[k]]) }
	for i, v := range f.scratch {
		if v != vRejected {
			continue
		}
		if onDisk(off + i) {
			f.scratch[i] = vFailed
		} else if l.cfg.onDrop != nil {
			l.cfg.onDrop(h.evs[off+i], DropRejected)
		}
	}

	l.mu.Lock()
	l.st.Batches++
	l.st.InFlight = f.inN
	var stored, rejected, spilled uint64
	track := l.trackingLocked()
	for i, v := range f.scratch {
		k := off + i
		disk := onDisk(k)
		if marked {
			delete(f.inDisk, h.seqs[k])
		}
		switch v {
		case vDone:
			stored++
			if track {
				l.settleLocked(h.seqs[k], outStored, nil)
			}
		case vRejected:
			rejected++
			if track {
				l.settleLocked(h.seqs[k], outDropped, fmt.Errorf("logger: %w: %w", ErrDropped, errs[i]))
			}
		default:
			if disk {
				spilled++
				if track {
					l.settleLocked(h.seqs[k], outSpilled, spilledError(h.evs[k].ID))
				}
				continue
			}
			if h.sentAt[k].IsZero() && maybeStored(eventErr(err, errs, i)) {
				h.sentAt[k] = since // it may have been stored from then on
			}
			h.again[k] = true
			h.keep(off+w, k)
			w++
		}
	}
	l.st.Stored += stored
	l.st.Dropped.Rejected += rejected
	l.fates.dropped += rejected
	if rejected > 0 {
		l.dropNoted = true
	}
	if spilt {
		// The spill holds the failed ones and will report rejections on
		// replay.
		l.fates.spilled += spilled
		l.removeLocked(off, off+n)
		w = 0
	} else {
		l.removeLocked(off+w, off+n)
	}
	if failed > 0 {
		l.st.FailedBatches++
		l.st.LastError, l.st.LastErrorAt = err, now
	}
	l.mu.Unlock()
	return w, failed
}

// settled ends the handling of a store call's answer (or of two, chained):
// the retry state, the breaker and the error handler hear of it; w events
// failed and wait at the head of held.
func (l *Logger) settled(failed, w, n int, err error, spilt bool, now time.Time) {
	f := &l.f
	if failed == 0 {
		f.retry.storedOK()
		l.setBreaker(false, now, nil)
		return
	}
	l.failed(fmt.Errorf("logger: store batch of %d: %w", n, err), now)
	if spilt || w == 0 || f.close.aborting { // nothing is left to retry
		f.retry.attempts = 0
		return
	}
	if f.retry.failedBatch(now) {
		l.exhaust(w, now)
	}
}

// failed records a failed call for the breaker and the error handler.
func (l *Logger) failed(err error, now time.Time) {
	if l.f.brk.failure(now) {
		l.setBreaker(true, now, err)
	}
	l.report(err)
}

// setBreaker opens or closes the breaker; cause, the failure that opened
// it, is logged with the warning (the error handler hears of every
// failure, but a logger without one would say nothing of why).
func (l *Logger) setBreaker(open bool, now time.Time, cause error) {
	f := &l.f
	if !open && !f.brk.success() {
		return
	}
	if open {
		l.cfg.log.Warn("naq-events logger: circuit breaker open, pausing store calls",
			"failures", f.brk.failures, "cooldown", l.cfg.breakerCooldown, "err", cause)
	} else {
		l.cfg.log.Info("naq-events logger: circuit breaker closed, store healthy again")
	}
	l.mu.Lock()
	l.st.BreakerOpen = open
	l.mu.Unlock()
}

// exhaust gives up on the first k events, whose retries are used up: they
// go to the spill, or are given up (dropped, or outcome unknown if they
// may be stored).
func (l *Logger) exhaust(k int, now time.Time) {
	if k == 0 {
		return
	}
	reason := DropRetriesExhausted
	if l.cfg.spill != nil {
		left, _ := l.spillEvents(0, k, now)
		if left == 0 {
			return
		}
		k, reason = left, DropSpillFailed
	}
	l.giveUp(0, k, reason, false)
}

// giveUp discards held[i:j] (not in flight): an event that may be stored
// (its sentAt is set), or every event if unknown is true (a write that did
// not return), counts as outcome unknown; the others are dropped with
// reason.
func (l *Logger) giveUp(i, j int, reason DropReason, unknown bool) {
	f := &l.f
	h := &f.held
	if j <= i {
		return
	}
	marked := len(f.inDisk) > 0
	onDisk := func(k int) bool { return marked && f.inDisk[h.seqs[k]] }
	if l.cfg.onDrop != nil {
		for k := i; k < j; k++ {
			if !unknown && h.sentAt[k].IsZero() && !onDisk(k) {
				l.cfg.onDrop(h.evs[k], reason)
			}
		}
	}
	l.mu.Lock()
	track := l.trackingLocked()
	var dropped, unk, spilled uint64
	for k := i; k < j; k++ {
		if onDisk(k) { // a partial spill write of a call in flight put it on disk
			delete(f.inDisk, h.seqs[k])
			spilled++
			if track {
				l.settleLocked(h.seqs[k], outSpilled, spilledError(h.evs[k].ID))
			}
			continue
		}
		if unknown || !h.sentAt[k].IsZero() {
			unk++
			if track {
				l.settleLocked(h.seqs[k], outUnknown, errGivenUp)
			}
			continue
		}
		dropped++
		if track {
			l.settleLocked(h.seqs[k], outDropped, dropError(reason))
		}
	}
	l.st.Dropped.add(reason, dropped)
	l.st.OutcomeUnknown += unk
	l.fates.dropped += dropped
	l.fates.unknown += unk
	l.fates.spilled += spilled
	if dropped > 0 {
		l.dropNoted = true
	}
	l.removeLocked(i, j)
	l.mu.Unlock()
	if unk > 0 {
		l.cfg.log.Warn("naq-events logger: gave up on events whose publish was never acknowledged; they may or may not be stored",
			"events", unk, "reason", reason.String())
	}
}

func spilledError(id string) error { return fmt.Errorf("logger: event %s: %w", id, ErrSpilled) }
