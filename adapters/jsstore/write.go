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

// StoreBatch stores the events, each with its id as Nats-Msg-Id (unless
// WithoutMsgID), on its subject "naq.events.{env}.{svc}.{job}.{type}", in
// slice order, and returns nil once every one is confirmed stored, or a
// *logger.BatchError naming the events that are not (nil entries are
// stored).
//
// With fast-ingest (PublishFast, the default where the server allows it)
// the valid events go out as one fast batch in gap mode "fail": the server
// stores a contiguous prefix and stops at the first lost or refused
// message. After an error, a timeout or a short count StoreBatch confirms
// what is stored (the commit's count, or Stored when the outcome is
// unknown) and sends the rest again as a new batch, in order and with the
// same ids, while batches make progress (at most fastAttempts); what is
// left fails with ports.ErrUnavailable. Otherwise (PublishAsync, or the
// fallback) it publishes every event asynchronously and waits for each
// acknowledgement.
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
//   - A publish the server refused for lack of permission (an
//     asynchronous -ERR, never an acknowledgement; see WithPublishDenied)
//     fails with an error wrapping ErrPermission and ports.ErrInvalid that
//     names the subject and the grant. It is recognised once the
//     acknowledgement is late by a tenth of the ack timeout (10 ms..1 s),
//     not after the whole of it; the batch's other events are stored.
//   - An event that certainly is not stored (never published, or after
//     the count of a fast batch's commit) fails with an error wrapping
//     logger.ErrNotSent as well, so that the logger knows its outcome.
//
// Asynchronous publishing stops at the first event that cannot be published
// at all (for example when the connection is closed), so that a retry keeps
// the batch's order. With many acknowledgements pending (WithMaxPending), publishing
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
	s.finishPipe(ctx) // nothing of a pipelined batch may land behind these
	if s.pub.fast.Load() {
		return s.storeFast(ctx, events)
	}
	return s.storeAsync(ctx, events)
}

