package logger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/naq-go/events/domain/event"
)

// errReplayPaused stops a replay between two batches so that the flusher
// may use the Spill (Spill methods are never called concurrently).
var errReplayPaused = errors.New("logger: replay paused")

type callKind uint8

const (
	callNone callKind = iota
	callStore
	callReplay
)

// job is one unit of work for the store goroutine.
type job struct {
	kind  callKind
	batch []event.JobEvent
}

// flusher is the state of the flusher goroutine. Only that goroutine
// touches it, except where a field says otherwise.
type flusher struct {
	// events are the events taken off the queue, oldest first, with their
	// sequence numbers. While a store call is in flight it reads
	// events[:callN]; the flusher then only appends to events or changes
	// it at indexes ≥ callN.
	events []event.JobEvent
	seqs   []uint64
	kinds  []outcome // scratch for classifying a result

	kind        callKind // call in flight
	callN       int      // events in the store call in flight
	callSpilled bool     // the events in flight were spilled meanwhile

	attempts  int // failed tries of the batch at the head of events
	retryN    int // events of the head batch to count as Retried when resent
	failures  int // consecutive failed calls, for the breaker
	replayTry int // consecutive failed replays, for the backoff
	retryAt   time.Time
	open      bool // breaker open (or half-open once breakerAt passed)
	breakerAt time.Time

	spillPending int
	spillRetryAt time.Time

	draining bool
	aborting bool
	closeCtx context.Context
	mark     fates // fates when Close began

	lastWarn    time.Time
	warnedDrops uint64

	base    context.Context // parent of every store call; cancelled on abort
	cancel  context.CancelFunc
	jobs    chan job
	results chan error
	timer   *time.Timer
}

func (f *flusher) init(l *Logger) {
	f.base, f.cancel = context.WithCancel(context.Background())
	f.jobs = make(chan job, 1)
	f.results = make(chan error, 1)
	f.events = make([]event.JobEvent, 0, l.cfg.batchSize)
	f.seqs = make([]uint64, 0, l.cfg.batchSize)
	f.kinds = make([]outcome, 0, l.cfg.batchSize)
	if l.cfg.spill != nil {
		f.spillPending = l.cfg.spill.Pending()
		l.st.SpillPending = f.spillPending
	}
}

