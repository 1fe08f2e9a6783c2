package logger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

// DefaultSpillLimit is how many events the Logger keeps in its Spill at
// most, unless WithSpillLimit says otherwise.
const DefaultSpillLimit = 1_000_000

// ErrSpillFull is the error of a spill write refused because the Spill
// holds the Logger's limit of events (WithSpillLimit). The events it would
// have taken stay in memory while there is room, then meet the overflow
// policy, or are dropped with reason DropSpillFailed once their retries are
// used up — counted, never silent.
var ErrSpillFull = errors.New("logger: spill full")

// WithSpillLimit bounds the events waiting in the Spill: a spill write is
// refused with ErrSpillFull while the Spill holds n or more (so it holds at
// most n plus two batches with pipelining, the default, or one with
// WithPipelineDepth(1): the calls in flight are spilled together). The bound keeps a long outage from growing
// the disk, and the memory of a Spill that indexes its events (filestore
// keeps about 250 bytes of index per event in memory: about 250 MB at the
// default), without limit. The Logger itself remembers, for each spilled
// event whose publish had an unknown outcome, its id and when that publish
// began (about 100 bytes each) until the event is replayed; events spilled
// straight from the queue cost nothing there.
//
// Default DefaultSpillLimit (1,000,000 events, the design stream's
// max_msgs). Range: any positive n; values less than or equal to zero
// select the default. Without WithSpill it has no effect.
func WithSpillLimit(n int) Option {
	return func(c *config) { c.spillLimit = n }
}

// errReplayPaused stops a replay between two batches so that the flusher
// may use the Spill (Spill methods are never called concurrently).
var errReplayPaused = errors.New("logger: replay paused")

// errSpillStalled fails spill writes after one that Close stopped waiting
// for (it has not returned, and the Spill is never called concurrently).
var errSpillStalled = errors.New("logger: an earlier spill write has not returned")

// spiller is the spill path: writes to the Spill go through its own worker
// goroutine, so that a disk that stalls cannot hold the flusher beyond
// Close's bound; replays run on the store goroutine (they call the Store).
// The Spill is never called concurrently: a write starts only while no
// replay is in flight, and the flusher waits for each write.
type spiller struct {
	w        *worker
	pending  int       // events in the Spill, as last seen
	retryAt  time.Time // no spill write before (after a failed one)
	fullAt   time.Time // when ErrSpillFull last reached the error handler; zero once a write succeeds
	scratch  []verdict
	base     context.Context // parent of every spill write; cancelled when the flusher ends
	cancel   context.CancelFunc
	timedOut bool // a write did not return by Close's bound

	// Which replayed events must be looked up before they are published
	// (see lookup.go). inherited counts the events the Spill held when
	// the Logger opened it: their history is unknown, so each is looked up
	// by its timestamp's age, as the oldest events replayed. After them,
	// only the events this Logger spilled after a publish of unknown
	// outcome can be stored already: unsure holds their ids and when that
	// publish began. Events spilled straight from the queue were never
	// sent, and are replayed without a lookup. unsure is written by the
	// flusher around spill writes and read by replays; the two never run
	// at once (the Spill is never called concurrently), and the store
	// worker's channels order them.
	inherited int
	unsure    map[string]time.Time

	// done is the last batch a replay stored, until the Spill is known to
	// have removed it: a Spill moves its head only after the batch
	// function returns, and that can fail (the batch is then delivered
	// again). Its counts and its forgetting wait until then: the next
	// batch is delivered, or the Replay returns and Pending says so.
	done *replayDone
	// p0 is Pending when the replay began; consumed counts the events of
	// the batches committed since.
	p0, consumed int
}

// replayDone is a batch a replay stored, with what it settles once the
// Spill has removed it.
type replayDone struct {
	evs                       []event.JobEvent
	inherited                 int // how many of evs counted as inherited
	replayed, found, rejected uint64
	verdicts                  []verdict
	errs                      []error
}

func (s *spiller) init(l *Logger) {
	s.base, s.cancel = context.WithCancel(context.Background())
	s.w = startWorker(func(j job) error { return l.cfg.spill.StoreBatch(j.ctx, j.batch) })
	s.pending = l.cfg.spill.Pending()
	s.inherited = s.pending
	s.unsure = make(map[string]time.Time)
	l.st.SpillPending = s.pending
}

// noteUnsure records that ev is spilled after a publish of unknown outcome
// that began at since, so that its replay looks it up first.
func (s *spiller) noteUnsure(ev *event.JobEvent, since time.Time) {
	if since.IsZero() {
		return
	}
	if t, ok := s.unsure[ev.ID]; !ok || since.Before(t) {
		s.unsure[ev.ID] = since
	}
}

