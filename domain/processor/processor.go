package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Processor runs registered handlers on every event a Source delivers. It
// is safe for concurrent use; handlers may be added and removed while it
// runs (a message already being handled keeps the handler list it started
// with).
type Processor struct {
	src Source
	cfg config
	log *slog.Logger
	reg registry
	c   counters

	sem     chan struct{} // one token per message being handled
	stopCh  chan struct{} // closed when Stop begins: dispatch stops taking work
	done    chan struct{} // closed when every goroutine has ended after Stop
	flights flights       // messages held, for heartbeats and duplicate detection
	memo    memo          // what a delivery learnt for the next one
	jobs    jobQueues     // WithJobOrdering only

	mu             sync.Mutex
	state          int // stateNew, stateRunning, stateStopped
	handlerCtx     context.Context
	cancelHandlers context.CancelFunc
	cancelConsume  context.CancelFunc
	consumeDone    chan struct{}
	beatStop       chan struct{}
	beatDone       chan struct{}
	work           sync.WaitGroup // message goroutines
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

// New returns a processor reading from src. It does nothing until Start.
func New(src Source, opts ...Option) *Processor {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.deadLetter == nil {
		if s, ok := src.(DeadLetterSink); ok {
			cfg.deadLetter = s
		}
	}
	if cfg.heartbeat == 0 {
		cfg.heartbeat = DefaultInProgressInterval
		if aw, ok := src.(interface{ AckWait() time.Duration }); ok && aw.AckWait() > 0 {
			cfg.heartbeat = max(aw.AckWait()/3, time.Millisecond)
		}
	}
	p := &Processor{
		src:     src,
		cfg:     cfg,
		log:     cfg.logger.With("component", "processor"),
		sem:     make(chan struct{}, cfg.maxConcurrent),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		flights: newFlights(),
	}
	p.jobs.m = make(map[jobKey]*jobQueue)
	return p
}

// Source returns the Source p reads, so that callers can reach its own
// counters (jsconsume.Source's Restarts, Recreations, AckFloor).
func (p *Processor) Source() Source { return p.src }

// Handle registers h for events of type t and returns a func that removes
// it (calling it again does nothing). An unknown type or a nil handler is
// an error wrapping event.ErrInvalid.
func (p *Processor) Handle(t event.JobEventType, h Handler) (remove func(), err error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: handler event type %q is not one of the 24 known types", event.ErrInvalid, t)
	}
	return p.add(t, h)
}

// HandleAll registers h for events of every type and returns a func that
// removes it. A nil handler is an error wrapping event.ErrInvalid.
func (p *Processor) HandleAll(h Handler) (remove func(), err error) { return p.add("", h) }

func (p *Processor) add(t event.JobEventType, h Handler) (func(), error) {
	if h == nil {
		return nil, fmt.Errorf("%w: handler for %q is nil", event.ErrInvalid, t)
	}
	mws := make([]Middleware, 0, len(p.cfg.middlewares)+2)
	mws = append(mws, Recoverer, Timeout(p.cfg.handlerTimeout))
	mws = append(mws, p.cfg.middlewares...)
	return p.reg.add(t, chain(h, mws...)), nil
}

// Start starts consuming. ctx bounds only the start and lends its values
// to handlers' contexts; processing runs until Stop. A processor starts
// once: a second Start returns ErrStarted.
func (p *Processor) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("processor start: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != stateNew {
		return ErrStarted
	}
	p.state = stateRunning
	base := context.WithoutCancel(ctx)
	p.handlerCtx, p.cancelHandlers = context.WithCancel(base)
	consumeCtx, cancel := context.WithCancel(base)
	p.cancelConsume = cancel
	p.consumeDone = make(chan struct{})
	p.beatDone = make(chan struct{})
	p.beatStop = make(chan struct{})
	if pf, ok := p.src.(Prefetcher); ok {
		pf.SetPrefetch(2 * p.cfg.maxConcurrent)
	}
	go p.consume(consumeCtx)
	go p.heartbeats(p.beatStop)
	p.log.Info("processor started", "max_concurrent", p.cfg.maxConcurrent,
		"max_deliveries", p.cfg.maxDeliveries, "job_ordering", p.cfg.jobOrdering)
	return nil
}

// StopGrace is how long Stop, once its ctx has ended and handlers'
// contexts are cancelled, still waits for them and the source to return.
const StopGrace = 100 * time.Millisecond

