package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// Pipelined fast batches (logger.Pipeliner).
//
// Consecutive SendBatch calls append to one open fast batch: the same
// batch id, the batch sequence continuing from call to call. Gap mode
// "fail" then keeps the order across calls: the server stores a
// contiguous prefix of the batch and stops at its first lost or refused
// message, so nothing of call N+1 is stored behind a message of call N
// that is not. A call is confirmed by the flow ack that covers its last
// message (the server acks every ackEvery persisted messages, counted from
// the batch's start), or by the commit's PubAck; no commit is needed
// between calls.
//
// The batch ends with a commit (op 2 on the last message of a call sent
// with more false; an end-of-batch commit, op 3, otherwise) when:
//   - the caller says nothing more is queued (more false);
//   - the newest message is not covered by a coming flow ack (its call's
//     end is not on an ack boundary) and either two calls are unconfirmed
//     (the caller sends no third before the first is confirmed) or no call
//     followed within pipeLinger;
//   - every message is confirmed and no call followed within pipeLinger
//     (a batch left open is dropped by the server after 10 s).
//
// A call that arrives while a commit is pending waits for its PubAck
// before it opens the next batch. If the batch fails (a gap, a refused
// message, the ack timeout without progress, a lost connection, a
// restarted server), every unconfirmed call ends with it: events up to
// the last confirmed one are stored, those after a commit's count are
// certainly not (logger.ErrNotSent), the rest are of unknown outcome. A
// chained call that arrives after such a failure is not sent at all
// (ErrNotSent), since its events would land before the failed ones' retry;
// nor is one chained behind a call that was itself not sent (the logger
// chains a third call once the head is answered, while the second is
// still in SendBatch), until a call that is not chained.
// Nothing is re-sent inside SendBatch: the caller retries, in order.
//
// When the Store publishes asynchronously (PublishAsync, or the fallback
// after the server refused fast batches), SendBatch is StoreBatch: the
// call completes before SendBatch returns, so nothing is pipelined; a
// chained call behind one that did not store every event is not sent
// (sendAsync), as above.

// pipeOutstanding is how many flow acks' worth of messages a pipelined
// batch may have sent and not confirmed: two calls of 4 × flow.
const pipeOutstanding = 2 * fastOutstanding

// pipeLinger is how long an open batch waits for the next call before it
// commits on its own.
const pipeLinger = time.Millisecond

// pipeReplyCap is the room of a pipelined batch's reply channel: the
// answers (flow acks, reports, an error per message after an early end)
// that may wait for the batch's goroutine.
const pipeReplyCap = 8192

// replyChans recycles those channels. At low rates every event opens a
// batch of its own (the last one committed after pipeLinger), and a fresh
// channel of pipeReplyCap pointers, 64 KiB, per batch was nearly all the
// write path allocated (BenchmarkLatency1k/batch2000-pipelined: 71 KB per
// event before, 5 KB after). A channel goes back only after its
// subscription is gone (nats.go sends to it no more) and it is drained.
var replyChans = sync.Pool{New: func() any { return make(chan *nats.Msg, pipeReplyCap) }}

// releaseReplies unsubscribes sub and, when that succeeded (nats.go then
// delivers nothing more to ch), drains ch and recycles it.
func releaseReplies(sub *nats.Subscription, ch chan *nats.Msg) {
	if err := sub.Unsubscribe(); err != nil {
		return // the connection may still hold it: left to the collector
	}
	for {
		select {
		case <-ch:
		default:
			replyChans.Put(ch)
			return
		}
	}
}

var _ logger.Pipeliner = (*Store)(nil)

// pipeline is the Store's open pipelined batch.
type pipeline struct {
	mu  sync.Mutex // serializes SendBatch calls and the closing by StoreBatch
	cur *pbatch
	// unsent is why the last SendBatch call is certainly not wholly
	// stored outside of any batch still open: it was not sent, or it was
	// answered on the asynchronous path without every event stored
	// (rejections aside). Nil if not. A chained call behind it is not
	// sent, whatever the batches before it became since.
	unsent error
}

// pcall is one SendBatch call on a pipelined batch.
type pcall struct {
	events []event.JobEvent
	errs   []error
	b      *batchMsgs
	idx    []int // the valid events, in send order
	first  int   // batch seq of idx[0]
	sent   int   // how many of idx are published
	den    denials
	done   chan struct{}
	closed bool // done is closed
}

