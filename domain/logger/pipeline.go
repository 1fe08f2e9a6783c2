package logger

import (
	"context"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Pipelining: a second store call in flight, in order.
//
// With one call in flight the store sits idle while the last
// acknowledgements of a batch come back. A Store that implements Pipeliner
// can take the next batch before the previous one is confirmed and keep
// the order across both: jsstore appends consecutive batches to one
// JetStream fast-ingest batch (gap mode "fail"), so that if anything of
// the first is lost, nothing of the second is stored behind it.
//
// With pipelining on (the default, WithPipelineDepth(2)) the flusher then keeps up to
// two store calls in flight (pipeDepth): the
// oldest (the head, held[:headN]) and one chained behind it
// (held[headN:inN]), both a prefix of held. Results arrive and are applied
// strictly in order. When the head fails while the chained call is in
// flight, its answer is kept (stash) until the chained call's answer comes
// and then both are applied, the head's first: the failed events of both
// stay at the head of memory in logged order and are retried ahead of
// everything newer, with the same IDs (the store de-duplicates what it
// had stored after all).
//
// A head call of a lone event with nothing queued behind it (a low rate)
// goes out with a plain StoreBatch, which answers sooner than an open fast
// batch lingering for a next call; any other head call with SendBatch.
//
// Only plain calls are chained: fresh events from the queue (never sent,
// so no lookup and no duplicate at the start of a batch), behind a head
// that was itself sent with SendBatch, while the breaker is closed, no
// retry is pending, the Spill is empty and nothing in flight was spilled.
// Anything else (retries, lookups, replays, spills) runs with one call in
// flight, as without a Pipeliner.

// Pipeliner is implemented by a Store that can take a batch while the
// batch before it is not confirmed yet, keeping the order of both.
//
// Contract for implementations:
//   - SendBatch starts storing events after every event of the batches of
//     earlier SendBatch calls and returns a function that waits for the
//     outcome, which reads as StoreBatch's error (nil: every event is
//     durably stored; a *BatchError says which are not, ErrNotSent marking
//     those certainly not stored). It may block while it sends.
//   - The caller makes SendBatch calls from one goroutine, calls each wait
//     exactly once, in the same order, and has at most two batches
//     outstanding (sent, outcome not yet received): a store may need the
//     first's outcome before it can take a third, so it must confirm a
//     batch without waiting for a further SendBatch call.
//   - chained is true when the caller sends this batch before it knows the
//     outcome of the previous SendBatch's batch. Then an event of this
//     batch must not be stored unless every event of the previous batch
//     is (a permanent rejection, wrapping event.ErrInvalid, aside): if the
//     previous batch fails, this one fails too, its events certainly not
//     stored (ErrNotSent) or of unknown outcome, never stored out of
//     order. With chained false the caller knows every earlier outcome.
//   - more is a hint: the caller has more events to send at once, so the
//     store may keep its batch open for them rather than end it.
//   - Plain StoreBatch calls are made only while no SendBatch batch is
//     outstanding. ctx bounds the send and the wait; the store must not
//     retain events after wait returns.
type Pipeliner interface {
	SendBatch(ctx context.Context, events []event.JobEvent, chained, more bool) (wait func() error)
}

// DefaultPipelineDepth is how many store calls may be in flight at once
// by default: 2, pipelining on, since docs/performance.md shows it pays:
// over JetStream it stored more events/s than one call in flight in 20 of
// 21 paired rounds (four runs, median gains of 5–9 % per run), at the same
// latency at low rates (a lone event goes out plain). What it costs: while
// the store is down, the chained call's batch is also taken off the queue
// and so out of reach of the DropOldest policy.
const DefaultPipelineDepth = 2

// pipeDepth is the most store calls in flight with a Pipeliner.
const pipeDepth = 2

// WithPipelineDepth sets how many store calls may be in flight at once
// when the Store implements Pipeliner (jsstore with fast-ingest batches
// does): 2 sends the next batch while the previous one awaits its
// acknowledgements, keeping the order (see Pipeliner); 1 keeps one call at
// a time, as with any other Store. With 2, while the store is down up to
// two batches are taken off the queue and so out of reach of DropOldest.
//
// A Store decorator sees only the StoreBatch calls: one that embeds a
// Pipeliner (such as *jsstore.Store) and overrides only StoreBatch passes
// SendBatch through and so is bypassed for every chained call; hold the
// store in a field instead (the decorator is then no Pipeliner and the
// depth is 1), or forward SendBatch too.
//
// Default 2 (DefaultPipelineDepth: on). Range 1 or 2: any other value
// selects the default. Without a Pipeliner the depth is always 1.
func WithPipelineDepth(n int) Option {
	return func(c *config) {
		if n == 1 || n == 2 {
			c.pipeDepth = n
		} else {
			c.pipeDepth = DefaultPipelineDepth
		}
	}
}

// pipeState is the flusher's part of pipelining.
type pipeState struct {
	p        Pipeliner // the Store's, nil when pipelining is off
	headPipe bool      // the head call was sent with SendBatch
	headN    int       // events of the head call (held[:headN]); inN - headN are chained
	since2   time.Time // when the chained call started
	stashed  bool      // the head's failed answer waits for the chained call's
	stash    error
	buf      [2][]event.JobEvent // copies for chained calls, used in turn
	next     int
}

// send runs a pipelined job on the store goroutine: it starts the batch
// and returns the wait for its outcome, which the waiter goroutine calls.
func (l *Logger) send(j job) func() error {
	ctx, cancel := context.WithTimeout(l.f.base, l.cfg.storeTimeout)
	wait := l.f.pipe.p.SendBatch(ctx, j.batch, j.chained, j.more)
	return func() error {
		defer cancel()
		return wait()
	}
}

// pipeFresh reports whether held[:n] may go out with SendBatch: never sent
// before (so not a possible duplicate), with no lookup to make.
func (l *Logger) pipeFresh(n int, check []bool) bool {
	if l.f.pipe.p == nil || check != nil {
		return false
	}
	for _, t := range l.f.held.sentAt[:n] {
		if !t.IsZero() {
			return false
		}
	}
	return true
}

// mayChain reports whether a call may be chained behind the one in flight.
func (l *Logger) mayChain() bool {
	f := &l.f
	ps := &f.pipe
	return ps.p != nil && f.store.kind == callStore && !f.store.second && ps.headPipe &&
		!f.inSpilt && len(f.inDisk) == 0 && !ps.stashed && f.held.len() == f.inN && f.spill.pending == 0 &&
		!f.brk.open && f.retry.attempts == 0 && !f.close.aborting
}

// dispatchChained sends the oldest queued events behind the call in
// flight, if any are queued.
func (l *Logger) dispatchChained(now time.Time) {
	f := &l.f
	ps := &f.pipe
	l.mu.Lock()
	l.takeLocked(min(l.cfg.batchSize, l.cfg.maxBufferSize))
	n := f.held.len() - f.inN
	more := l.q.n > 0
	if n > 0 {
		l.st.InFlight = f.inN + n
	}
	l.mu.Unlock()
	if n == 0 {
		return
	}
	// A copy: applying the head's answer compacts held while this call
	// still reads its events.
	buf := append(ps.buf[ps.next][:0], f.held.evs[f.inN:f.inN+n]...)
	ps.buf[ps.next] = buf
	ps.next ^= 1
	ps.headN = f.inN
	f.inN += n
	ps.since2 = now
	f.store.start(job{kind: callStore, batch: buf[:n:n], pipe: true, chained: true, more: more})
}

// settleStashed, when Close abandons a chained call whose answer never
// came, applies the head's answer kept for it and gives the chained call's
// events up as outcome unknown (they were sent). Events spilled while in
// flight are left to the caller, which settles every event in flight as
// spilled.
func (l *Logger) settleStashed() {
	f := &l.f
	ps := &f.pipe
	if !ps.stashed || f.inSpilt {
		ps.stashed, ps.stash = false, nil
		return
	}
	err, n1, n2 := ps.stash, ps.headN, f.inN-ps.headN
	ps.stashed, ps.stash = false, nil
	f.inN, ps.headN = 0, 0
	w1, _ := l.settle(0, n1, err, f.inSince, false, time.Now())
	f.held.detach() // the chained call may still read its copy; held is ours again
	l.giveUp(w1, w1+n2, DropClosed, true)
}
