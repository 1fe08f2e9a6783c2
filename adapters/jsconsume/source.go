package jsconsume

import (
	"cmp"
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
//
// Resume position. The Source remembers the consumer's ack floor (the
// stream sequence below which every message it delivered is acknowledged
// or terminated) from the consumer info it reads: when it creates or
// adopts the consumer, every WithCheckInterval, and after acknowledgements
// (at most once a second). If the consumer is lost — deleted by an
// operator, gone with a server's state — Consume re-creates it from that
// floor (DeliverByStartSequencePolicy at floor + 1), logs it at Warn and
// counts it (Recreations). So an event acknowledged at or below the last
// floor read is not delivered again; what is delivered again is every
// unacknowledged event, and those acknowledged above the floor (behind an
// unacknowledged one, or since the last reading). The floor is not used,
// and the consumer starts by its configured policy (WithFilter's Since,
// else the whole stream), when it is 0 (nothing acknowledged yet), when
// the stream was re-created meanwhile (another creation time) or when it
// is beyond the stream's last sequence. Messages purged from the stream
// meanwhile are skipped by the server (the consumer starts at the first
// stored one). The floor lives in this Source's memory: a consumer lost
// while no instance runs is created by the configured policy by the next
// New. Several instances re-creating at once converge on one consumer:
// the first create wins, the others adopt it as it is.
type Source struct {
	js  jetstream.JetStream
	cfg config
	ccf jetstream.ConsumerConfig
	log *slog.Logger
	// respSub is the subject of the connection's response subscription,
	// "<inbox prefix>.<nuid>.*", on which the server answers every
	// JetStream API request of this Source (see call).
	respSub string

	restarts    atomic.Uint64
	recreations atomic.Uint64
	prefetch    atomic.Int64 // processor.Prefetcher hint; 0: none
	late        atomic.Uint64
	settled     atomic.Uint64 // successful Ack and Term calls, to refresh the floor after them

	mu  sync.Mutex
	pos position // guarded by mu
}

// position is the resume point the Source last read from its consumer.
type position struct {
	known   bool      // a consumer info was read
	floor   uint64    // its ack floor's stream sequence
	created time.Time // the event stream's creation time when it was read
}

var (
	_ ports.Transport          = (*Source)(nil)
	_ processor.Source         = (*Source)(nil)
	_ processor.DeadLetterSink = (*Source)(nil)
	_ processor.Prefetcher     = (*Source)(nil)
)

// New creates the durable consumer, or updates an existing one to this
// configuration (keeping where it starts: its deliver policy and start
// sequence or time), and creates the dead-letter stream if missing, so
// configuration errors show here rather than in Consume. A missing event
// stream is an error wrapping ports.ErrNotFound; a bad option value one
// wrapping event.ErrInvalid, naming the option.
//
// A transient answer (no responders, a request not answered within
// WithRequestTimeout, a disconnected connection, a cluster or stream
// without a leader yet: the codes of docs/operations.md) is tried again,
// 100 ms apart doubling to 2 s, until ctx ends; New then returns an error
// that names ctx's end and wraps ctx's error, the last such answer (not
// the request that ctx's end cut short) and ports.ErrUnavailable. So a
// processor started while its cluster forms or a server restarts waits
// for it, for as long as ctx allows. Other answers (a missing stream, a refused configuration, a
// request refused for lack of permission: ErrPermission) end New at once.
func New(ctx context.Context, js jetstream.JetStream, opts ...Option) (*Source, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, fmt.Errorf("jsconsume: %w", err)
	}
	ccf, err := consumerConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("jsconsume: %w", err)
	}
	s := &Source{js: js, cfg: cfg, ccf: ccf, respSub: respSubject(js.Conn()),
		log: cfg.logger.With("component", "jsconsume", "stream", cfg.stream, "durable", cfg.durable)}
	if err := s.setUp(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Delays between New's tries after a transient answer.
const (
	setUpFirstWait = 100 * time.Millisecond
	setUpMaxWait   = 2 * time.Second
)

// setUp makes (or adopts) the consumer and the dead-letter stream, trying
// again after a transient answer until ctx ends (see New).
func (s *Source) setUp(ctx context.Context) error {
	wait := setUpFirstWait
	var last error // the latest transient answer of a try that ctx did not end
	for tries := 1; ; tries++ {
		_, err := s.consumer(ctx)
		if err == nil {
			err = s.ensureDeadLetterStream(ctx)
		}
		switch {
		case err == nil:
			if tries > 1 {
				s.log.Info("consumer and dead-letter stream ready", "tries", tries)
			}
			return nil
		case ctx.Err() != nil && (errors.Is(err, ports.ErrUnavailable) || errors.Is(err, context.Canceled)):
			// ctx ended this try: its error says only that.
			return s.gaveUp(ctx, tries, cmp.Or(last, err))
		case !errors.Is(err, ports.ErrUnavailable) || s.js.Conn().IsClosed():
			return err
		}
		last = err
		s.log.Warn("JetStream not ready for the consumer; trying again", "err", err, "try", tries, "backoff", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return s.gaveUp(ctx, tries, last)
		case <-t.C:
		}
		wait = min(2*wait, setUpMaxWait)
	}
}

// gaveUp is New's error when ctx ended before JetStream answered: it
// names ctx's end and the number of tries, and wraps the latest answer
// of a try that ctx did not end (no responders, a cluster without a
// leader, a request not answered within WithRequestTimeout) and
// ports.ErrUnavailable.
func (s *Source) gaveUp(ctx context.Context, tries int, last error) error {
	err := fmt.Errorf("jsconsume: consumer %q on stream %q: JetStream not ready when the context ended (%w) after %d tries; the last answer: %w",
		s.cfg.durable, s.cfg.stream, ctx.Err(), tries, last)
	if !errors.Is(err, ports.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
	}
	return err
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

// Recreations counts how often this Source created its durable consumer
// again after it had been lost (see Source: Resume position).
func (s *Source) Recreations() uint64 { return s.recreations.Load() }

// AckFloor is the stream sequence of the consumer's ack floor as last
// read: every message at or below it was acknowledged or terminated. A
// re-created consumer resumes after it. 0 until one was read, or while
// nothing is acknowledged.
func (s *Source) AckFloor() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos.floor
}

// observe remembers the ack floor of info; created is the event stream's
// creation time, or zero to keep the one known.
func (s *Source) observe(info *jetstream.ConsumerInfo, created time.Time) {
	if info == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos.known = true
	s.pos.floor = info.AckFloor.Stream
	if !created.IsZero() {
		s.pos.created = created
	}
}

func (s *Source) position() position {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pos
}

// consumer adopts the durable consumer, updating it to this Source's
// configuration except where it starts, or creates it if it is missing:
// from the remembered ack floor if the Source had seen it before (see
// Source). A create that loses the race to another instance adopts that
// instance's consumer, so that instances re-creating at once converge on
// one consumer instead of overwriting each other.
func (s *Source) consumer(ctx context.Context) (jetstream.Consumer, error) {
	st, err := call(ctx, s, func(ctx context.Context) (jetstream.Stream, error) { return s.js.Stream(ctx, s.cfg.stream) })
	if err != nil {
		return nil, s.consumerErr(err)
	}
	si := st.CachedInfo()
	for range 3 {
		c, err := call(ctx, s, func(ctx context.Context) (jetstream.Consumer, error) {
			return s.js.Consumer(ctx, s.cfg.stream, s.cfg.durable)
		})
		switch {
		case err == nil:
			c, err = s.update(ctx, c.CachedInfo())
			if errors.Is(err, jetstream.ErrConsumerDoesNotExist) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				continue // deleted meanwhile: create it
			}
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			c, err = s.create(ctx, si)
			if errors.Is(err, jetstream.ErrConsumerExists) {
				s.log.Debug("another instance created the consumer first; adopting it")
				continue
			}
		}
		if err != nil {
			return nil, s.consumerErr(err)
		}
		s.observe(c.CachedInfo(), si.Created)
		return c, nil
	}
	return nil, fmt.Errorf("jsconsume: consumer %q on stream %q: created or deleted by others at each of 3 attempts; Consume tries again", s.cfg.durable, s.cfg.stream)
}