func (c *pcall) last() int { return c.first + len(c.idx) - 1 }

// pbatch is one fast batch that pipelined calls append to. Its watcher
// goroutine reads the server's answers, pings, commits and resolves calls.
type pbatch struct {
	s        *Store
	id       string
	prefix   string // <inbox>.<flow>.fail.
	subj     string // a subject of the batch, for pings
	sub      *nats.Subscription
	subSince error // the connection's LastError before sub was made
	msgs     chan *nats.Msg
	kick     chan struct{}
	ended    chan struct{} // closed when over

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when something moved
	sent      int           // highest batch seq published (or being published)
	confirmed int           // every seq up to it is stored
	lastAck   int           // seq of the last flow ack
	ackEvery  int
	sending   bool // a SendBatch is publishing
	sealed    bool // committed or broken: no more appends
	commitAt  int  // seq of the end-of-batch commit sent, 0 if none
	over      bool
	known     bool // over with the commit's count: after confirmed, not stored
	err       error
	rejected  error // the server refused message rejectedSeq itself
	rejSeq    int
	denSeq    int      // the server refused the publish of this seq (permissions), 0 if none
	short     bool     // a call stopped before sending all of its events
	calls     []*pcall // unresolved, oldest first
	lastNews  time.Time
	lastSend  time.Time
	lastPing  time.Time
}

// SendBatch implements logger.Pipeliner: it publishes events on the open
// fast batch behind every earlier call and returns the wait for their
// confirmation. See the comment at the top of pipeline.go.
func (s *Store) SendBatch(ctx context.Context, events []event.JobEvent, chained, more bool) func() error {
	done := func(err error) func() error { return func() error { return err } }
	if err := s.checkOpen(); err != nil {
		return done(err)
	}
	if len(events) == 0 {
		return done(nil)
	}
	if !s.pub.fast.Load() {
		return done(s.sendAsync(ctx, events, chained))
	}
	c := &pcall{events: events, errs: make([]error, len(events)), done: make(chan struct{}), den: s.newDenials()}
	maxPayload := s.nc.MaxPayload()
	c.b = newBatchMsgs(len(events))
	s.subjects(c.b, events)
	c.idx = make([]int, 0, len(events))
	for i := range events {
		if _, err := s.message(c.b, i, &events[i], maxPayload, false); err != nil {
			c.errs[i] = err
			continue
		}
		c.idx = append(c.idx, i)
	}
	if len(c.idx) == 0 {
		if !chained { // every earlier outcome is known, and nothing is left to send
			s.pipe.mu.Lock()
			s.pipe.unsent = nil
			s.pipe.mu.Unlock()
		}
		return done(batchError(c.errs))
	}

	s.pipe.mu.Lock()
	defer s.pipe.mu.Unlock()
	if chained && s.pipe.unsent != nil {
		c.fail(behindUnsent(s.pipe.unsent))
		return done(batchError(c.errs))
	}
	b, err := s.pipeBatch(ctx, chained, len(events))
	if err != nil {
		// Not sent: a call chained behind this one must not be either,
		// even once the batch before has ended whole (it ends on its own).
		s.pipe.unsent = err
		c.fail(err)
		return done(batchError(c.errs))
	}
	s.pipe.unsent = nil
	b.send(ctx, c, more)
	return func() error { return b.wait(ctx, c) }
}

// sendAsync is SendBatch when the Store publishes asynchronously: the call
// completes before SendBatch returns, so nothing is pipelined. A chained
// call behind one that did not store every event (here, or on the fast
// batch still open when the Store fell back) is not sent: its events
// certainly are not stored (logger.ErrNotSent), so that they cannot land
// before the failed ones' retry.
func (s *Store) sendAsync(ctx context.Context, events []event.JobEvent, chained bool) error {
	if chained {
		s.pipe.mu.Lock()
		var cause error
		if s.pipe.unsent != nil {
			cause = behindUnsent(s.pipe.unsent)
		} else if b := s.pipe.cur; b != nil {
			b.mu.Lock()
			if !b.whole() {
				cause = fmt.Errorf("%w: the batch before it was not wholly stored", ports.ErrUnavailable)
				s.pipe.unsent = cause // not sent: nor is a call chained behind it
			}
			b.mu.Unlock()
		}
		s.pipe.mu.Unlock()
		if cause != nil {
			errs := make([]error, len(events))
			for i := range events {
				errs[i] = notSent(&events[i], cause)
			}
			return batchError(errs)
		}
	}
	err := s.StoreBatch(ctx, events)
	s.pipe.mu.Lock()
	s.pipe.unsent = nil
	if !storedOrRejected(err) {
		s.pipe.unsent = fmt.Errorf("%w: it was not wholly stored", ports.ErrUnavailable)
	}
	s.pipe.mu.Unlock()
	return err
}

