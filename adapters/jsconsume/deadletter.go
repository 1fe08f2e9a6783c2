package jsconsume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/processor"
)

// Headers of a dead letter.
const (
	HeaderReason          = "Naq-Dead-Reason"
	HeaderError           = "Naq-Dead-Error"
	HeaderDeliveries      = "Naq-Dead-Deliveries"
	HeaderOriginalSubject = "Naq-Original-Subject"
	HeaderOriginalStream  = "Naq-Original-Stream"
	HeaderOriginalSeq     = "Naq-Original-Seq"
	HeaderDurable         = "Naq-Consumer"
)

// maxErrorHeader bounds the error text carried in a header.
const maxErrorHeader = 4096

func (s *Source) ensureDeadLetterStream(ctx context.Context) error {
	_, err := call(ctx, s, func(ctx context.Context) (jetstream.Stream, error) { return s.js.Stream(ctx, s.cfg.dlqStream) })
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("jsconsume: dead-letter stream %q: %w", s.cfg.dlqStream, classify(err))
	}
	// As many replicas as the event stream (R3 on a cluster): a dead
	// letter is the last copy of an event given up on.
	// A failed lookup is not taken for R1: the stream would keep it.
	replicas := 1
	src, err := call(ctx, s, func(ctx context.Context) (jetstream.Stream, error) { return s.js.Stream(ctx, s.cfg.stream) })
	switch {
	case err == nil:
		replicas = max(src.CachedInfo().Config.Replicas, 1)
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("jsconsume: dead-letter stream %q: replicas of stream %q: %w", s.cfg.dlqStream, s.cfg.stream, classify(err))
	}
	_, err = call(ctx, s, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        s.cfg.dlqStream,
			Description: "naq-events dead letters",
			Subjects:    []string{s.cfg.dlqPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  2 * time.Minute,
			Replicas:    replicas,
		})
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return fmt.Errorf("jsconsume: create dead-letter stream %q: %w", s.cfg.dlqStream, classify(err))
	}
	return nil
}

// DeadLetter publishes l to the dead-letter stream and waits for its
// acknowledgement. The subject is the event's with the dead-letter prefix
// (naq.deadletter.<env>.<service>.<job>.<type>), the payload the original
// bytes, and the headers say why: Naq-Dead-Reason, Naq-Dead-Error (the
// error text, at most 4 KiB, on one line), Naq-Dead-Deliveries, and where
// it came from: Naq-Original-Subject, -Stream, -Seq, Naq-Consumer. The
// Nats-Msg-Id is "<stream>:<durable>:<seq>": within the dead-letter
// stream's duplicate window a retried dead letter of one consumer is stored
// once (an acknowledgement flagged duplicate means it was already stored,
// and is success), while the same event given up by two consumers is
// stored twice, once per consumer.
//
// If no stream takes the subject (the dead-letter stream was deleted),
// DeadLetter creates it again as New does and publishes once more. Any
// other failure (server unreachable, stream full, no JetStream) is
// returned: the processor retries, and nak's the message or — with
// processor.WithJobOrdering — keeps it held until a write succeeds.
func (s *Source) DeadLetter(ctx context.Context, l processor.Letter) error {
	msg := nats.NewMsg(s.dlqSubject(l.Subject))
	msg.Data = l.Data
	errText := "<nil>"
	if l.Err != nil {
		errText = oneLine(l.Err.Error())
	}
	msg.Header.Set(HeaderReason, l.Reason)
	msg.Header.Set(HeaderError, errText)
	msg.Header.Set(HeaderDeliveries, strconv.FormatUint(l.Delivery.NumDelivered, 10))
	msg.Header.Set(HeaderOriginalSubject, l.Subject)
	msg.Header.Set(HeaderOriginalStream, s.cfg.stream)
	msg.Header.Set(HeaderOriginalSeq, strconv.FormatUint(l.Delivery.Seq, 10))
	msg.Header.Set(HeaderDurable, s.cfg.durable)
	msg.Header.Set(jetstream.MsgIDHeader, s.cfg.stream+":"+s.cfg.durable+":"+strconv.FormatUint(l.Delivery.Seq, 10))
	ack, err := s.js.PublishMsg(ctx, msg)
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		// No stream took the subject: the dead-letter stream was deleted
		// (or lost with a server's state). Create it again, as New does.
		if cerr := s.ensureDeadLetterStream(ctx); cerr != nil {
			return fmt.Errorf("jsconsume: dead letter of %s seq %d to %s: %w; re-creating the stream: %w",
				l.Subject, l.Delivery.Seq, msg.Subject, err, cerr)
		}
		s.log.Warn("dead-letter stream was missing; created it again", "dlq_stream", s.cfg.dlqStream)
		ack, err = s.js.PublishMsg(ctx, msg)
	}
	if err != nil {
		return fmt.Errorf("jsconsume: dead letter of %s seq %d to %s: %w", l.Subject, l.Delivery.Seq, msg.Subject, err)
	}
	if ack.Duplicate {
		s.log.Debug("dead letter already stored", "subject", l.Subject, "seq", l.Delivery.Seq, "dlq_seq", ack.Sequence)
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrorHeader {
		s = s[:maxErrorHeader] + "…"
	}
	return s
}
