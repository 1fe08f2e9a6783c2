package jsconsume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
}

var (
	_ ports.Transport          = (*Source)(nil)
	_ processor.Source         = (*Source)(nil)
	_ processor.DeadLetterSink = (*Source)(nil)
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

// Consume delivers messages until ctx ends, then drains: messages already
// received are still delivered (a stopping processor nak's them for
// another instance) and Consume returns nil once no deliver call runs.
// When the consumer is lost (deleted, or gone with a server's state) or
// consumption ends unexpectedly, it is re-established after a backoff and
// resumes from the durable position; only a closed connection ends Consume
// with an error.
func (s *Source) Consume(ctx context.Context, deliver func(processor.Message)) error {
	for attempt := 0; ; attempt++ {
		err := s.consumeOnce(ctx, deliver)
		select {
		case <-ctx.Done():
			return nil // the end asked for, whatever consumeOnce saw meanwhile
		default:
		}
		if s.js.Conn().IsClosed() {
			return fmt.Errorf("jsconsume: consume %q: %w: %w", s.cfg.durable, ports.ErrClosed, nats.ErrConnectionClosed)
		}
		s.restarts.Add(1)
		d := min(100*time.Millisecond<<min(attempt, 7), 10*time.Second)
		s.log.Warn("consumption interrupted; re-establishing the consumer", "err", err, "backoff", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		if err == nil {
			attempt = -1 // it ran fine for a while: start the backoff over
		}
	}
}

// consumeOnce runs one Consume subscription until ctx ends (nil), or the
// consumer is lost or the subscription ends (an error).
func (s *Source) consumeOnce(ctx context.Context, deliver func(processor.Message)) error {
	cons, err := s.consumer(ctx)
	if err != nil {
		return err
	}
	errs := make(chan error, 16)
	cc, err := cons.Consume(func(m jetstream.Msg) { deliver(s.wrap(m)) },
		jetstream.PullMaxMessages(s.cfg.pullBatch),
		jetstream.PullExpiry(s.cfg.pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case errs <- err:
			default: // the check below catches up
			}
		}))
	if err != nil {
		return fmt.Errorf("jsconsume: consume %q: %w", s.cfg.durable, err)
	}
	s.log.Debug("consuming", "filter", s.ccf.FilterSubject, "filters", s.ccf.FilterSubjects)

	check := time.NewTicker(s.cfg.checkInterval)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			cc.Drain()
			s.waitClosed(cc)
			return nil
		case <-cc.Closed():
			return errors.New("jsconsume: consume subscription ended")
		case err := <-errs:
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
				errors.Is(err, jetstream.ErrBadRequest), errors.Is(err, jetstream.ErrConnectionClosed):
				cc.Stop()
				s.waitClosed(cc)
				return err
			case errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, nats.ErrNoResponders):
				if lost := s.lost(ctx, cons); lost != nil {
					cc.Stop()
					s.waitClosed(cc)
					return lost
				}
			}
			s.log.Debug("consume notice", "err", err)
		case <-check.C:
			if lost := s.lost(ctx, cons); lost != nil {
				cc.Stop()
				s.waitClosed(cc)
				return lost
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

// waitClosed waits until the subscription's callback has returned for the
// last time, so no deliver call outlives Consume. The bound only guards
// against a connection that never reports the subscription closed.
func (s *Source) waitClosed(cc jetstream.ConsumeContext) {
	t := time.NewTimer(max(2*s.cfg.pullExpiry, 10*time.Second))
	defer t.Stop()
	select {
	case <-cc.Closed():
	case <-t.C:
		s.log.Warn("consume subscription did not close in time")
	}
}

// dlqSubject maps an event subject to its dead-letter subject.
func (s *Source) dlqSubject(subj string) string {
	if rest, ok := strings.CutPrefix(subj, subject.DefaultPrefix+"."); ok {
		return s.cfg.dlqPrefix + "." + rest
	}
	return s.cfg.dlqPrefix + ".unknown"
}