// behindUnsent is the cause of a chained call's not being sent because the
// call before it was not (wholly) stored, for the reason unsent (as text:
// what it wraps, a rejection say, is not this call's).
func behindUnsent(unsent error) error {
	return fmt.Errorf("%w: the batch before it was not wholly stored either (%s)", ports.ErrUnavailable, unsent.Error())
}

// storedOrRejected reports whether err, a StoreBatch error, leaves no
// event of the batch to retry: nil, or a *BatchError whose errors are all
// permanent rejections (event.ErrInvalid).
func storedOrRejected(err error) bool {
	if err == nil {
		return true
	}
	be, ok := errors.AsType[*logger.BatchError](err)
	if !ok {
		return false
	}
	for _, e := range be.Errs {
		if e != nil && !errors.Is(e, event.ErrInvalid) {
			return false
		}
	}
	return true
}

// refusedFirst is the error of fast batch id whose first message the
// server refused for lack of permission, so that it answered the next one
// with cause ("batch unknown"): the batch never existed.
func refusedFirst(id string, cause error) error {
	return fmt.Errorf("fast batch %s: %w: the server refused its first message for lack of permission, so it has no batch: %w", id, ports.ErrUnavailable, cause)
}

// notSent is the error of event ev, certainly not stored, because of cause.
func notSent(ev *event.JobEvent, cause error) error {
	return fmt.Errorf("event %s (job %s, %s) %w: %w", ev.ID, ev.JobID, ev.Type, logger.ErrNotSent, cause)
}

// fail fails every valid event of c as not sent.
func (c *pcall) fail(err error) {
	for _, i := range c.idx {
		ev := &c.events[i]
		c.errs[i] = notSent(ev, err)
	}
}

// pipeBatch returns the batch the next call appends to: the open one, or a
// new one once the previous has ended. A chained call behind a batch that
// failed gets an error instead: it must not be stored before the failed
// events are retried. Called with s.pipe.mu held.
func (s *Store) pipeBatch(ctx context.Context, chained bool, n int) (*pbatch, error) {
	if b := s.pipe.cur; b != nil {
		b.mu.Lock()
		sealed := b.sealed
		b.mu.Unlock()
		if !sealed {
			return b, nil
		}
		if chained {
			// Whether the batch before is whole decides: a commit pending
			// is awaited (bounded by the ack timeout).
			t := time.NewTimer(s.cfg.ackTimeout)
			waited := "ended"
			select {
			case <-b.ended:
			case <-ctx.Done():
				waited = ctx.Err().Error()
			case <-t.C:
				waited = "the ack timeout"
			}
			t.Stop()
			b.mu.Lock()
			over, whole, err := b.over, b.whole(), b.err
			state := fmt.Sprintf("sent %d, confirmed %d, commit at %d, waited for %s", b.sent, b.confirmed, b.commitAt, waited)
			b.mu.Unlock()
			if !whole {
				switch {
				case !over:
					err = fmt.Errorf("%w: its commit is not acknowledged (%s)", ports.ErrUnavailable, state)
				case err == nil:
					err = fmt.Errorf("%w: it is not wholly stored", ports.ErrUnavailable)
				}
				return nil, fmt.Errorf("fast batch %s ended short, not sending the batch chained behind it: %w", b.id, err)
			}
		}
		// Not chained: the caller knows every earlier outcome, and what the
		// old batch still holds reached the server before this one.
		s.pipe.cur = nil
	}
	b, err := s.newPBatch(n)
	if err != nil {
		return nil, err
	}
	s.pipe.cur = b
	return b, nil
}