// update applies this Source's configuration to the existing consumer,
// keeping its deliver policy and start position (the server refuses to
// change them, and an existing consumer is not moved).
func (s *Source) update(ctx context.Context, cur *jetstream.ConsumerInfo) (jetstream.Consumer, error) {
	cfg := s.ccf
	if cur != nil {
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = cur.Config.DeliverPolicy, cur.Config.OptStartSeq, cur.Config.OptStartTime
	}
	return call(ctx, s, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.js.UpdateConsumer(ctx, s.cfg.stream, cfg)
	})
}

// create creates the missing consumer: after the remembered ack floor when
// this Source read one from the same stream, else by the configured policy.
func (s *Source) create(ctx context.Context, si *jetstream.StreamInfo) (jetstream.Consumer, error) {
	cfg := s.ccf
	pos := s.position()
	why := "first creation"
	if pos.known {
		switch {
		case pos.floor == 0:
			why = "no ack floor yet: nothing was acknowledged"
		case !pos.created.Equal(si.Created):
			why = fmt.Sprintf("the stream was re-created (created %s, the floor was read on one created %s)",
				si.Created.Format(time.RFC3339Nano), pos.created.Format(time.RFC3339Nano))
		case pos.floor > si.State.LastSeq:
			why = fmt.Sprintf("the ack floor %d is beyond the stream's last sequence %d", pos.floor, si.State.LastSeq)
		default:
			why = "resuming after the last ack floor seen"
			cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, pos.floor+1, nil
		}
	}
	c, err := call(ctx, s, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.js.CreateConsumer(ctx, s.cfg.stream, cfg)
	})
	if err != nil || !pos.known {
		return c, err
	}
	s.recreations.Add(1)
	attrs := []any{"why", why, "ack_floor", pos.floor, "deliver_policy", cfg.DeliverPolicy.String(),
		"stream_first_seq", si.State.FirstSeq, "stream_last_seq", si.State.LastSeq}
	if cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
		attrs = append(attrs, "start_seq", cfg.OptStartSeq)
		if cfg.OptStartSeq < si.State.FirstSeq {
			attrs = append(attrs, "skipped_purged", si.State.FirstSeq-cfg.OptStartSeq)
		}
	}
	s.log.Warn("durable consumer was lost; created it again", attrs...)
	return c, nil
}