// storeAsync is StoreBatch with one asynchronous publish per event.
func (s *Store) storeAsync(ctx context.Context, events []event.JobEvent) error {
	errs := make([]error, len(events))
	futures := make([]jetstream.PubAckFuture, len(events))
	failed := 0
	var stop error // set once publishing cannot go on
	maxPayload := s.nc.MaxPayload()
	b := newBatchMsgs(len(events))
	s.subjects(b, events)
	den := s.newDenials()
	// One stall option for the batch while there is room among the
	// pending acknowledgements; an exact one (what is left of ctx) when a
	// publish may have to wait. No publish is re-sent by nats.go (see
	// noResend).
	roomy := []jetstream.PublishOpt{jetstream.WithStallWait(s.stallWait(ctx)), noResend}

	for i := range events {
		ev := &events[i]
		if stop != nil {
			errs[i] = stop
			failed++
			continue
		}
		msg, err := s.message(b, i, ev, maxPayload, true)
		if err != nil {
			errs[i] = err
			failed++
			continue
		}
		if err := ctx.Err(); err != nil {
			stop = fmt.Errorf("event %s not published (%w): %w: %w", ev.ID, logger.ErrNotSent, ports.ErrUnavailable, err)
			errs[i] = stop
			failed++
			continue
		}
		opts := roomy
		if s.js.PublishAsyncPending() >= s.cfg.maxPending-1 {
			opts = []jetstream.PublishOpt{jetstream.WithStallWait(s.stallWait(ctx)), noResend}
		}
		f, err := s.js.PublishMsgAsync(msg, opts...)
		if err != nil {
			stop = fmt.Errorf("event %s not published (%w): %w", ev.ID, logger.ErrNotSent, classifyPublish(err))
			errs[i] = stop
			failed++
			continue
		}
		futures[i] = f
	}

	var tick *time.Ticker // checks for a refused publish while an acknowledgement is late
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	for i, f := range futures {
		if f == nil {
			continue
		}
		subj := b.msgs[i].Subject
		err := s.await(ctx, f, &tick, func() bool { return den.denied(subj) })
		switch {
		case err == nil:
		case errors.Is(err, errRefused) || den.denied(subj):
			errs[i] = s.deniedError(&events[i], subj)
			failed++
		default:
			errs[i] = fmt.Errorf("event %s (job %s, %s): %w", events[i].ID, events[i].JobID, events[i].Type, err)
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("jsstore: store batch of %d: %w", len(events), &logger.BatchError{Errs: errs})
}

// noResend turns off nats.go's own re-publishing of an asynchronous
// publish answered "no responders" (by default twice, 250 ms apart, each
// from a timer goroutine of its own). The re-sends of different events
// race each other and the batches after them, so two events of one job
// could be stored out of order once the stream is back, and one could land
// after StoreBatch has given up on it. With none, the 503 fails the event at once with
// ports.ErrUnavailable (classify), and the logger re-sends it in order.
var noResend = jetstream.WithRetryAttempts(0)

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
// nats.go keeps each message until its acknowledgement, possibly after
// StoreBatch has given up on it.
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
		// A KiB per event of the batch, at most arenaChunk: a batch of one
		// (the common case at low rates) does not allocate 64 KiB.
		b.arena = make([]byte, 0, min(arenaChunk, max(len(b.msgs), 2)<<10))
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

// message validates and encodes events[i] into the i-th message of b. With
// header false it leaves the Nats-Msg-Id header to the publish (a fast
// batch's, which sets it from b.ids with an msgIDHeader).
func (s *Store) message(b *batchMsgs, i int, ev *event.JobEvent, maxPayload int64, header bool) (*nats.Msg, error) {
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
	if s.pub.noMsgID || !header {
		return m, nil
	}
	// The same header as jetstream.WithMsgID sets, without an option
	// closure and a slice per event. nats.go keeps an asynchronous
	// publish's message until its ack, so each gets a map of its own.
	m.Header = nats.Header{jetstream.MsgIDHeader: b.ids[i : i+1 : i+1]}
	return m, nil
}

// msgIDHeader is one Nats-Msg-Id header that the core publishes of a fast
// batch call share: nats.Conn.PublishMsg copies a message's header into the
// connection's buffer before it returns, so one map serves every message
// in turn instead of a map per event (2 allocations, about 380 bytes). Nil
// without ids (WithoutMsgID).
type msgIDHeader nats.Header

func (s *Store) newMsgIDHeader() msgIDHeader {
	if s.pub.noMsgID {
		return nil
	}
	return msgIDHeader{jetstream.MsgIDHeader: make([]string, 1)}
}

// publish publishes the i-th message of b with its id in h, and leaves
// the message without the shared header.
func (h msgIDHeader) publish(nc *nats.Conn, b *batchMsgs, i int) error {
	m := &b.msgs[i]
	if h != nil {
		h[jetstream.MsgIDHeader][0] = b.ids[i]
		m.Header = nats.Header(h)
		defer func() { m.Header = nil }()
	}
	return nc.PublishMsg(m)
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

// errRefused: await saw that the server refused the publish (permissions).
var errRefused = errors.New("publish refused")

// deniedEvery is how often a late acknowledgement is checked against the
// server's refusals: a tenth of the ack timeout, within 10 ms..1 s.
func (s *Store) deniedEvery() time.Duration {
	return min(max(s.cfg.ackTimeout/10, 10*time.Millisecond), time.Second)
}

// await waits for one acknowledgement. The per-acknowledgement deadline is
// nats.go's (WithPublishAsyncTimeout), so await ends without ctx too. While
// it is late, refused is asked every deniedEvery (on *tick, made at the
// first wait) whether the server refused the publish; if so await returns
// errRefused at once instead of waiting for the ack timeout.
func (s *Store) await(ctx context.Context, f jetstream.PubAckFuture, tick **time.Ticker, refused func() bool) error {
	select {
	case <-f.Ok():
		return nil
	default:
	}
	if *tick == nil {
		*tick = time.NewTicker(s.deniedEvery())
	} else if refused() {
		// An earlier acknowledgement of the batch was late already: a
		// refusal of this publish has had time to arrive.
		return errRefused
	}
	for {
		select {
		case <-f.Ok():
			return nil // a duplicate acknowledgement is success too
		case err := <-f.Err():
			return classify(err)
		case <-(*tick).C:
			if refused() {
				return errRefused
			}
			continue
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
}