// newPBatch opens a pipelined batch whose flow suits calls of n events.
func (s *Store) newPBatch(n int) (*pbatch, error) {
	inbox := s.nc.NewInbox()
	flow := fastFlow(n)
	b := &pbatch{
		s: s, id: inbox[strings.LastIndexByte(inbox, '.')+1:],
		prefix:   inbox + "." + strconv.Itoa(flow) + ".fail.",
		msgs:     replyChans.Get().(chan *nats.Msg),
		kick:     make(chan struct{}, 1),
		ended:    make(chan struct{}),
		changed:  make(chan struct{}),
		ackEvery: flow,
		lastNews: time.Now(),
	}
	b.subSince = s.nc.LastError() // see replyRefused
	sub, err := s.nc.ChanSubscribe(inbox+".>", b.msgs)
	if err != nil {
		replyChans.Put(b.msgs) // never subscribed: empty and unshared
		return nil, fmt.Errorf("subscribe for fast batch acks: %w", classifyPublish(err))
	}
	b.sub = sub
	go b.watch()
	return b, nil
}

// send publishes c's messages on b, within the flow window.
func (b *pbatch) send(ctx context.Context, c *pcall, more bool) {
	s := b.s
	b.mu.Lock()
	b.sending = true
	c.first = b.sent + 1
	b.calls = append(b.calls, c)
	if b.subj == "" {
		b.subj = c.b.msgs[c.idx[0]].Subject
	}
	b.mu.Unlock()
	replies := pipeReplies(b.prefix, c.first, len(c.idx), !more)
	hdr := s.newMsgIDHeader()
	var stop error
	published := 0
	for j, i := range c.idx {
		b.mu.Lock()
		c.sent = published
		for stop == nil && !b.sealed && b.sent-b.confirmed >= b.ackEvery*pipeOutstanding {
			ch := b.changed
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				stop = fmt.Errorf("%w: %w", ports.ErrUnavailable, ctx.Err())
			}
			b.mu.Lock()
		}
		if b.sealed && stop == nil {
			stop = b.err
			if stop == nil {
				stop = fmt.Errorf("%w: the batch ended", ports.ErrUnavailable)
			}
		}
		if stop != nil {
			b.mu.Unlock()
			break
		}
		b.sent = c.first + j
		b.mu.Unlock()
		c.b.msgs[i].Reply = replies[j]
		if err := hdr.publish(s.nc, c.b, i); err != nil {
			stop = fmt.Errorf("fast batch %s: message %d: %w", b.id, c.first+j, classifyPublish(err))
			b.mu.Lock()
			b.sent-- // not published
			b.mu.Unlock()
			break
		}
		published = j + 1
	}
	b.mu.Lock()
	c.sent = published
	b.sending = false
	b.lastSend = time.Now()
	switch {
	case stop != nil:
		// The rest of c is not sent: nothing may follow it in this batch,
		// nor a chained call behind it in the next (short: the commit's
		// count will match what was sent, which alone reads as whole).
		if b.err == nil {
			b.err = stop
		}
		b.short = true
		b.commit()
	case !more:
		b.sealed = true // the last message committed
	}
	b.mu.Unlock()
	b.poke()
}

// pipeReplies builds the reply subjects of n messages from batch seq
// first on: op 0 for seq 1, 2 (commit) for the last if commit, else 1.
func pipeReplies(prefix string, first, n int, commit bool) []string {
	buf := make([]byte, 0, n*(len(prefix)+14))
	ends := make([]int, n)
	for j := range n {
		seq := first + j
		op := byte('1')
		if seq == 1 {
			op = '0'
		}
		if commit && j == n-1 {
			op = '2'
		}
		buf = append(buf, prefix...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, '.', op, '.', '$', 'F', 'I')
		ends[j] = len(buf)
	}
	all := string(buf)
	out := make([]string, n)
	start := 0
	for j, e := range ends {
		out[j], start = all[start:e], e
	}
	return out
}