// run is the flusher goroutine.
func (l *Logger) run() {
	f := &l.f
	workerDone := make(chan struct{})
	go l.work(f.jobs, f.results, workerDone)
	f.timer = time.NewTimer(time.Hour)
	f.timer.Stop()
	defer func() {
		f.timer.Stop()
		close(f.jobs)
		<-workerDone
		f.cancel()
		l.finish()
		close(l.done)
	}()

	for {
		now := time.Now()
		l.reportDrops(now, false)
		if f.draining {
			if f.closeCtx.Err() != nil {
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
		if f.kind == callNone && len(f.events) == 0 && !f.draining {
			if l.q.n == 0 {
				l.idle = true
			} else if l.mayCall(now) {
				again = true // Log raced with dispatch
			}
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
		if f.draining {
			closeDone = f.closeCtx.Done()
		}
		select {
		case err := <-f.results:
			l.onResult(err, time.Now())
		case <-l.wake:
		case <-timerC:
		case <-closeDone:
		case ctx := <-l.closing:
			f.draining, f.closeCtx = true, ctx
			l.mu.Lock()
			f.mark = l.fates
			l.mu.Unlock()
		}
		f.timer.Stop()
		l.mu.Lock()
		l.idle = false
		l.mu.Unlock()
	}
}

// work is the store goroutine: it runs one job at a time and reports its
// error on results, which has room for it.
func (l *Logger) work(jobs <-chan job, results chan<- error, done chan<- struct{}) {
	defer close(done)
	for j := range jobs {
		var err error
		if j.kind == callReplay {
			err = l.cfg.spill.Replay(l.f.base, l.cfg.batchSize, l.replayBatch)
		} else {
			ctx, cancel := context.WithTimeout(l.f.base, l.cfg.storeTimeout)
			err = l.store.StoreBatch(ctx, j.batch)
			cancel()
		}
		results <- err
	}
}

// mayCall reports whether a store call may start now.
func (l *Logger) mayCall(now time.Time) bool {
	f := &l.f
	return f.kind == callNone && !now.Before(f.retryAt) && (!f.open || !now.Before(f.breakerAt))
}

// dispatch starts the next store call if the store is free: a replay of
// the Spill when it holds events (they are older than anything in
// memory), else the oldest batch.
func (l *Logger) dispatch(now time.Time) {
	f := &l.f
	if !l.mayCall(now) {
		return
	}
	if l.cfg.spill != nil && f.spillPending > 0 {
		if f.draining {
			return // drainToSpill puts memory behind the spill instead
		}
		l.pauseReplay.Store(false)
		f.kind = callReplay
		f.jobs <- job{kind: callReplay}
		return
	}
	l.mu.Lock()
	l.takeLocked(l.cfg.batchSize - len(f.events))
	n := min(len(f.events), l.cfg.batchSize)
	l.st.InFlight = n
	if f.retryN > 0 {
		l.st.Retried += uint64(min(f.retryN, n))
		f.retryN = 0
	}
	l.mu.Unlock()
	if n == 0 {
		return
	}
	f.kind, f.callN, f.callSpilled = callStore, n, false
	f.jobs <- job{kind: callStore, batch: f.events[:n:n]}
}

// takeLocked moves up to k of the oldest queued events to f.events.
func (l *Logger) takeLocked(k int) {
	f := &l.f
	k = min(k, l.q.n)
	if k <= 0 {
		return
	}
	f.events = l.q.moveTo(f.events, k)
	for i := range uint64(k) {
		f.seqs = append(f.seqs, l.qseq+i)
	}
	l.qseq += uint64(k)
	l.syncHeldLocked()
}

// syncHeldLocked publishes the size of f.events to Log and Flush and wakes
// Block-policy callers when room appeared.
func (l *Logger) syncHeldLocked() {
	f := &l.f
	l.held = len(f.events)
	if l.held > 0 {
		l.heldLow = f.seqs[0]
	}
	if l.space != nil && l.q.n+l.held < l.cfg.maxBufferSize {
		close(l.space)
		l.space = nil
	}
}

// removeEvents deletes f.events[i:j], which no call in flight reads.
func (l *Logger) removeEventsLocked(i, j int) {
	f := &l.f
	f.events = append(f.events[:i], f.events[j:]...)
	clear(f.events[len(f.events) : len(f.events)+j-i])
	f.seqs = append(f.seqs[:i], f.seqs[j:]...)
	l.syncHeldLocked()
}

// classify sorts the events of a store call into stored, dropped
// (rejected) and to-retry (outSpilled stands for "retry" here), and returns
// how many must be retried.
func classify(err error, n int, kinds []outcome) (out []outcome, retry int, errs []error) {
	out = kinds[:0]
	var be *BatchError
	switch {
	case err == nil:
		for range n {
			out = append(out, outStored)
		}
		return out, 0, nil
	case errors.As(err, &be) && len(be.Errs) == n:
		for _, e := range be.Errs {
			switch {
			case e == nil:
				out = append(out, outStored)
			case errors.Is(e, event.ErrInvalid):
				out = append(out, outDropped)
			default:
				out = append(out, outSpilled)
				retry++
			}
		}
		return out, retry, be.Errs
	case n == 1 && errors.Is(err, event.ErrInvalid):
		return append(out, outDropped), 0, []error{err}
	}
	for range n {
		out = append(out, outSpilled)
	}
	return out, n, nil
}

// onResult applies the outcome of the call in flight.
func (l *Logger) onResult(err error, now time.Time) {
	f := &l.f
	kind := f.kind
	f.kind = callNone
	if kind == callReplay {
		l.onReplayResult(err, now)
		return
	}
	n, spilled := f.callN, f.callSpilled
	f.callN, f.callSpilled = 0, false
	var retry int
	var errs []error
	f.kinds, retry, errs = classify(err, n, f.kinds)

	if l.cfg.onDrop != nil {
		for i, k := range f.kinds {
			if k == outDropped {
				l.cfg.onDrop(f.events[i], DropRejected)
			}
		}
	}

	l.mu.Lock()
	l.st.Batches++
	l.st.InFlight = 0
	var stored, rejected uint64
	track := l.trackingLocked()
	w := 0
	for i, k := range f.kinds {
		switch k {
		case outStored:
			stored++
			if track {
				l.settleLocked(f.seqs[i], outStored, nil)
			}
		case outDropped:
			rejected++
			if track {
				l.settleLocked(f.seqs[i], outDropped, fmt.Errorf("logger: %w: %w", ErrDropped, errs[i]))
			}
		default:
			if spilled {
				if track {
					l.settleLocked(f.seqs[i], outSpilled, fmt.Errorf("logger: event %s: %w", f.events[i].ID, ErrSpilled))
				}
				continue
			}
			f.events[w], f.seqs[w] = f.events[i], f.seqs[i]
			w++
		}
	}
	l.st.Stored += stored
	if spilled {
		// The spill holds them and will report rejections on replay.
		l.fates.spilled += uint64(retry)
		l.removeEventsLocked(0, n)
	} else {
		l.st.Dropped.Rejected += rejected
		l.fates.dropped += rejected
		l.removeEventsLocked(w, n)
	}
	if retry > 0 {
		l.st.FailedBatches++
		l.st.LastError, l.st.LastErrorAt = err, now
	}
	l.mu.Unlock()

	if retry == 0 {
		f.failures, f.attempts, f.retryAt = 0, 0, time.Time{}
		l.setBreaker(false, now)
		return
	}
	l.failed(fmt.Errorf("logger: store batch of %d: %w", n, err), now)
	if spilled || f.aborting {
		f.attempts = 0
		return
	}
	f.attempts++
	if f.attempts >= l.cfg.retryAttempts {
		f.attempts = 0
		f.retryAt = time.Time{}
		l.exhaust(w, now)
		return
	}
	f.retryN = w
	f.retryAt = now.Add(l.cfg.backoff(f.attempts))
}

// failed records a failed call for the breaker and the error handler.
func (l *Logger) failed(err error, now time.Time) {
	f := &l.f
	f.failures++
	if f.failures >= l.cfg.breakerThreshold {
		f.breakerAt = now.Add(l.cfg.breakerCooldown)
		l.setBreaker(true, now)
	}
	l.report(err)
}

func (l *Logger) report(err error) {
	l.cfg.log.Debug("naq-events logger: store or spill failed", "err", err)
	if l.cfg.onError != nil {
		l.cfg.onError(err)
	}
}

func (l *Logger) setBreaker(open bool, now time.Time) {
	if l.f.open == open {
		return
	}
	l.f.open = open
	if open {
		l.cfg.log.Warn("naq-events logger: circuit breaker open, pausing store calls",
			"failures", l.f.failures, "cooldown", l.cfg.breakerCooldown)
	} else {
		l.cfg.log.Info("naq-events logger: circuit breaker closed, store healthy again")
	}
	l.mu.Lock()
	l.st.BreakerOpen = open
	l.mu.Unlock()
}

// exhaust gives up on the first k events, whose retries are used up: they
// go to the spill, or are dropped.
func (l *Logger) exhaust(k int, now time.Time) {
	if k == 0 {
		return
	}
	reason := DropRetriesExhausted
	if l.cfg.spill != nil {
		if l.spillEvents(0, k, now) {
			return
		}
		reason = DropSpillFailed
	}
	l.dropEvents(k, reason)
}

// dropEvents discards the first k events of f.events with reason.
func (l *Logger) dropEvents(k int, reason DropReason) {
	f := &l.f
	if l.cfg.onDrop != nil {
		for _, ev := range f.events[:k] {
			l.cfg.onDrop(ev, reason)
		}
	}
	l.mu.Lock()
	l.st.Dropped.add(reason, uint64(k))
	l.fates.dropped += uint64(k)
	l.dropNoted = true
	if l.trackingLocked() {
		for _, seq := range f.seqs[:k] {
			l.settleLocked(seq, outDropped, dropError(reason))
		}
	}
	l.removeEventsLocked(0, k)
	l.mu.Unlock()
}

// spillCtx returns the context for a Spill write.
func (l *Logger) spillCtx() (context.Context, context.CancelFunc) {
	if l.f.aborting {
		return context.WithTimeout(context.WithoutCancel(l.f.closeCtx), closeSpillTimeout)
	}
	return context.WithTimeout(l.f.base, l.cfg.storeTimeout)
}

// writeSpill writes evs to the spill and reports whether it worked.
func (l *Logger) writeSpill(evs []event.JobEvent, now time.Time) bool {
	ctx, cancel := l.spillCtx()
	err := l.cfg.spill.StoreBatch(ctx, evs)
	cancel()
	if err != nil {
		err = fmt.Errorf("logger: spill %d events: %w", len(evs), err)
		l.f.spillRetryAt = now.Add(l.cfg.initialBackoff)
		l.mu.Lock()
		l.st.LastError, l.st.LastErrorAt = err, now
		l.mu.Unlock()
		l.report(err)
		return false
	}
	l.f.spillPending += len(evs)
	l.mu.Lock()
	l.st.Spilled += uint64(len(evs))
	l.st.SpillPending = l.f.spillPending
	l.mu.Unlock()
	return true
}

// spillEvents moves f.events[i:j] (not in flight) to the spill.
func (l *Logger) spillEvents(i, j int, now time.Time) bool {
	f := &l.f
	if !l.writeSpill(f.events[i:j], now) {
		return false
	}
	if i == 0 {
		f.attempts, f.retryN = 0, 0
	}
	l.mu.Lock()
	l.fates.spilled += uint64(j - i)
	if l.trackingLocked() {
		for k := i; k < j; k++ {
			l.settleLocked(f.seqs[k], outSpilled, fmt.Errorf("logger: event %s: %w", f.events[k].ID, ErrSpilled))
		}
	}
	l.removeEventsLocked(i, j)
	l.mu.Unlock()
	return true
}

// spillOldest moves the oldest events in memory to the spill until at
// most keep are left (not counting a batch in flight that is spilled
// already), in order: the batch in flight (whose call is left to finish;
// the store de-duplicates it if it is replayed after all), the events
// taken for retry, then the queue. It stops at the first spill failure.
func (l *Logger) spillOldest(keep int, now time.Time) bool {
	f := &l.f
	if f.kind == callStore && !f.callSpilled {
		if !l.writeSpill(f.events[:f.callN], now) {
			return false
		}
		f.callSpilled = true
	}
	start := 0
	if f.kind == callStore {
		start = f.callN
	}
	for {
		l.mu.Lock()
		depth := l.q.n + len(f.events) - start
		if depth <= keep {
			l.mu.Unlock()
			return true
		}
		if len(f.events) == start {
			l.takeLocked(min(l.cfg.batchSize, depth-keep))
		}
		l.mu.Unlock()
		end := min(len(f.events), start+l.cfg.batchSize, start+depth-keep)
		if !l.spillEvents(start, end, now) {
			return false
		}
	}
}

// relieve spills the oldest events when the buffer is three quarters full.
func (l *Logger) relieve(now time.Time) {
	f := &l.f
	if l.cfg.spill == nil || now.Before(f.spillRetryAt) || f.draining {
		return
	}
	// The same count as Log's (a spilled batch in flight still takes
	// memory), so that Log's wake-up at the high-water mark is never lost.
	l.mu.Lock()
	depth := l.q.n + len(f.events)
	l.mu.Unlock()
	if depth < l.highWater {
		return
	}
	if f.kind == callReplay {
		l.pauseReplay.Store(true) // spill once the replay returns
		return
	}
	l.spillOldest(l.lowWater, now)
}

// replayBatch stores one batch read back from the spill. It runs on the
// store goroutine, inside Spill.Replay.
func (l *Logger) replayBatch(ctx context.Context, evs []event.JobEvent) error {
	if l.pauseReplay.Load() {
		return errReplayPaused
	}
	cctx, cancel := context.WithTimeout(ctx, l.cfg.storeTimeout)
	err := l.store.StoreBatch(cctx, evs)
	cancel()
	kinds, retry, errs := classify(err, len(evs), make([]outcome, 0, len(evs)))
	l.mu.Lock()
	l.st.Batches++
	if retry > 0 {
		l.st.FailedBatches++
		l.mu.Unlock()
		return fmt.Errorf("logger: replay batch of %d: %w", len(evs), err)
	}
	var rejected uint64
	for _, k := range kinds {
		if k == outDropped {
			rejected++
		}
	}
	l.st.Replayed += uint64(len(evs)) - rejected
	l.st.Dropped.Rejected += rejected
	if rejected > 0 {
		l.dropNoted = true
	}
	l.mu.Unlock()
	if rejected > 0 {
		l.cfg.log.Warn("naq-events logger: store rejected spilled events", "rejected", rejected, "first", errors.Join(errs...))
		if l.cfg.onDrop != nil {
			for i, k := range kinds {
				if k == outDropped {
					l.cfg.onDrop(evs[i], DropRejected)
				}
			}
		}
	}
	return nil
}

func (l *Logger) onReplayResult(err error, now time.Time) {
	f := &l.f
	f.spillPending = l.cfg.spill.Pending()
	l.mu.Lock()
	l.st.SpillPending = f.spillPending
	if err != nil && !errors.Is(err, errReplayPaused) {
		l.st.LastError, l.st.LastErrorAt = err, now
	}
	l.mu.Unlock()
	switch {
	case err == nil:
		f.failures, f.replayTry, f.retryAt = 0, 0, time.Time{}
		l.setBreaker(false, now)
	case errors.Is(err, errReplayPaused), f.aborting:
	default:
		l.failed(err, now)
		f.replayTry++
		f.retryAt = now.Add(l.cfg.backoff(f.replayTry))
	}
}

// drainToSpill, during Close, puts everything in memory behind the spill
// when the spill holds older events or the store is failing, instead of
// waiting for the store.
func (l *Logger) drainToSpill(now time.Time) {
	f := &l.f
	if l.cfg.spill == nil || now.Before(f.spillRetryAt) || (f.spillPending == 0 && f.failures == 0) {
		return
	}
	if f.kind == callReplay {
		l.pauseReplay.Store(true)
		return
	}
	if l.spillOldest(0, now) && f.kind == callStore {
		f.cancel() // its events are in the spill; stop waiting for the store
	}
}

// drained reports whether Close may finish: nothing in memory or in flight.
func (l *Logger) drained() bool {
	f := &l.f
	l.mu.Lock()
	defer l.mu.Unlock()
	return f.kind == callNone && len(f.events) == 0 && l.q.n == 0
}

// abort ends Close when its ctx is done: the call in flight is cancelled
// and what is left is spilled or dropped.
func (l *Logger) abort() {
	f := &l.f
	f.aborting = true
	f.cancel()
	if f.kind != callNone {
		l.onResult(<-f.results, time.Now())
	}
	for {
		l.mu.Lock()
		l.takeLocked(l.cfg.batchSize)
		l.mu.Unlock()
		if len(f.events) == 0 {
			return
		}
		k := min(len(f.events), l.cfg.batchSize)
		if l.cfg.spill == nil || !l.spillEvents(0, k, time.Now()) {
			l.dropEvents(k, DropClosed)
		}
	}
}

// finish completes Close: final reports and the CloseError.
func (l *Logger) finish() {
	f := &l.f
	l.reportDrops(time.Now(), true)
	l.mu.Lock()
	l.completeFlushesLocked()
	spilled := l.fates.spilled - f.mark.spilled
	dropped := l.fates.dropped - f.mark.dropped
	l.mu.Unlock()
	if spilled+dropped > 0 {
		ce := &CloseError{NotStored: int(spilled + dropped), Spilled: int(spilled), Dropped: int(dropped)}
		if f.aborting {
			ce.Err = f.closeCtx.Err()
		}
		l.closeErr = ce
	}
}

// reportDrops logs drops through slog: the first at once, then a summary
// at most every dropWarnEvery (or now, if final).
func (l *Logger) reportDrops(now time.Time, final bool) {
	f := &l.f
	l.mu.Lock()
	d := l.st.Dropped
	total := d.Total()
	due := total > f.warnedDrops && (final || f.lastWarn.IsZero() || now.Sub(f.lastWarn) >= dropWarnEvery)
	if due {
		l.dropNoted = false
	}
	l.mu.Unlock()
	if !due {
		return
	}
	l.cfg.log.Warn("naq-events logger dropped events",
		"dropped", total-f.warnedDrops, "total", total,
		"overflow", d.Overflow, "rejected", d.Rejected, "retries_exhausted", d.RetriesExhausted,
		"spill_failed", d.SpillFailed, "closed", d.Closed)
	f.lastWarn, f.warnedDrops = now, total
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
	unreported := l.st.Dropped.Total() > f.warnedDrops
	l.mu.Unlock()
	if f.kind == callNone && (queued || len(f.events) > 0 || f.spillPending > 0) {
		t := f.retryAt
		if f.open && f.breakerAt.After(t) {
			t = f.breakerAt
		}
		if t.After(now) {
			earliest(t)
		}
	}
	if queued || len(f.events) > 0 {
		earliest(now.Add(l.cfg.flushInterval))
	}
	if unreported {
		earliest(f.lastWarn.Add(dropWarnEvery))
	}
	if l.cfg.spill != nil && f.spillRetryAt.After(now) {
		earliest(f.spillRetryAt)
	}
	if at.IsZero() {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// backoff returns the wait before try attempt+1: initialBackoff doubled
// per failed try, capped at maxBackoff, with equal jitter.
func (c *config) backoff(attempt int) time.Duration {
	d := c.initialBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}