// replaySentAt returns, for a batch read back from the Spill, when each
// event's first publish of unknown outcome began, for lookupFor: the
// event's own timestamp for events the Spill held at open (inherited,
// history unknown), the recorded time for those this Logger spilled after
// such a publish, and zero (no lookup) for those never sent.
func (s *spiller) replaySentAt(evs []event.JobEvent) []time.Time {
	at := make([]time.Time, len(evs))
	for i := range evs {
		if i < s.inherited {
			at[i] = evs[i].Timestamp
			if at[i].IsZero() {
				at[i] = time.Unix(0, 1) // looked up whatever its age
			}
			continue
		}
		at[i] = s.unsure[evs[i].ID]
	}
	return at
}

// beginReplay notes where a replay starts, for endReplay.
func (s *spiller) beginReplay() {
	s.p0, s.consumed = s.pending, 0
}

// commitDone settles the batch the last replay call stored, now that the
// Spill has removed it: it is counted (Replayed, FoundStored, the
// rejected ones as dropped) and forgotten by the lookup tracking.
func (l *Logger) commitDone() {
	s := &l.f.spill
	d := s.done
	if d == nil {
		return
	}
	s.done = nil
	s.consumed += len(d.evs)
	s.inherited = max(s.inherited-d.inherited, 0)
	for i := range d.evs {
		delete(s.unsure, d.evs[i].ID)
	}
	l.mu.Lock()
	l.st.Replayed += d.replayed
	l.st.FoundStored += d.found
	l.st.Dropped.Rejected += d.rejected
	if d.rejected > 0 {
		l.dropNoted = true
	}
	l.mu.Unlock()
	if d.rejected > 0 {
		l.cfg.log.Warn("naq-events logger: store rejected spilled events", "rejected", d.rejected, "first", errors.Join(d.errs...))
		if l.cfg.onDrop != nil {
			for i, v := range d.verdicts {
				if v == vRejected {
					l.cfg.onDrop(d.evs[i], DropRejected)
				}
			}
		}
	}
}

// endReplay settles the last stored batch once a replay call returned:
// committed if the Spill removed it (the replay ended well, or Pending
// shows it gone), else left to be delivered again, its events still
// marked as stored for the lookup.
func (l *Logger) endReplay(err error, pending int) {
	s := &l.f.spill
	if s.done != nil && (err == nil || pending <= s.p0-s.consumed-len(s.done.evs)) {
		l.commitDone()
	}
	s.done = nil
}

// writeSpill writes evs to the spill and waits for the result, at most
// until Close's bound once Close has begun. It returns the write's error
// and whether it returned in time.
func (l *Logger) writeSpill(evs []event.JobEvent) (error, bool) {
	f := &l.f
	if f.spill.w.busy() {
		return errSpillStalled, true // never two calls at once
	}
	if f.spill.pending >= l.cfg.spillLimit {
		return fmt.Errorf("%w: it holds %d events, the limit (WithSpillLimit %d)", ErrSpillFull, f.spill.pending, l.cfg.spillLimit), true
	}
	ctx, cancel := context.WithTimeout(f.spill.base, l.cfg.storeTimeout)
	defer cancel()
	if !f.close.hard.IsZero() {
		var cancel2 context.CancelFunc
		ctx, cancel2 = context.WithDeadline(ctx, f.close.hard)
		defer cancel2()
	}
	f.spill.w.start(job{kind: callSpill, ctx: ctx, batch: evs})
	err, ok := l.awaitWorker(f.spill.w)
	if !ok {
		f.spill.timedOut = true
	}
	return err, ok
}

// spillResult counts a spill write of n events: every event written is
// spilled, and the returned verdicts say which were (vDone), which the
// Spill refused as invalid (vRejected: they are dropped, never retried) and
// which failed (vFailed: they stay where they were).
func (l *Logger) spillResult(err error, evs []event.JobEvent, now time.Time) (_ []verdict, failed int, errs []error) {
	f := &l.f
	f.spill.scratch, failed, errs = classify(err, len(evs), f.spill.scratch)
	written := len(evs) - failed
	for _, v := range f.spill.scratch {
		if v == vRejected {
			written--
		}
	}
	if err != nil {
		err = fmt.Errorf("logger: spill %d events: %w", len(evs), err)
		l.mu.Lock()
		l.st.LastError, l.st.LastErrorAt = err, now
		l.mu.Unlock()
		if !errors.Is(err, ErrSpillFull) {
			l.report(err)
		} else if f.spill.fullAt.IsZero() || now.Sub(f.spill.fullAt) >= dropWarnEvery {
			// While the Spill stays full every spill attempt (each
			// high-water check, each exhausted batch) is refused: the
			// error handler hears of it at once and then every
			// dropWarnEvery; the drops it causes are counted anyway.
			f.spill.fullAt = now
			l.report(err)
		}
	} else {
		f.spill.fullAt = time.Time{}
	}
	if failed > 0 {
		f.spill.retryAt = now.Add(l.cfg.initialBackoff)
	}
	f.spill.pending += written
	l.mu.Lock()
	l.st.Spilled += uint64(written)
	l.st.SpillPending = f.spill.pending
	l.mu.Unlock()
	return f.spill.scratch, failed, errs
}

