package jsstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// streamInactiveThreshold is how long the server keeps the consumer of a
// Stream whose process went away without deleting it.
const streamInactiveThreshold = 30 * time.Second

// streamRetryMax is the longest pause between tries of a Stream's start.
const streamRetryMax = 2 * time.Second

// Stream yields the records matching f in store order, from an ordered
// JetStream consumer on f's filter subjects (never a core subscription, so
// nothing stored while the stream runs is missed, and a disconnect is
// recovered by the consumer without gap or duplicate). The consumer is
// created when the range loop starts and removed when it ends.
//
// Where it starts: opts.FromSeq (inclusive), else opts.FromTime (store
// time), else every stored event when opts.History, else events stored after
// the loop started: after the stream's last sequence read then (one stream
// info request), so that a consumer nats.go recreates before its first
// message starts from the same place. Resume after a record with FromSeq =
// Seq+1.
//
// It ends when the loop breaks, when ctx ends (last yield: an error
// wrapping ctx.Err()), when the Store closes (an error wrapping
// ports.ErrClosed) or on an error the consumer cannot recover from. A
// Stream that starts while the server is unreachable or restarting waits
// for it (its start is retried) rather than ending. It ends, too, with an
// error wrapping ErrStreamReplaced that names the stream, when the stream
// is deleted under it (rather than waiting for ever), or deleted and
// created again (rather than resuming at its old sequence in the new
// stream, which would skip events and deliver others as if they followed);
// it yields nothing of the new stream. When the stream's info cannot be
// read after a re-create of its consumer, it ends too (an error wrapping
// ports.ErrUnavailable): resume after the last sequence delivered. Not
// seen: a stream deleted and re-created between the start's stream info
// and the consumer's first create. A cancelled ctx ends it even while
// nats.go re-creates its consumer, at that re-create's next try (within
// about 20 s: a create in flight, then a back-off).
// Messages that do not decode, or whose subject disagrees with their
// document on job or type, are counted in Stats.DecodeErrors, logged and
// skipped.
func (s *Store) Stream(ctx context.Context, f event.Filter, opts event.StreamOptions) iter.Seq2[event.Record, error] {
	return func(yield func(event.Record, error) bool) {
		if err := s.stream1(ctx, f, opts, yield); err != nil {
			yield(event.Record{}, err)
		}
	}
}