func (b *pbatch) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// moved wakes senders waiting for room. b.mu held.
func (b *pbatch) moved() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// commit ends the batch with an end-of-batch commit (op 3) after the last
// message sent, unless it is ended already. b.mu held.
func (b *pbatch) commit() {
	if b.sealed {
		return
	}
	b.sealed = true
	if b.sent == 0 {
		b.over = true
		return
	}
	b.commitAt = b.sent + 1
	_ = b.s.nc.PublishRequest(b.subj, b.prefix+strconv.Itoa(b.commitAt)+".3.$FI", nil)
}

// whole reports whether the batch is over with every event of its calls
// stored: all it sent is confirmed and no call stopped short of sending
// all of its own. b.mu held.
func (b *pbatch) whole() bool { return b.over && b.confirmed == b.sent && !b.short }

// end marks the batch over with err (nil: whole). b.mu held.
func (b *pbatch) end(err error, known bool) {
	if b.over {
		return
	}
	b.over, b.sealed, b.known = true, true, known
	if b.err == nil {
		b.err = err
	}
	if b.confirmed == b.sent {
		b.err = nil
	}
	b.moved()
}

// watch is the batch's goroutine: answers, pings, commits, timeouts.
func (b *pbatch) watch() {
	s := b.s
	defer releaseReplies(b.sub, b.msgs)
	defer close(b.ended)
	pingEvery := min(max(s.cfg.ackTimeout/10, 10*time.Millisecond), time.Second)
	timer := time.NewTimer(pingEvery)
	defer timer.Stop()
	for {
		select {
		case m := <-b.msgs:
			b.mu.Lock()
			b.handle(m)
			b.mu.Unlock()
		case <-b.kick:
		case <-timer.C:
		case <-s.done:
			b.mu.Lock()
			b.end(fmt.Errorf("jsstore: %w", ports.ErrClosed), false)
			b.mu.Unlock()
		}
		b.mu.Lock()
		wake := b.step(pingEvery)
		over := b.over
		if over {
			b.resolve()
		}
		b.mu.Unlock()
		if over {
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wake)
	}
}

// step checks the clocks and returns when to look again. b.mu held.
func (b *pbatch) step(pingEvery time.Duration) time.Duration {
	s := b.s
	now := time.Now()
	b.resolve()
	if b.over {
		return pingEvery
	}
	wake := pingEvery
	unconfirmed := b.sent > b.confirmed
	if unconfirmed || b.commitAt > 0 {
		silent := now.Sub(b.lastNews)
		var refused error // looked up once: LastError may change between two looks
		if silent >= pingEvery {
			refused = s.replyRefused(b.sub.Subject, b.subSince)
		}
		switch {
		case silent >= s.cfg.ackTimeout:
			b.end(fmt.Errorf("fast batch %s: %w: no progress from the server within %v: %w", b.id, ports.ErrUnavailable, s.cfg.ackTimeout, nats.ErrTimeout), false)
			return wake
		case !s.nc.IsConnected() && silent >= pingEvery:
			b.end(fmt.Errorf("fast batch %s: %w: connection %s: %w", b.id, ports.ErrUnavailable, s.nc.Status(), nats.ErrDisconnected), false)
			return wake
		case refused != nil:
			b.end(fmt.Errorf("fast batch %s: %w", b.id, refused), false)
			return wake
		case silent >= pingEvery && b.denSeq == 0 && b.checkDenied():
			return wake
		case silent >= pingEvery && now.Sub(b.lastPing) >= pingEvery && !b.sending:
			// The server answers with its last flow ack, or reports a gap
			// (a lost message) and commits, or an unknown batch.
			b.lastPing = now
			seq := b.sent
			if b.commitAt > 0 {
				seq = b.commitAt - 1
			}
			_ = s.nc.PublishRequest(b.subj, b.prefix+strconv.Itoa(max(seq, 1))+".4.$FI", nil)
		}
	}
	if b.sealed || b.sending {
		return wake
	}
	idle := now.Sub(b.lastSend)
	if unconfirmed {
		// Not covered by a flow ack to come: the next call's messages or a
		// commit must confirm it.
		stuck := b.sent < b.lastAck+b.ackEvery || now.Sub(b.lastNews) >= pingEvery
		if stuck {
			if len(b.calls) >= 2 || idle >= pipeLinger {
				b.commit()
				return wake
			}
			wake = min(wake, pipeLinger-idle)
		}
		return wake
	}
	if len(b.calls) == 0 {
		if idle >= pipeLinger {
			// Everything is confirmed: the commit's PubAck tells nothing
			// more, and the next call may open a new batch at once.
			b.commit()
			b.end(nil, true)
			return wake
		}
		wake = min(wake, pipeLinger-idle)
	}
	return wake
}