// spillEvents moves held[i:j] (not in flight) to the spill. Events written
// leave as spilled, events the Spill rejects leave as dropped (reason
// DropRejected); those whose write failed stay, in order, at held[i:i+left].
// ok is false if the write did not return by Close's bound: then the
// events leave as outcome unknown (they may be on disk) and left is 0.
func (l *Logger) spillEvents(i, j int, now time.Time) (left int, ok bool) {
	f := &l.f
	h := &f.held
	err, ok := l.writeSpill(h.evs[i:j])
	if !ok {
		h.detach() // the write may still read the events
		l.giveUp(i, j, DropClosed, true)
		return 0, false
	}
	verdicts, failed, errs := l.spillResult(err, h.evs[i:j], now)
	if i == 0 && failed == 0 {
		f.retry.attempts = 0
	}
	if l.cfg.onDrop != nil {
		for k, v := range verdicts {
			if v == vRejected {
				l.cfg.onDrop(h.evs[i+k], DropRejected)
			}
		}
	}
	l.mu.Lock()
	track := l.trackingLocked()
	w := i
	var spilled, rejected uint64
	for k, v := range verdicts {
		switch v {
		case vDone:
			spilled++
			f.spill.noteUnsure(&h.evs[i+k], h.sentAt[i+k])
			if track {
				l.settleLocked(h.seqs[i+k], outSpilled, spilledError(h.evs[i+k].ID))
			}
		case vRejected:
			rejected++
			if track {
				l.settleLocked(h.seqs[i+k], outDropped, fmt.Errorf("logger: %w: spill: %w", ErrDropped, errs[k]))
			}
		default:
			h.keep(w, i+k)
			w++
		}
	}
	l.fates.spilled += spilled
	l.fates.dropped += rejected
	l.st.Dropped.Rejected += rejected
	if rejected > 0 {
		l.dropNoted = true
	}
	l.removeLocked(w, j)
	l.mu.Unlock()
	return failed, true
}

// spillOldest moves the oldest events in memory to the spill until at
// most keep are left (not counting a batch in flight that is spilled
// already), in order: the batch in flight (whose call is left to finish;
// the store de-duplicates it if it is replayed after all), the events
// taken for retry, then the queue. It stops at the first spill failure and
// reports whether it got there.
func (l *Logger) spillOldest(keep int, now time.Time) bool {
	f := &l.f
	inFlight := f.store.kind == callStore
	if inFlight && !f.inSpilt && !l.spillInFlight(now) {
		return false
	}
	start := 0
	if inFlight {
		start = f.inN
	}
	for {
		l.mu.Lock()
		depth := l.q.n + f.held.len() - start
		if depth <= keep {
			l.mu.Unlock()
			return true
		}
		if f.held.len() == start {
			l.takeLocked(min(l.cfg.batchSize, depth-keep))
		}
		l.mu.Unlock()
		end := min(f.held.len(), start+l.cfg.batchSize, start+depth-keep)
		left, ok := l.spillEvents(start, end, now)
		if !ok || left > 0 {
			return false
		}
	}
}

