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
	b := newBatchMsgs(len(events))
	s.subjects(b, events)
	// One stall option for the batch while there is room among the
	// pending acknowledgements; an exact one (what is left of ctx) when a
	// publish may have to wait.
	roomy := []jetstream.PublishOpt{jetstream.WithStallWait(s.stallWait(ctx))}

	for i := range events {
		ev := &events[i]
		if stop != nil {
			errs[i] = stop
			failed++
			continue
		}
		msg, err := s.message(b, i, ev, maxPayload)
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
		opts := roomy
		if s.js.PublishAsyncPending() >= s.cfg.maxPending-1 {
			opts = []jetstream.PublishOpt{jetstream.WithStallWait(s.stallWait(ctx))}
		}
		f, err := s.js.PublishMsgAsync(msg, opts...)
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

// batchMsgs holds the messages of one StoreBatch call. Their structs, header
// values, subjects and encoded bodies are carved out of a few allocations
// per call rather than several per event. Nothing is reused across calls:
// nats.go keeps each message until its acknowledgement (and resends it after
// a "no responders" answer), possibly after StoreBatch has given up on it.
type batchMsgs struct {
	msgs  []nats.Msg
	ids   []string // the Nats-Msg-Id header values
	arena []byte   // encoded bodies, each capped at its own length

	subj    string  // every event's subject, one after the other
	ends    []int   // the end of events[i]'s subject in subj
	subjErr []error // why events[i] has no subject; nil if all have one
}

// arenaChunk is the size of one block of encoded bodies; a body that does
// not fit in what is left gets an allocation of its own.
const arenaChunk = 64 << 10

func newBatchMsgs(n int) *batchMsgs {
	return &batchMsgs{msgs: make([]nats.Msg, n), ids: make([]string, n), ends: make([]int, n)}
}

// subjects builds the subject of every event into b as one string (one
// allocation per batch instead of one per event). An event whose subject
// cannot be built gets an empty one and its error in b.subjErr.
func (s *Store) subjects(b *batchMsgs, events []event.JobEvent) {
	// 64 bytes fit a typical subject ("naq.events.prod.api.job-123.started");
	// append grows the buffer for longer ones.
	buf := make([]byte, 0, len(events)*64)
	for i := range events {
		ev := &events[i]
		var err error
		buf, err = s.scheme.AppendFor(buf, s.cfg.env, s.cfg.svc, ev.JobID, ev.Type)
		if err != nil {
			if b.subjErr == nil {
				b.subjErr = make([]error, len(events))
			}
			b.subjErr[i] = fmt.Errorf("event %s: %w", ev.ID, err)
		}
		b.ends[i] = len(buf)
	}
	b.subj = string(buf)
}

// subject returns the subject of the i-th event.
func (b *batchMsgs) subject(i int) (string, error) {
	if b.subjErr != nil && b.subjErr[i] != nil {
		return "", b.subjErr[i]
	}
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.subj[start:b.ends[i]], nil
}

// encode appends ev's v1.0 document (validating it first) and returns it.
func (b *batchMsgs) encode(ev *event.JobEvent) ([]byte, error) {
	if cap(b.arena)-len(b.arena) < 2<<10 {
		b.arena = make([]byte, 0, arenaChunk)
	}
	free := b.arena[len(b.arena):]
	data, err := ev.AppendJSON(free)
	if err != nil {
		return nil, err
	}
	if len(data) <= cap(free) { // written in place
		b.arena = b.arena[:len(b.arena)+len(data)]
	}
	return data[:len(data):len(data)], nil
}

// message validates and encodes events[i] into the i-th message of b.
func (s *Store) message(b *batchMsgs, i int, ev *event.JobEvent, maxPayload int64) (*nats.Msg, error) {
	data, err := b.encode(ev) // validates first
	if err != nil {
		return nil, fmt.Errorf("event %q: %w", ev.ID, err)
	}
	subj, err := b.subject(i)
	if err != nil {
		return nil, err
	}
	if size := int64(len(data) + msgIDHeaderOverhead + len(ev.ID)); size > maxPayload {
		return nil, fmt.Errorf("%w: event %s (job %s, %s) is %d bytes encoded with its header, the server's max payload is %d",
			ports.ErrInvalid, ev.ID, ev.JobID, ev.Type, size, maxPayload)
	}
	b.ids[i] = ev.ID
	m := &b.msgs[i]
	m.Subject, m.Data = subj, data
	// The same header as jetstream.WithMsgID sets, without an option
	// closure and a slice per event.
	m.Header = nats.Header{jetstream.MsgIDHeader: b.ids[i : i+1 : i+1]}
	return m, nil
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
