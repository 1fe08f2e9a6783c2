package jsconsume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// Source is a durable JetStream pull consumer delivering events to a
// processor. Create it with New; it is safe for concurrent use, but
// Consume is meant to run once at a time per Source.
type Source struct {
	js  jetstream.JetStream
	cfg config
	ccf jetstream.ConsumerConfig
	log *slog.Logger

	restarts atomic.Uint64
	prefetch atomic.Int64 // processor.Prefetcher hint; 0: none
	late     atomic.Uint64
}

var (
	_ ports.Transport          = (*Source)(nil)
	_ processor.Source         = (*Source)(nil)
	_ processor.DeadLetterSink = (*Source)(nil)
	_ processor.Prefetcher     = (*Source)(nil)
)

// New creates (or updates) the durable consumer and the dead-letter stream,
// so configuration errors show here rather than in Consume. A missing event
// stream is an error wrapping ports.ErrNotFound; a bad option one wrapping
// event.ErrInvalid; an unreachable server one wrapping ports.ErrUnavailable.
func New(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Source, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	ccf, err := consumerConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("jsconsume: %w", err)
	}
	s := &Source{js: js, cfg: cfg, ccf: ccf,
		log: cfg.logger.With("component", "jsconsume", "stream", cfg.stream, "durable", cfg.durable)}
	if _, err := s.consumer(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureDeadLetterStream(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func consumerConfig(cfg config) (jetstream.ConsumerConfig, error) {
	if err := event.CheckToken("durable name", cfg.durable); err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	if err := event.CheckToken("stream name", cfg.stream); err != nil {
		return jetstream.ConsumerConfig{}, err
	}
	f := cfg.filter
	for field, set := range map[string]bool{"Queue": f.Queue != "", "Worker": f.Worker != "", "Until": !f.Until.IsZero()} {
		if set {
			return jetstream.ConsumerConfig{}, fmt.Errorf("%w: filter field %s cannot be served by a JetStream subject filter; filter in the handler instead", event.ErrInvalid, field)
		}
	}
	subjects, err := subject.FromFilterAll(f)
	if err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("filter: %w", err)
	}
	if cfg.maxDeliver > 0 && len(cfg.backoff) >= cfg.maxDeliver {
		return jetstream.ConsumerConfig{}, fmt.Errorf("%w: %d backoff delays need a max deliver above %d, got %d",
			event.ErrInvalid, len(cfg.backoff), len(cfg.backoff), cfg.maxDeliver)
	}
	c := jetstream.ConsumerConfig{
		Durable:       cfg.durable,
		Description:   "naq-events processor",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.ackWait,
		MaxDeliver:    cfg.maxDeliver,
		BackOff:       cfg.backoff,
		MaxAckPending: cfg.maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if len(subjects) == 1 {
		c.FilterSubject = subjects[0]
	} else {
		c.FilterSubjects = subjects
	}
	if !f.Since.IsZero() {
		since := f.Since
		c.DeliverPolicy, c.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	return c, nil
}

// AckWait is the consumer's redelivery timeout; the processor derives its
// in-progress interval from it.
func (s *Source) AckWait() time.Duration { return s.cfg.ackWait }

// SetPrefetch sizes the pull batch to n messages (the processor passes
// twice its MaxConcurrent) unless WithPullBatch set it. It applies from
// the next (re)start of consumption; n < 1 is ignored.
func (s *Source) SetPrefetch(n int) {
	if n >= 1 {
		s.prefetch.Store(int64(n))
	}
}

// PullBatch is how many messages a pull asks for, i.e. how many this
// Source reads ahead of the processor: WithPullBatch if set, else the
// processor's SetPrefetch hint, else DefaultPullBatch.
func (s *Source) PullBatch() int {
	if s.cfg.pullBatch > 0 {
		return s.cfg.pullBatch
	}
	if n := s.prefetch.Load(); n > 0 {
		return int(n)
	}
	return DefaultPullBatch
}

// Late counts messages that reached the subscription after Consume had
// returned (read ahead, delivered by the draining subscription): they are
// nak'd for immediate redelivery without reaching the processor.
func (s *Source) Late() uint64 { return s.late.Load() }

// Restarts counts how often Consume re-established consumption after the
// consumer was lost or consumption ended unexpectedly.
func (s *Source) Restarts() uint64 { return s.restarts.Load() }

// consumer creates the durable consumer or updates it to this Source's
// configuration.
func (s *Source) consumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := s.js.CreateOrUpdateConsumer(ctx, s.cfg.stream, s.ccf)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("jsconsume: consumer %q on stream %q: %w: %w", s.cfg.durable, s.cfg.stream, ports.ErrNotFound, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return nil, fmt.Errorf("jsconsume: consumer %q on stream %q: %w: %w", s.cfg.durable, s.cfg.stream, ports.ErrUnavailable, err)
	default:
		return nil, fmt.Errorf("jsconsume: consumer %q on stream %q: %w", s.cfg.durable, s.cfg.stream, err)
	}
}

// Consume delivers messages until ctx ends; then it drains the
// subscription and returns at once, without waiting on the network:
// messages already read ahead are nak'd for immediate redelivery as the
// draining subscription hands them over (counted in Late), and no deliver
// call starts after Consume returned. When the consumer is lost (deleted,
// or gone with a server's state) or consumption ends unexpectedly, it is
// re-established after a backoff (100 ms doubling to 10 s, starting over
// after a consumption that delivered something) and resumes from the
// durable position; only a closed connection ends Consume with an error.
func (s *Source) Consume(ctx context.Context, deliver func(processor.Message)) error {
	var b restartBackoff
	for {
		delivered, err := s.consumeOnce(ctx, deliver)
		select {
		case <-ctx.Done():
			return nil // the end asked for, whatever consumeOnce saw meanwhile
		default:
		}
		if s.js.Conn().IsClosed() {
			return fmt.Errorf("jsconsume: consume %q: %w: %w", s.cfg.durable, ports.ErrClosed, nats.ErrConnectionClosed)
		}
		s.restarts.Add(1)
		d := b.next(delivered > 0)
		s.log.Warn("consumption interrupted; re-establishing the consumer", "err", err, "backoff", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// restartBackoff is Consume's delay before re-establishing consumption:
// 100 ms doubling up to 10 s, starting over after a consumption that
// delivered messages.
type restartBackoff struct{ attempt int }

func (b *restartBackoff) next(progressed bool) time.Duration {
	if progressed {
		b.attempt = 0
	}
	d := min(100*time.Millisecond<<min(b.attempt, 7), 10*time.Second)
	b.attempt++
	return d
}

// gate passes the subscription's messages to deliver until closed; close
// waits for a deliver call in progress, and messages arriving later are
// nak'd (a stopping processor would do the same) without reaching deliver.
type gate struct {
	mu        sync.RWMutex
	closed    bool
	delivered atomic.Uint64
}

func (s *Source) pass(g *gate, deliver func(processor.Message), m jetstream.Msg) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		s.late.Add(1)
		if err := m.Nak(); err != nil {
			s.log.Debug("nak of a late message failed; redelivered after AckWait", "err", err)
		}
		return
	}
	g.delivered.Add(1)
	deliver(s.wrap(m))
}

func (g *gate) close() uint64 {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return g.delivered.Load()
}

// consumeOnce runs one Consume subscription until ctx ends (nil), or the
// consumer is lost or the subscription ends (an error). It returns how
// many messages it delivered.
func (s *Source) consumeOnce(ctx context.Context, deliver func(processor.Message)) (uint64, error) {
	cons, err := s.consumer(ctx)
	if err != nil {
		return 0, err
	}
	errs := make(chan error, 16)
	g := &gate{}
	cc, err := cons.Consume(func(m jetstream.Msg) { s.pass(g, deliver, m) },
		jetstream.PullMaxMessages(s.PullBatch()),
		jetstream.PullExpiry(s.cfg.pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case errs <- err:
			default: // the check below catches up
			}
		}))
	if err != nil {
		return 0, fmt.Errorf("jsconsume: consume %q: %w", s.cfg.durable, err)
	}
	s.log.Debug("consuming", "filter", s.ccf.FilterSubject, "filters", s.ccf.FilterSubjects, "pull_batch", s.PullBatch())
	// stop ends the subscription: drained (read-ahead messages are nak'd
	// by the closed gate) or stopped at once (they come back after
	// AckWait). Neither is waited for: the subscription's own goroutines
	// belong to the connection and end with the drain (≤ a flush, 10 s
	// while disconnected) or with the connection.
	stop := func(drain bool) uint64 {
		if drain {
			cc.Drain()
		} else {
			cc.Stop()
		}
		return g.close()
	}

	check := time.NewTicker(s.cfg.checkInterval)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return stop(true), nil
		case <-cc.Closed():
			return stop(false), errors.New("jsconsume: consume subscription ended")
		case err := <-errs:
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
				errors.Is(err, jetstream.ErrBadRequest), errors.Is(err, jetstream.ErrConnectionClosed):
				return stop(false), err
			case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, nats.ErrNoResponders):
				if lost := s.lost(ctx, cons); lost != nil {
					return stop(false), lost
				}
			}
			s.log.Debug("consume notice", "err", err)
		case <-check.C:
			if lost := s.lost(ctx, cons); lost != nil {
				return stop(false), lost
			}
		}
	}
}

// lost returns an error if the server says the consumer does not exist;
// any other answer (including none, while disconnected) is not a loss.
func (s *Source) lost(ctx context.Context, cons jetstream.Consumer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cons.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	return nil
}

// dlqSubject maps an event subject to its dead-letter subject.
func (s *Source) dlqSubject(subj string) string {
	if rest, ok := strings.CutPrefix(subj, subject.DefaultPrefix+"."); ok {
		return s.cfg.dlqPrefix + "." + rest
	}
	return s.cfg.dlqPrefix + ".unknown"
}