// spillInFlight writes the events of the calls in flight to the spill and
// reports whether every one of them is on disk. All or nothing: the calls'
// answers settle these events, as spilled only if all are (inSpilt). A
// write that fails for some events still puts the others on disk: those
// are marked (inDisk), leave as spilled whatever the answer, and are not
// written again; the next attempt writes the rest.
func (l *Logger) spillInFlight(now time.Time) bool {
	f := &l.f
	h := &f.held
	evs, idx := h.evs[:f.inN], []int(nil)
	if len(f.inDisk) > 0 {
		evs = nil
		for k := range f.inN {
			if !f.inDisk[h.seqs[k]] {
				evs, idx = append(evs, h.evs[k]), append(idx, k)
			}
		}
	}
	err, ok := l.writeSpill(evs)
	if !ok {
		h.detach() // the write may still read the events
		return false
	}
	verdicts, failed, _ := l.spillResult(err, evs, now)
	whole := true
	for i, v := range verdicts {
		if v != vDone {
			whole = false // failed, or refused (it stays with the calls' answers)
			continue
		}
		k := i
		if idx != nil {
			k = idx[i]
		}
		since := f.inSince // in flight: its outcome is unknown
		if t := h.sentAt[k]; !t.IsZero() && t.Before(since) {
			since = t
		}
		f.spill.noteUnsure(&h.evs[k], since)
		if err != nil {
			if f.inDisk == nil {
				f.inDisk = make(map[uint64]bool)
			}
			f.inDisk[h.seqs[k]] = true
		}
	}
	if !whole {
		if failed == 0 {
			f.spill.retryAt = now.Add(l.cfg.initialBackoff)
		}
		return false
	}
	clear(f.inDisk)
	f.inSpilt = true
	return true
}

// relieve spills the oldest events when the buffer is three quarters full.
func (l *Logger) relieve(now time.Time) {
	f := &l.f
	if l.cfg.spill == nil || now.Before(f.spill.retryAt) || f.close.draining {
		return
	}
	// The same count as Log's (a spilled batch in flight still takes
	// memory), so that Log's wake-up at the high-water mark is never lost.
	l.mu.Lock()
	depth := l.q.n + f.held.len()
	l.mu.Unlock()
	if depth < l.highWater {
		return
	}
	if f.store.kind == callReplay {
		l.pauseReplay.Store(true) // spill once the replay returns
		return
	}
	l.spillOldest(l.lowWater, now)
}

// replayBatch stores one batch read back from the spill. It runs on the
// store goroutine, inside Spill.Replay.
func (l *Logger) replayBatch(ctx context.Context, evs []event.JobEvent) error {
	l.commitDone() // a new batch: the Spill removed the one before
	if l.pauseReplay.Load() {
		return errReplayPaused
	}
	var err error
	found := 0
	start := time.Now()
	sentAt := l.f.spill.replaySentAt(evs)
	if check := l.lookupFor(evs, sentAt, start); check != nil {
		found, err = l.storeChecked(ctx, evs, sentAt, check)
	} else {
		cctx, cancel := context.WithTimeout(ctx, l.cfg.storeTimeout)
		err = l.store.StoreBatch(cctx, evs)
		cancel()
	}
	verdicts, failed, errs := classify(err, len(evs), make([]verdict, 0, len(evs)))
	l.mu.Lock()
	l.st.Batches++
	if failed > 0 {
		l.st.FailedBatches++
		l.mu.Unlock()
		// The batch stays in the Spill, and some of it may be stored now:
		// those stored and those whose outcome is unknown are looked up
		// when the batch is replayed again.
		for i, v := range verdicts {
			if v == vDone || (v == vFailed && maybeStored(eventErr(err, errs, i))) {
				l.f.spill.noteUnsure(&evs[i], start)
			}
		}
		return fmt.Errorf("logger: replay batch of %d: %w", len(evs), err)
	}
	l.mu.Unlock()
	var rejected uint64
	for _, v := range verdicts {
		if v == vRejected {
			rejected++
		}
	}
	// Stored; counted and forgotten once the Spill has removed the batch
	// (commitDone). Until then they are marked stored since start, so
	// that a batch delivered again after its removal failed is looked up
	// once that is older than most of the window.
	sp := &l.f.spill
	inh := min(sp.inherited, len(evs))
	for i := range evs {
		sp.noteUnsure(&evs[i], start)
	}
	sp.done = &replayDone{evs: evs, inherited: inh, replayed: uint64(len(evs)) - rejected, found: uint64(found),
		rejected: rejected, verdicts: slices.Clone(verdicts), errs: slices.Clone(errs)}
	return nil
}

func (l *Logger) onReplayResult(err error, now time.Time) {
	f := &l.f
	f.spill.pending = l.cfg.spill.Pending()
	l.endReplay(err, f.spill.pending)
	l.mu.Lock()
	l.st.SpillPending = f.spill.pending
	if err != nil && !errors.Is(err, errReplayPaused) {
		l.st.LastError, l.st.LastErrorAt = err, now
	}
	l.mu.Unlock()
	switch {
	case err == nil:
		f.retry.replayedOK()
		l.setBreaker(false, now, nil)
	case errors.Is(err, errReplayPaused), f.close.aborting:
	default:
		l.failed(err, now)
		f.retry.failedReplay(now)
	}
}