// Stop stops fetching, lets the handlers in flight finish and settle their
// messages, and returns once every goroutine of the processor has ended.
// Messages delivered but not yet started are nak'd for immediate
// redelivery (to another instance). If ctx ends first, handlers' contexts
// are cancelled and Stop returns ctx's error at the latest StopGrace
// later: what has not ended by then — a handler ignoring its ctx, a source
// slow to return from Consume — goes on in the background (its messages
// still reported in progress, then settled) and Done is closed when it
// has ended. Stopping twice returns nil.
func (p *Processor) Stop(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case stateNew:
		p.mu.Unlock()
		return ErrNotStarted
	case stateStopped:
		p.mu.Unlock()
		return nil
	}
	p.state = stateStopped
	p.mu.Unlock()

	close(p.stopCh)
	p.cancelConsume()
	go p.finish()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.cancelHandlers()
	t := time.NewTimer(StopGrace)
	defer t.Stop()
	select {
	case <-p.done:
		return fmt.Errorf("processor stop: %w; handlers cancelled", ctx.Err())
	case <-t.C:
	}
	consuming := "returned"
	select {
	case <-p.consumeDone:
	default:
		consuming = "not returned yet"
	}
	p.log.Warn("processor stop deadline passed; the rest ends in the background",
		"held", p.flights.count(), "in_flight", p.c.inFlight.Load(), "source", consuming)
	return fmt.Errorf("processor stop: %w; handlers cancelled, %d messages still held and the source %s: they end in the background (see Done)",
		ctx.Err(), p.flights.count(), consuming)
}

// Done is closed once a stopped processor's goroutines have all ended:
// when Stop returned nil, or later if Stop's ctx ended first. It is never
// closed for a processor that was not stopped.
func (p *Processor) Done() <-chan struct{} { return p.done }

// finish waits for the source and the message goroutines, then stops the
// heartbeats and closes done.
func (p *Processor) finish() {
	<-p.consumeDone
	p.work.Wait()
	p.cancelHandlers()
	close(p.beatStop)
	<-p.beatDone
	st := p.Stats()
	p.log.Info("processor stopped", "handled", st.Handled, "failed", st.Failed,
		"dead_lettered", st.DeadLettered, "abandoned", st.Abandoned)
	close(p.done)
}