// checkDenied looks for a message sent and not confirmed whose publish the
// server refused for lack of permission (it never reached the stream). The
// batch then ends before it: at once if it was the first message (the
// server has no batch), else with the commit its gap draws, or an
// end-of-batch commit at its seq when nothing followed it. b.mu held.
func (b *pbatch) checkDenied() bool {
	for _, c := range b.calls {
		lo, hi := max(0, b.confirmed+1-c.first), c.sent
		if lo >= hi {
			continue
		}
		k := c.den.first(c.b, c.idx[lo:hi])
		if k < 0 {
			continue
		}
		q := c.first + lo + k
		b.denSeq = q
		if b.err == nil {
			b.err = fmt.Errorf("fast batch %s: %w: the server refused the publish of message %d for lack of permission", b.id, ports.ErrUnavailable, q)
		}
		b.sealed = true
		switch {
		case q == 1:
			b.confirmed = 0
			b.end(b.err, true)
		case q == b.sent && (b.commitAt == 0 || b.commitAt == q):
			b.commitAt = q
			_ = b.s.nc.PublishRequest(b.subj, b.prefix+strconv.Itoa(q)+".3.$FI", nil)
		}
		return true
	}
	return false
}

// refused reports whether the server refused message seq of the batch
// (sent, not yet resolved) for lack of permission. b.mu held.
func (b *pbatch) refused(seq int) bool {
	for _, c := range b.calls {
		if j := seq - c.first; j >= 0 && j < c.sent {
			return c.den.denied(c.b.msgs[c.idx[j]].Subject)
		}
	}
	return false
}

// handle applies one answer of the server. b.mu held.
func (b *pbatch) handle(m *nats.Msg) {
	s := b.s
	if m.Sub != b.sub {
		return // not this batch's (its channel is recycled: see replyChans)
	}
	if status := m.Header.Get("Status"); status != "" {
		if status == "503" {
			b.end(fmt.Errorf("fast batch %s: %w: no responders (is the stream %s there?): %w", b.id, ports.ErrUnavailable, s.cfg.stream, nats.ErrNoResponders), false)
		} else {
			b.end(fmt.Errorf("fast batch %s: %w: status %s %s", b.id, ports.ErrUnavailable, status, m.Header.Get("Description")), false)
		}
		return
	}
	var a fastReply
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return
	}
	switch a.Type {
	case "ack":
		if c := min(int(a.Seq), b.sent); c > b.confirmed {
			b.confirmed = c
			b.lastNews = time.Now()
			b.moved()
		}
		b.lastAck = int(a.Seq)
		if a.Msgs > 0 {
			b.ackEvery = a.Msgs
		}
		return
	case "gap": // the PubAck follows with what is stored
		return
	case "err":
		if a.Error != nil && a.Error.ErrorCode == errCodeMsgExceedsMaxium && a.Seq >= 1 {
			b.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
			b.rejSeq = int(a.Seq)
		}
		if b.err == nil && a.Error != nil {
			b.err = fmt.Errorf("fast batch %s: message %d: %w", b.id, a.Seq, classify(a.Error))
		}
		b.sealed = true // the server commits what it has
		return
	}
	switch seq, op := replySeqOp(m.Subject, b.prefix); {
	case a.Error == nil && a.Batch == b.id:
		b.confirmed = min(int(a.Count), b.sent)
		b.lastNews = time.Now()
		if b.confirmed < b.sent && b.err == nil {
			b.err = fmt.Errorf("fast batch %s: %w: the server stored %d of %d (a gap: a message was lost on the way)", b.id, ports.ErrUnavailable, b.confirmed, b.sent)
		}
		b.end(b.err, true)
	case a.Error == nil:
	case a.Error.ErrorCode == errCodeBatchUnknownID && b.confirmed == 0 && b.refused(1):
		// The server refused the first message for lack of permission, so
		// it never had the batch: nothing of it is stored.
		b.denSeq = 1
		b.end(refusedFirst(b.id, a.Error), true)
	case a.Error.ErrorCode == errCodeBatchUnknownID:
		b.end(fmt.Errorf("fast batch %s: %w: the server no longer knows the batch (restarted?): %w", b.id, ports.ErrUnavailable, a.Error), false)
	case a.Error.ErrorCode == errCodeBatchDisabled:
		s.fallBack("the stream refused a fast batch: " + a.Error.Error())
		b.end(fmt.Errorf("fast batch %s on stream %s: %w: %w", b.id, s.cfg.stream, ports.ErrUnavailable, a.Error), seq == 1 && op != 4)
	case seq > 1 || op == 4:
		// Refused before it joined the batch: the gap it leaves ends the
		// batch with a commit whose count says what is stored.
		if a.Error.ErrorCode == errCodeMsgExceedsMaxium && op != 4 {
			b.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
			b.rejSeq = seq
		}
		if b.err == nil {
			b.err = fmt.Errorf("fast batch %s: message %d: %w", b.id, seq, classify(a.Error))
		}
		b.sealed = true
	default:
		// The first message failed as a plain publish would: nothing of
		// the batch is stored.
		if a.Error.ErrorCode == errCodeMsgExceedsMaxium {
			b.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
			b.rejSeq = 1
		}
		b.confirmed = 0
		b.end(fmt.Errorf("fast batch %s: %w", b.id, classify(a.Error)), true)
	}
}

