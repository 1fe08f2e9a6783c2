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
	flights flights       // messages in flight, for heartbeats
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
		src:    src,
		cfg:    cfg,
		log:    cfg.logger.With("component", "processor"),
		sem:    make(chan struct{}, cfg.maxConcurrent),
		stopCh: make(chan struct{}),
	}
	p.flights.m = make(map[*flight]struct{})
	p.jobs.m = make(map[jobKey]*jobQueue)
	return p
}

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
	go p.consume(consumeCtx)
	go p.heartbeats(p.beatStop)
	p.log.Info("processor started", "max_concurrent", p.cfg.maxConcurrent,
		"max_deliveries", p.cfg.maxDeliveries, "job_ordering", p.cfg.jobOrdering)
	return nil
}

// Stop stops fetching, lets the handlers in flight finish and settle their
// messages, and returns once every goroutine of the processor has ended.
// Messages delivered but not yet started are nak'd for immediate
// redelivery (to another instance). If ctx ends first, handlers' contexts
// are cancelled, Stop still waits for them to return (a handler must
// honour its ctx) and returns ctx's error. Stopping twice returns nil.
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
	var err error
	idle := make(chan struct{})
	go func() { <-p.consumeDone; p.work.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("processor stop: %w; handlers cancelled", ctx.Err())
		p.cancelHandlers()
		<-idle
	}
	p.cancelHandlers()
	close(p.beatStop)
	<-p.beatDone
	st := p.Stats()
	p.log.Info("processor stopped", "handled", st.Handled, "failed", st.Failed,
		"dead_lettered", st.DeadLettered, "abandoned", st.Abandoned)
	return err
}

// consume runs the source until Stop, restarting it after errors.
func (p *Processor) consume(ctx context.Context) {
	defer close(p.consumeDone)
	backoff := p.cfg.restartBackoff
	for attempt := uint64(1); ; attempt++ {
		err := p.src.Consume(ctx, p.dispatch)
		if ctx.Err() != nil {
			return
		}
		p.c.sourceErrors.Add(1)
		d := backoff(attempt)
		p.log.Error("source stopped; consuming again after backoff", "err", err, "backoff", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// dispatch takes one delivery from the source. It blocks while every
// handler slot is busy, which is the backpressure on the source.
func (p *Processor) dispatch(m Message) {
	p.c.received.Add(1)
	d := m.Delivery()
	p.c.lag.Store(d.Pending)
	if p.stopping() {
		p.abandon(m)
		return
	}
	rec, err := m.Decode()
	if err != nil {
		p.c.undecodable.Add(1)
		p.log.Warn("undecodable message terminated", "subject", m.Subject(), "seq", d.Seq, "err", err)
		p.giveUp(m, Letter{Subject: m.Subject(), Data: m.Data(), Delivery: d, Reason: ReasonUndecodable, Err: err})
		return
	}
	if p.cfg.jobOrdering {
		p.enqueueJob(m, rec)
		return
	}
	if !p.acquire() {
		p.abandon(m)
		return
	}
	p.work.Add(1)
	go func() {
		defer p.work.Done()
		defer p.release()
		p.process(m, rec)
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
func (p *Processor) process(m Message, rec event.Record) {
	d := m.Delivery()
	if d.NumDelivered > p.cfg.maxDeliveries {
		p.giveUp(m, p.letter(m, rec, ReasonRedelivered, errRedelivered(d, p.cfg.maxDeliveries)))
		return
	}
	err := p.run(m, rec)
	switch {
	case err == nil:
		p.c.handled.Add(1)
		p.settle(m.Ack())
	case p.shutdownErr(err):
		p.abandon(m)
	default:
		p.c.failed.Add(1)
		if d.NumDelivered >= p.cfg.maxDeliveries {
			p.giveUp(m, p.letter(m, rec, ReasonFailed, err))
			return
		}
		p.c.retried.Add(1)
		delay := p.cfg.backoff(d.NumDelivered)
		p.log.Warn("handler failed; event will be redelivered", "job_id", rec.Event.JobID,
			"type", rec.Event.Type, "seq", d.Seq, "delivery", d.NumDelivered, "delay", delay, "err", err)
		p.settle(m.Nak(delay))
	}
}

func errRedelivered(d Delivery, limit uint64) error {
	return fmt.Errorf("delivered %d times, more than the %d allowed, without being settled (a crash or an exceeded ack wait)",
		d.NumDelivered, limit)
}

// run calls every handler of the event's type, one after another, with the
// message reported in progress meanwhile. It returns the joined errors.
func (p *Processor) run(m Message, rec event.Record) error {
	f := p.flights.add(m)
	defer p.flights.remove(f)
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

// abandon hands a message back for immediate redelivery.
func (p *Processor) abandon(m Message) {
	p.c.abandoned.Add(1)
	p.settle(m.Nak(0))
}

func (p *Processor) letter(m Message, rec event.Record, reason string, err error) Letter {
	return Letter{Subject: m.Subject(), Data: m.Data(), Delivery: m.Delivery(), Record: rec,
		Decoded: true, Reason: reason, Err: err}
}

// giveUp dead-letters a message and terminates it; if the dead letter
// cannot be written, the message is nak'd so that nothing is lost.
func (p *Processor) giveUp(m Message, l Letter) {
	attrs := []any{"subject", l.Subject, "seq", l.Delivery.Seq, "deliveries", l.Delivery.NumDelivered,
		"reason", l.Reason, "err", l.Err}
	if p.cfg.deadLetter == nil {
		p.log.Error("message given up (no dead-letter sink)", append(attrs, "data", string(l.Data))...)
	} else {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(p.handlerCtx), DefaultDeadLetterTimeout)
		err := p.cfg.deadLetter.DeadLetter(ctx, l)
		cancel()
		if err != nil {
			p.c.deadLetterErrors.Add(1)
			p.log.Error("dead letter not written; message nak'd to try again", append(attrs, "dlq_err", err)...)
			p.settle(m.Nak(p.cfg.backoff(l.Delivery.NumDelivered)))
			return
		}
		p.log.Warn("message dead-lettered", attrs...)
	}
	p.c.deadLettered.Add(1)
	p.settle(m.Term(l.Reason))
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