// consume runs the source until Stop, restarting it after errors with a
// backoff that starts over after a Consume call that delivered something.
func (p *Processor) consume(ctx context.Context) {
	defer close(p.consumeDone)
	var attempt uint64
	for {
		before := p.c.received.Load()
		err := p.src.Consume(ctx, p.dispatch)
		if ctx.Err() != nil {
			return
		}
		if p.c.received.Load() != before {
			attempt = 0 // it worked for a while: start the backoff over
		}
		attempt++
		p.c.sourceErrors.Add(1)
		d := p.cfg.restartBackoff(attempt)
		p.log.Error("source stopped; consuming again after backoff", "err", err, "backoff", d, "attempt", attempt)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// dispatch takes one delivery from the source and holds it (reported in
// progress) until it is settled. It blocks while every handler slot is
// busy, which is the backpressure on the source.
func (p *Processor) dispatch(m Message) {
	p.c.received.Add(1)
	d := m.Delivery()
	p.c.lag.Store(d.Pending)
	f, ok := p.flights.hold(m)
	if !ok {
		// A redelivery of a message still held here (its redelivery timer
		// ran out anyway): the held delivery settles the sequence, so this
		// one is neither handled nor settled.
		p.c.duplicates.Add(1)
		p.memo.drop(d.Seq)
		p.log.Debug("redelivery of a message still held dropped", "seq", d.Seq, "delivery", d.NumDelivered)
		return
	}
	if p.stopping() {
		p.abandon(f)
		return
	}
	rec, err := m.Decode()
	if err != nil {
		p.c.undecodable.Add(1)
		p.log.Warn("undecodable message terminated", "subject", m.Subject(), "seq", d.Seq, "err", err)
		p.giveUp(f, Letter{Subject: m.Subject(), Data: m.Data(), Delivery: d, Reason: ReasonUndecodable, Err: err})
		return
	}
	if p.cfg.jobOrdering {
		p.enqueueJob(f, rec)
		return
	}
	if !p.acquire() {
		p.abandon(f)
		return
	}
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		defer p.release()
		p.process(f, rec)
	}()
}

func (p *Processor) stopping() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

func (p *Processor) acquire() bool {
	select {
	case p.sem <- struct{}{}:
		return true
	case <-p.stopCh:
		return false
	}
}

func (p *Processor) release() { <-p.sem }

// process handles one delivery and settles it (not in ordered mode).
func (p *Processor) process(f *flight, rec event.Record) {
	d := f.msg.Delivery()
	n, owed := p.admit(f, rec, nil)
	if owed {
		return
	}
	err := p.run(f.msg, rec)
	switch {
	case err == nil:
		p.c.handled.Add(1)
		p.ack(f)
	case p.shutdownErr(err):
		p.abandon(f)
	default:
		p.c.failed.Add(1)
		p.memo.failed(d.Seq, err)
		if n >= p.cfg.maxDeliveries {
			p.giveUp(f, p.letter(f.msg, rec, ReasonFailed, err))
			return
		}
		p.c.retried.Add(1)
		delay := p.cfg.backoff(n)
		p.log.Warn("handler failed; event will be redelivered", "job_id", rec.Event.JobID,
			"type", rec.Event.Type, "seq", d.Seq, "delivery", n, "delay", delay, "err", err)
		p.nak(f, delay)
	}
}

// admit decides whether a delivery may run its handlers. It returns the
// number of the handler call about to be made — the delivery's count (less
// redeliveries dropped while held) or one more than the failed calls this
// processor already made for the sequence, whichever is more, so that
// in-place retries and redeliveries share the MaxDeliveries budget — and
// owed = true when it gave the message up instead (deadLetter with s): a
// dead letter an earlier delivery owed (its write or its Term failed), or
// a delivery beyond MaxDeliveries.
func (p *Processor) admit(f *flight, rec event.Record, s *slot) (n uint64, owed bool) {
	d := f.msg.Delivery()
	e := p.memo.get(d.Seq)
	n = max(p.memo.deliveries(d), e.calls+1)
	if e.owed != "" || n > p.cfg.maxDeliveries {
		p.deadLetter(f, p.overLimit(f, rec, n), s)
		return n, true
	}
	return n, false
}

// overLimit is the letter of a delivery that may not run its handlers:
// the dead letter an earlier delivery owed (its write or its Term failed),
// or a "redelivered too often" one carrying the last handler error if
// there was one.
func (p *Processor) overLimit(f *flight, rec event.Record, n uint64) Letter {
	d := f.msg.Delivery()
	e := p.memo.get(d.Seq)
	if e.owed != "" {
		return p.letter(f.msg, rec, e.owed, e.err)
	}
	err := errRedelivered(n, p.cfg.maxDeliveries)
	if e.err != nil {
		err = fmt.Errorf("%w; the last handler error: %w", err, e.err)
	}
	return p.letter(f.msg, rec, ReasonRedelivered, err)
}

func errRedelivered(n, limit uint64) error {
	return fmt.Errorf("delivered %d times, more than the %d allowed, without being settled (a crash or an exceeded ack wait)",
		n, limit)
}

// run calls every handler of the event's type, one after another, with the
// message reported in progress meanwhile. It returns the joined errors.
func (p *Processor) run(m Message, rec event.Record) error {
	p.c.inFlight.Add(1)
	defer p.c.inFlight.Add(-1)

	start := time.Now()
	if ts := rec.Event.Timestamp; !ts.IsZero() {
		p.c.delay.observe(start.Sub(ts))
	}
	var errs []error
	for _, h := range p.reg.handlers(rec.Event.Type) {
		if err := h(p.handlerCtx, rec.Event); err != nil {
			p.count(rec, err)
			errs = append(errs, err)
		}
	}
	p.c.handleTime.observe(time.Since(start))
	return errors.Join(errs...)
}

func (p *Processor) count(rec event.Record, err error) {
	var pe *PanicError
	switch {
	case errors.As(err, &pe):
		p.c.panics.Add(1)
		p.log.Error("handler panicked", "job_id", rec.Event.JobID, "type", rec.Event.Type,
			"panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	case errors.Is(err, ErrHandlerTimeout):
		p.c.timeouts.Add(1)
	}
}

// shutdownErr reports whether err is only the handlers' cancellation by
// Stop: such a delivery is not the event's fault and is not counted
// against its deliveries' limit by dead-lettering.
func (p *Processor) shutdownErr(err error) bool {
	return p.handlerCtx.Err() != nil && errors.Is(err, context.Canceled)
}

// deadLetterAttempts is how often giveUp tries to write a dead letter
// (with backoff, the message held) before it nak's the message instead.
const deadLetterAttempts = 3

// ack, nak and term settle a held message: it leaves the held set first,
// so that a redelivery following a Nak is not taken for a duplicate.
func (p *Processor) ack(f *flight) {
	p.flights.release(f)
	p.memo.forget(f.seq)
	p.settle(f.msg.Ack())
}

func (p *Processor) nak(f *flight, delay time.Duration) {
	p.flights.release(f)
	p.settle(f.msg.Nak(delay))
}

// term terminates a message given up on (l). The letter stays owed until
// the source accepts the Term, so that a redelivery — after a refused
// Term, or one racing it — is dead-lettered again (the sink
// de-duplicates) and terminated without calling the handlers.
func (p *Processor) term(f *flight, l Letter) {
	p.memo.owe(f.seq, l.Reason, l.Err)
	p.flights.release(f)
	if err := f.msg.Term(l.Reason); err != nil {
		p.settle(err)
		return
	}
	p.memo.forget(f.seq)
}

// abandon hands a message back for immediate redelivery.
func (p *Processor) abandon(f *flight) {
	p.c.abandoned.Add(1)
	p.nak(f, 0)
}

func (p *Processor) letter(m Message, rec event.Record, reason string, err error) Letter {
	return Letter{Subject: m.Subject(), Data: m.Data(), Delivery: m.Delivery(), Record: rec,
		Decoded: true, Reason: reason, Err: err}
}

// giveUp dead-letters a message and terminates it. A failed dead-letter
// write is retried in place (deadLetterAttempts in all, with backoff, the
// message held); then the message is nak'd so that nothing is lost, and
// the letter is remembered for its next delivery.
func (p *Processor) giveUp(f *flight, l Letter) { p.deadLetter(f, l, nil) }

// deadLetter writes l and terminates f's message. With s nil it is giveUp.
// With s, the handler slot of a job's goroutine (WithJobOrdering), the
// message is not nak'd after deadLetterAttempts failed writes — the job's
// later events must wait until it is settled — but stays held (reported in
// progress) while the write is retried with the processor's backoff until
// it succeeds; the job gives its slot back meanwhile, so that other jobs go
// on. If Stop begins first, the message is abandoned (Nak(0)) with the
// letter owed, so that a later delivery to this processor dead-letters it
// without calling the handlers again.
func (p *Processor) deadLetter(f *flight, l Letter, s *slot) {
	attrs := []any{"subject", l.Subject, "seq", l.Delivery.Seq, "deliveries", l.Delivery.NumDelivered,
		"reason", l.Reason, "err", l.Err}
	if p.cfg.deadLetter == nil {
		p.log.Error("message given up (no dead-letter sink)", append(attrs, "data", string(l.Data))...)
		p.c.deadLettered.Add(1)
		p.term(f, l)
		return
	}
	for attempt := uint64(1); ; attempt++ {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.handlerCtx), DefaultDeadLetterTimeout)
		err := p.cfg.deadLetter.DeadLetter(ctx, l)
		cancel()
		if err == nil {
			break
		}
		p.c.deadLetterErrors.Add(1)
		delay := p.cfg.backoff(attempt)
		if s != nil && attempt == deadLetterAttempts {
			p.log.Error("dead letter not written; the message stays held and the job's later events wait while it is retried",
				append(attrs, "dlq_err", err, "attempt", attempt, "job_id", l.Record.Event.JobID)...)
			p.releaseSlot(s)
		}
		if (s == nil && attempt >= deadLetterAttempts) || !p.pause(delay) {
			p.memo.owe(l.Delivery.Seq, l.Reason, l.Err)
			if s != nil {
				p.log.Warn("stopping with a dead letter not written; message handed back, the letter owed", append(attrs, "dlq_err", err)...)
				p.abandon(f)
				return
			}
			p.log.Error("dead letter not written; message nak'd to try again", append(attrs, "dlq_err", err)...)
			p.nak(f, p.cfg.backoff(l.Delivery.NumDelivered))
			return
		}
		level := slog.LevelWarn
		if attempt >= deadLetterAttempts {
			level = slog.LevelDebug // logged at Error once; counted in DeadLetterErrors
		}
		p.log.Log(context.Background(), level, "dead letter not written; retrying",
			append(attrs, "dlq_err", err, "attempt", attempt, "delay", delay)...)
	}
	p.log.Warn("message dead-lettered", attrs...)
	p.c.deadLettered.Add(1)
	p.term(f, l)
}

// pause waits d (the message stays held, so in progress); false if Stop
// began meanwhile.
func (p *Processor) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stopCh:
		return false
	}
}

func (p *Processor) settle(err error) {
	if err != nil {
		p.c.settleErrors.Add(1)
		p.log.Warn("settling a message failed; the source will redeliver it", "err", err)
	}
}

// heartbeats reports long-running messages in progress until stop closes.
func (p *Processor) heartbeats(stop <-chan struct{}) {
	defer close(p.beatDone)
	t := time.NewTicker(p.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, m := range p.flights.due(now, p.cfg.heartbeat/2) {
				if err := m.InProgress(); err != nil {
					p.log.Debug("in-progress report failed", "err", err)
				}
			}
		}
	}
}