// resolve closes the done channel of every call whose outcome is known:
// all of it confirmed, or the batch over. b.mu held.
func (b *pbatch) resolve() {
	k := 0
	for _, c := range b.calls {
		if !b.over && (c.sent < len(c.idx) || b.confirmed < c.last()) {
			break
		}
		if !c.closed {
			c.closed = true
			close(c.done)
		}
		k++
	}
	b.calls = b.calls[k:]
}

// wait waits for c's outcome and returns it as StoreBatch's error.
func (b *pbatch) wait(ctx context.Context, c *pcall) error {
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, o := range b.calls {
		if o == c {
			b.calls = append(b.calls[:k:k], b.calls[k+1:]...)
			break
		}
	}
	b.poke()
	cause := b.err
	if cause == nil {
		cause = fmt.Errorf("fast batch %s: %w: %w", b.id, ports.ErrUnavailable, ctx.Err())
	}
	for j, i := range c.idx {
		seq := c.first + j
		ev := &c.events[i]
		switch {
		case j >= c.sent:
			c.errs[i] = notSent(ev, cause)
		case seq <= b.confirmed:
		case seq == b.denSeq, c.den.denied(c.b.msgs[i].Subject):
			// Refused for lack of permission: never stored, never will be.
			// Every refused one, as dropDenied does for a plain batch (the
			// one at a gap too, which the gap's commit reports as merely
			// not stored), so that a batch of n refused events ends in one
			// call, not n.
			c.errs[i] = b.s.deniedError(ev, c.b.msgs[i].Subject)
		case b.rejected != nil && seq == b.rejSeq && b.known:
			c.errs[i] = fmt.Errorf("event %s (job %s, %s): %w", ev.ID, ev.JobID, ev.Type, b.rejected)
		case b.known:
			c.errs[i] = notSent(ev, cause)
		default:
			c.errs[i] = fmt.Errorf("event %s (job %s, %s) not confirmed stored: %w", ev.ID, ev.JobID, ev.Type, cause)
		}
	}
	return batchError(c.errs)
}

// finishPipe ends the open pipelined batch before a plain StoreBatch, so
// that its events cannot be stored behind the plain call's: a commit, and
// its PubAck awaited if anything is unconfirmed (within the ack timeout).
func (s *Store) finishPipe(ctx context.Context) {
	s.pipe.mu.Lock()
	defer s.pipe.mu.Unlock()
	b := s.pipe.cur
	if b == nil {
		return
	}
	b.mu.Lock()
	b.commit()
	if b.confirmed == b.sent {
		b.end(nil, true)
	}
	b.mu.Unlock()
	b.poke()
	t := time.NewTimer(s.cfg.ackTimeout)
	defer t.Stop()
	select {
	case <-b.ended:
	case <-ctx.Done():
	case <-t.C:
	}
	s.pipe.cur = nil
}