func (s *Source) consumerErr(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("jsconsume: consumer %q on stream %q: %w: %w", s.cfg.durable, s.cfg.stream, ports.ErrNotFound, err)
	case transient(err):
		return fmt.Errorf("jsconsume: consumer %q on stream %q: %w: %w", s.cfg.durable, s.cfg.stream, ports.ErrUnavailable, err)
	default:
		return fmt.Errorf("jsconsume: consumer %q on stream %q: %w", s.cfg.durable, s.cfg.stream, err)
	}
}

// classify wraps err in ports.ErrUnavailable when it is transient.
func classify(err error) error {
	if transient(err) {
		return fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
	}
	return err
}

// transient: err may pass if tried again (see New); a closed connection
// counts too, though nothing tries again over it. The API codes are those
// of jsstore's transientCodes (adapters/jsstore/cluster.go) that an API
// request (not a publish) can get; keep the two in step
// (TestTransient checks each against nats-server's own constructors).
func transient(err error) bool {
	if apiErr, ok := errors.AsType[*jetstream.APIError](err); ok {
		switch apiErr.ErrorCode {
		case 10004, // JSClusterIncompleteErr
			10007, // JSClusterNotAssignedErr
			10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
			10009, // JSClusterNotLeaderErr
			10076, // JSNotEnabledErr: the server's JetStream is starting
			10118, // JSStreamOfflineErr
			10202: // JSClusterServerMemberChangeInflightErr: a peer is being added or removed
			return true
		}
		return apiErr.ErrorCode == 0 && apiErr.Code == 503
	}
	for _, target := range []error{
		context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrNoStreamResponse,
		nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrConnectionClosed,
		nats.ErrConnectionDraining, nats.ErrReconnectBufExceeded, // a request while reconnecting, without a buffer
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// Consume delivers messages until ctx ends; then it drains the
// subscription and returns at once, without waiting on the network:
// messages already read ahead are nak'd for immediate redelivery as the
// draining subscription hands them over (counted in Late), and no deliver
// call starts after Consume returned. When the consumer is lost (deleted,
// or gone with a server's state) or consumption ends unexpectedly, it is
// re-established after a backoff (100 ms doubling to 10 s, starting over
// after a consumption that delivered something): an existing consumer
// goes on from its own position, a lost one is created again after the
// last ack floor read (see Source). Only a closed connection ends Consume
// with an error.
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

	// The consumer info is read every checkInterval, and sooner (every
	// floorEvery) while messages are being settled, to keep the ack floor
	// that a re-created consumer resumes from recent.
	floorEvery := min(s.cfg.checkInterval, time.Second)
	check := time.NewTicker(floorEvery)
	defer check.Stop()
	lastCheck, lastSettled := time.Now(), s.settled.Load()
	again := false // read once more after settlements stop: the server may not have applied the last acks yet
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
		case now := <-check.C:
			if n := s.settled.Load(); n != lastSettled || again || now.Sub(lastCheck) >= s.cfg.checkInterval {
				again = n != lastSettled
				lastCheck, lastSettled = now, n
				if lost := s.lost(ctx, cons); lost != nil {
					return stop(false), lost
				}
			}
		}
	}
}

// lost reads the consumer's info, remembering its ack floor, and returns
// an error if the server says the consumer does not exist; any other
// answer (including none, while disconnected) is not a loss.
func (s *Source) lost(ctx context.Context, cons jetstream.Consumer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err == nil {
		s.observe(info, time.Time{})
		return nil
	}
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