// stream1 runs one Stream; a returned error is yielded last.
func (s *Store) stream1(parent context.Context, f event.Filter, opts event.StreamOptions, yield func(event.Record, error) bool) error {
	filters, err := s.filterSubjects(f)
	if err != nil {
		return fmt.Errorf("jsstore: stream: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		// Released at once when the stream ends; this bounds what a
		// crashed process leaves on the server.
		InactiveThreshold: streamInactiveThreshold,
	}

	// The consumer's names are the prefix and a serial: its create
	// requests, their answers and a refusal of them are this Stream's own.
	inbox := s.nc.NewInbox()
	cfg.NamePrefix = inbox[strings.LastIndexByte(inbox, '.')+1:]

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	nextCtx, wake := context.WithCancel(ctx)
	defer wake()
	w := &streamWatch{s: s, end: cancel, wake: wake}
	if !s.register(cfg.NamePrefix, w) {
		return fmt.Errorf("jsstore: stream: %w", ports.ErrClosed)
	}
	defer s.unregister(cfg.NamePrefix)
	s.streams.Add(1)
	defer s.streams.Add(-1)

	fail := func(what string, err error) error {
		switch {
		case w.err() != nil:
			return fmt.Errorf("jsstore: stream: %w", w.err())
		case s.checkOpen() != nil:
			return fmt.Errorf("jsstore: stream: %w", ports.ErrClosed)
		case parent.Err() != nil:
			return fmt.Errorf("jsstore: stream: %w", parent.Err())
		}
		return fmt.Errorf("jsstore: stream: %s: %w", what, classify(err))
	}
	// A start while the server restarts or the connection is being
	// re-established (a request left unanswered) is retried until ctx
	// ends, rather than ending the Stream: once a consumer exists, nats.go
	// recovers it. A request refused for lack of permission is answered
	// only by a timeout; the refusal on the connection stops the retries.
	refused := s.startRefused(cfg.NamePrefix)
	if err := s.retryRefusable(ctx, streamRetryMax, "the stream info", refused, func(ctx context.Context) (err error) {
		w.created, err = s.startAt(ctx, &cfg, opts)
		return err
	}); err != nil {
		return fail("stream info", err)
	}
	var cons jetstream.Consumer
	err = s.retryRefusable(ctx, streamRetryMax, "the consumer create", refused, func(ctx context.Context) (err error) {
		cons, err = s.stream.OrderedConsumer(ctx, cfg)
		return err
	})
	if err != nil {
		return fail("ordered consumer", err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fail("consume", err)
	}
	defer s.release(cons, msgs)
	// Next does not see ctx while nats.go re-creates the consumer (it
	// retries for ever while the server is away or the stream is gone);
	// stopping the iterator ends that, at the reset's next try (≤ 20 s).
	defer context.AfterFunc(ctx, msgs.Stop)()
	for {
		msg, err := msgs.Next(jetstream.NextContext(nextCtx))
		if err != nil {
			return fail("next", err)
		}
		if w.err() != nil {
			return fail("next", w.err())
		}
		meta, err := msg.Metadata()
		if err != nil {
			s.decodeErrors.Add(1)
			s.log.Warn("skipping message without JetStream metadata", "subject", msg.Subject(), "error", err)
			continue
		}
		rec, ok := s.record(meta.Sequence.Stream, msg.Subject(), msg.Data())
		if !ok || !f.Match(rec.Environment, rec.Service, &rec.Event) {
			continue
		}
		if !yield(rec, nil) {
			return nil
		}
	}
}

// startRefused returns a refused func for the requests of a Stream's
// start (refusableRequest): the subject the server refused the user since
// now when it is the Store's stream info (as WithPublishDenied describes)
// or a consumer create of this Stream's consumer, whose names begin with
// prefix ("$JS.API.CONSUMER.CREATE.<stream>.<prefix>_<n>…", seen in the
// connection's latest permission violation); else "". A refusal of
// another subject, or of another Stream's consumer, on a shared
// connection does not end this Stream's start.
func (s *Store) startRefused(prefix string) func() string {
	den := s.newDenials()
	last := denials{s: s, since: den.since, before: s.nc.LastError()}
	info := "$JS.API.STREAM.INFO." + s.cfg.stream
	create := "$JS.API.CONSUMER.CREATE." + s.cfg.stream + "." + prefix + "_"
	return func() string {
		if den.denied(info) {
			return info
		}
		if subj := last.lastRefused(); subj == info || strings.HasPrefix(subj, create) {
			return subj
		}
		return ""
	}
}

// startAt sets where the ordered consumer of a Stream starts. Every start
// is one that stays put when nats.go recreates the consumer before it has
// delivered anything (after a reconnect, a server restart or missed
// heartbeats; once a message arrived, it resumes after that message's
// sequence): a sequence, a time or the beginning. Never DeliverNew: "new"
// at the reset would silently skip what was stored between the start and
// the reset. Live streams (no option) start after the stream's last
// sequence read at the start instead.
//
// It reads the stream's info (one request) and returns its creation time,
// which the Stream's watch compares after each re-create of its consumer.
func (s *Store) startAt(ctx context.Context, cfg *jetstream.OrderedConsumerConfig, opts event.StreamOptions) (time.Time, error) {
	ictx, cancel := s.withTimeout(ctx)
	defer cancel()
	st, err := s.js.Stream(ictx, s.cfg.stream)
	if err != nil {
		return time.Time{}, err
	}
	info := st.CachedInfo()
	switch {
	case opts.FromSeq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, opts.FromSeq
	case !opts.FromTime.IsZero():
		t := opts.FromTime.UTC()
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	case opts.History:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	default:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, info.State.LastSeq+1
	}
	return info.Created, nil
}

// release stops a stream's consumer and deletes it on the server at once,
// rather than leaving it to the inactivity threshold.
func (s *Store) release(cons jetstream.Consumer, msgs jetstream.MessagesContext) {
	msgs.Stop()
	info := cons.CachedInfo()
	if info == nil || !s.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	if err := s.stream.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		s.log.Debug("delete stream consumer", "consumer", info.Name, "error", err)
	}
}

// register adds a running Stream, whose consumers' names begin with
// prefix: Close ends it, and watchResponse passes it the answers to its
// consumer's creates. False if the Store is closed.
func (s *Store) register(prefix string, w *streamWatch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streamsByPrefix[prefix] = w
	return true
}

func (s *Store) unregister(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streamsByPrefix, prefix)
}
