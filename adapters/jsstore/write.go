package jsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// msgIDHeaderOverhead is the size of the header block holding only
// Nats-Msg-Id, without the id: "NATS/1.0\r\n" "Nats-Msg-Id: " "\r\n" "\r\n".
const msgIDHeaderOverhead = len("NATS/1.0\r\n") + len(jetstream.MsgIDHeader) + len(": ") + len("\r\n") + len("\r\n")

// Store stores one event: StoreBatch of one, returning that event's error
// itself rather than a *logger.BatchError.
func (s *Store) Store(ctx context.Context, ev event.JobEvent) error {
	err := s.StoreBatch(ctx, []event.JobEvent{ev})
	if be, ok := errors.AsType[*logger.BatchError](err); ok && len(be.Errs) == 1 {
		return be.Errs[0]
	}
	return err
}

// StoreBatch publishes every event asynchronously, with its id as
// Nats-Msg-Id, on its subject "naq.events.{env}.{svc}.{job}.{type}", and
// returns once every publish acknowledgement has arrived (nil), or with a
// *logger.BatchError naming the events that were not acknowledged.
//
// Per event:
//   - Invalid events, and events whose encoded size with headers exceeds
//     the server's max payload, fail with an error wrapping
//     ports.ErrInvalid, are not published, and do not stop the others.
//   - An acknowledgement flagged duplicate (the id is already stored within
//     the stream's duplicate window) is success.
//   - No acknowledgement within the ack timeout (WithAckTimeout), no
//     responders, a 503, a disconnect, or ctx ending first fail the event
//     with an error wrapping ports.ErrUnavailable: it may or may not be
//     stored, and retrying it with the same id stores it at most once.
//
// Publishing stops at the first event that cannot be published at all (for
// example when the connection is closed), so that a retry keeps the batch's
// order. With many acknowledgements pending (WithMaxPending), publishing
// waits for room until the ack timeout or ctx's deadline. Writes that land
// in nats.go's reconnect buffer while disconnected count only once their
// acknowledgement arrives.
func (s *Store) StoreBatch(ctx context.Context, events []event.JobEvent) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	errs := make([]error, len(events))
	futures := make([]jetstream.PubAckFuture, len(events))
	failed := 0
	var stop error // set once publishing cannot go on
	maxPayload := s.nc.MaxPayload()

	for i := range events {
		ev := &events[i]
		if stop != nil {
			errs[i] = stop
			failed++
			continue
		}
		msg, err := s.message(ev, maxPayload)
		if err != nil {
			errs[i] = err
			failed++
			continue
		}
		if err := ctx.Err(); err != nil {
			stop = fmt.Errorf("event %s not published: %w: %w", ev.ID, ports.ErrUnavailable, err)
			errs[i] = stop
			failed++
			continue
		}
		f, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(s.stallWait(ctx)))
		if err != nil {
			stop = fmt.Errorf("event %s not published: %w", ev.ID, classifyPublish(err))
			errs[i] = stop
			failed++
			continue
		}
		futures[i] = f
	}

	for i, f := range futures {
		if f == nil {
			continue
		}
		if err := s.await(ctx, f); err != nil {
			errs[i] = fmt.Errorf("event %s (job %s, %s): %w", events[i].ID, events[i].JobID, events[i].Type, err)
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("jsstore: store batch of %d: %w", len(events), &logger.BatchError{Errs: errs})
}

// classifyPublish is classify for the error of a publish call: a publish
// refused because the connection is reconnecting and its reconnect buffer
// is full (or disabled with nats.ReconnectBufSize(-1), which a logger's
// connection should use) is transient too.
func classifyPublish(err error) error {
	if errors.Is(err, nats.ErrReconnectBufExceeded) {
		return fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
	}
	return classify(err)
}

// message validates and encodes ev into the message to publish.
func (s *Store) message(ev *event.JobEvent, maxPayload int64) (*nats.Msg, error) {
	data, err := ev.AppendJSON(make([]byte, 0, 512)) // validates first
	if err != nil {
		return nil, fmt.Errorf("event %q: %w", ev.ID, err)
	}
	subj, err := s.scheme.ForEvent(s.cfg.env, s.cfg.svc, ev)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if size := int64(len(data) + msgIDHeaderOverhead + len(ev.ID)); size > maxPayload {
		return nil, fmt.Errorf("%w: event %s (job %s, %s) is %d bytes encoded with its header, the server's max payload is %d",
			ports.ErrInvalid, ev.ID, ev.JobID, ev.Type, size, maxPayload)
	}
	return &nats.Msg{Subject: subj, Data: data, Header: make(nats.Header, 1)}, nil
}

// stallWait is how long one publish may wait for room among the pending
// acknowledgements: the ack timeout, or less if ctx ends sooner.
func (s *Store) stallWait(ctx context.Context) time.Duration {
	d := s.cfg.ackTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return max(d, time.Millisecond)
}

// await waits for one acknowledgement. The per-acknowledgement deadline is
// nats.go's (WithPublishAsyncTimeout), so await ends without ctx too.
func (s *Store) await(ctx context.Context, f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil // a duplicate acknowledgement is success too
	case err := <-f.Err():
		return classify(err)
	case <-ctx.Done():
		// The acknowledgement may still have arrived at the same moment.
		select {
		case <-f.Ok():
			return nil
		default:
		}
		return fmt.Errorf("no acknowledgement: %w: %w", ports.ErrUnavailable, ctx.Err())
	}
}
