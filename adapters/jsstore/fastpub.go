package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// Fast-ingest batches (ADR-50, nats-server ≥ 2.14, stream option
// allow_batched). The protocol, as nats-server 2.15.2 implements it
// (server/stream.go getFastBatch and processJetStreamFastBatchMsg,
// server/jetstream_batching.go):
//
//   - Every message of a batch is a plain core publish whose reply subject
//     is "<prefix>.<batch id>.<flow>.<gap mode>.<batch seq>.<op>.$FI", op 0
//     starting the batch (seq 1), 1 appending, 2 appending and committing,
//     3 committing without a message, 4 a ping. The server answers on the
//     reply subject of the message that triggered the answer, so one
//     wildcard subscription on "<prefix>.<batch id>.>" hears everything.
//   - It answers the first message with a flow ack {"type":"ack","seq":0,
//     "msgs":N} and then one every N persisted messages: in gap mode "fail"
//     every message up to and including seq is stored. N starts at
//     min(500, flow) and drops to 1 (then doubles per ack) while other fast
//     batches run on the stream.
//   - A message whose batch seq is not the next one (a lost message) is a
//     gap: the server reports {"type":"gap"} and, in mode "fail", commits
//     what it has; a message it cannot store is reported {"type":"err"}
//     and likewise ends the batch. The commit is answered with a PubAck
//     whose "count" is the last batch seq stored, so a count short of what
//     was sent means the rest is certainly not stored.
//   - A Nats-Msg-Id already in the duplicate window is skipped and the
//     batch goes on.
//   - A batch the server does not know (it restarted, or dropped the batch
//     after 10 s of silence) answers every further message with error
//     10208; the outcome of what was sent after the last flow ack is then
//     unknown.
//
// The error codes (10205 disabled, 10208 unknown batch id, 10211 too many
// in flight) are the server's; orbit.go's jetstreamext v0.3.2 has them as
// 10203–10206.

// JetStream API error codes of fast batches and of a message the stream
// cannot take (nats-server errors.json).
const (
	errCodeBatchDisabled    = 10205 // JSBatchPublishDisabledErr
	errCodeBatchUnknownID   = 10208 // JSBatchPublishUnknownBatchIDErr
	errCodeBatchTooMany     = 10211 // JSBatchPublishTooManyInflight
	errCodeMsgExceedsMaxium = 10054 // JSStreamMessageExceedsMaximumErr
)

// fastOutstanding is how many flow acks' worth of messages may be sent and
// not yet confirmed; fastMaxFlow the server's ceiling of the flow value.
// A batch of up to fastOutstanding×fastMaxFlow events (2000, the logger's
// default) is sent without a stall while the stream has no other batch.
const (
	fastOutstanding = 4
	fastMaxFlow     = 500
	// fastAttempts bounds the fast batches one StoreBatch call sends: the
	// first, then one per partial outcome that made progress.
	fastAttempts = 8
)

// fastFlow is the flow value asked for a batch of n messages: an ack every
// quarter of the batch, within the server's 1..500.
func fastFlow(n int) int { return min(max(n/fastOutstanding, 1), fastMaxFlow) }

// PublishMode selects how StoreBatch publishes.
type PublishMode uint8

const (
	// PublishFast stores each batch as a JetStream fast-ingest batch (gap
	// mode "fail") and sets allow_batched on the stream. When the server
	// is older than 2.14 or the stream refuses allow_batched (a mirror, or
	// a server that drops the option), the Store falls back to
	// PublishAsync, says so in Health ("publish", "publish_fallback") and
	// logs it at warning level. The default.
	PublishFast PublishMode = iota
	// PublishAsync publishes every event with its own asynchronous publish
	// and waits for each acknowledgement, as before fast-ingest. The
	// stream's allow_batched is left as it is.
	PublishAsync
)

func (m PublishMode) String() string {
	switch m {
	case PublishFast:
		return "fast-ingest"
	case PublishAsync:
		return "async"
	}
	return "PublishMode(" + strconv.Itoa(int(m)) + ")"
}

// pubConfig is the write path's part of config.
type pubConfig struct {
	mode    PublishMode
	noMsgID bool
	denied  func(subject string, since time.Time) bool // WithPublishDenied (permission.go)
}

// WithPublishMode sets how StoreBatch publishes. Default PublishFast; a
// value other than PublishFast and PublishAsync makes New fail with
// ErrInvalid.
func WithPublishMode(m PublishMode) Option { return func(c *config) { c.pub.mode = m } }

// WithoutMsgID publishes events without the Nats-Msg-Id header, so that the
// server keeps no id of them in its duplicate window (about 100 bytes of
// server memory per event, see docs/operations.md) and DedupWindow reports
// 0. Default off.
//
// The cost in safety: a retry of an event whose outcome is unknown can
// then be stored twice unless the caller first asks Stored (the logger
// does, when DedupWindow is 0), and even then when the first publish is
// still queued in the server when Stored reads (a timeout while the
// server is slow, not a disconnect): the de-dup window catches that case,
// Stored cannot.
func WithoutMsgID() Option { return func(c *config) { c.pub.noMsgID = true } }

func (p pubConfig) check() error {
	if p.mode != PublishFast && p.mode != PublishAsync {
		return fmt.Errorf("jsstore: %w: WithPublishMode(%d): must be PublishFast or PublishAsync", ports.ErrInvalid, p.mode)
	}
	return nil
}

// serverAtLeast reports whether the version string v ("2.15.2", "v2.14.0-RC.1")
// is at least major.minor.
func serverAtLeast(v string, major, minor int) bool {
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// fastReply is any answer on a fast batch's reply subjects: a flow ack,
// gap or error report ("type" set), or a PubAck (with or without error).
type fastReply struct {
	Type      string              `json:"type"`
	Seq       uint64              `json:"seq"`
	LastSeq   uint64              `json:"last_seq"`
	Msgs      int                 `json:"msgs"`
	Error     *jetstream.APIError `json:"error"`
	Stream    string              `json:"stream"`
	Batch     string              `json:"batch"`
	Count     uint64              `json:"count"`
	Duplicate bool                `json:"duplicate"`
}

// fastResult is the outcome of one fast batch over idx.
type fastResult struct {
	sent      int   // messages published
	confirmed int   // idx[:confirmed] are stored
	known     bool  // the server committed: idx[confirmed:] is certainly not stored
	err       error // why the batch ended short; nil when all are stored
	disabled  bool  // the stream does not take fast batches (allow_batched off)
	// rejected is set when the server refused the message of batch seq
	// rejectedSeq (idx[rejectedSeq-1]) itself (too large for the stream):
	// the event's own fault, not worth a retry.
	rejected    error
	rejectedSeq int
	deniedFirst bool // the server refused idx[0] for lack of permission (and so had no batch)
	progress    bool // anything was confirmed or reported by the server
}

// replySeqOp returns the batch seq and op of a fast batch reply subject
// prefix+"<seq>.<op>.$FI", or 0 and -1 when subj is not one.
func replySeqOp(subj, prefix string) (seq, op int) {
	rest, ok := strings.CutPrefix(subj, prefix)
	if !ok {
		return 0, -1
	}
	rest, ok = strings.CutSuffix(rest, ".$FI")
	if !ok {
		return 0, -1
	}
	seqs, ops, ok := strings.Cut(rest, ".")
	seq, err1 := strconv.Atoi(seqs)
	op, err2 := strconv.Atoi(ops)
	if !ok || err1 != nil || err2 != nil {
		return 0, -1
	}
	return seq, op
}

// fastBatch sends b's messages idx as one fast-ingest batch and waits for
// its commit, a failure, ctx, the ack timeout without progress from the
// server, or (checked after pingEvery of silence) den's news that the
// server refused a publish of a message sent and not confirmed.
func (s *Store) fastBatch(ctx context.Context, b *batchMsgs, idx []int, den *denials) (r fastResult) {
	n := len(idx)
	flow := fastFlow(n)
	inbox := s.nc.NewInbox()
	id := inbox[strings.LastIndexByte(inbox, '.')+1:]
	// Room for every answer the batch can draw: flow acks, a report, the
	// PubAck and one error per message sent after an early end.
	ch := make(chan *nats.Msg, n+16)
	since := s.nc.LastError() // see replyRefused
	sub, err := s.nc.ChanSubscribe(inbox+".>", ch)
	if err != nil {
		r.err = fmt.Errorf("subscribe for fast batch acks: %w", classifyPublish(err))
		return r
	}
	defer func() { _ = sub.Unsubscribe() }()

	prefix := inbox + "." + strconv.Itoa(flow) + ".fail."
	replies := fastReplies(prefix, n)
	ackEvery := flow // until the server's first flow ack says otherwise
	var over bool    // the batch ended on the server or cannot go on
	handle := func(m *nats.Msg) {
		if status := m.Header.Get("Status"); status != "" {
			if status == "503" {
				r.err = fmt.Errorf("fast batch %s: %w: no responders (is the stream %s there?): %w", id, ports.ErrUnavailable, s.cfg.stream, nats.ErrNoResponders)
			} else {
				r.err = fmt.Errorf("fast batch %s: %w: status %s %s", id, ports.ErrUnavailable, status, m.Header.Get("Description"))
			}
			over = true
			return
		}
		var a fastReply
		if err := json.Unmarshal(m.Data, &a); err != nil {
			return // not ours to understand; the PubAck or the deadline decides
		}
		r.progress = true
		switch a.Type {
		case "ack":
			r.confirmed = max(r.confirmed, min(int(a.Seq), r.sent))
			if a.Msgs > 0 {
				ackEvery = a.Msgs
			}
		case "gap": // the PubAck follows with what is stored
		case "err":
			if a.Error != nil && a.Error.ErrorCode == errCodeMsgExceedsMaxium && a.Seq >= 1 && int(a.Seq) <= n {
				r.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
				r.rejectedSeq = int(a.Seq)
			}
			if r.err == nil && a.Error != nil {
				r.err = fmt.Errorf("fast batch %s: message %d: %w", id, a.Seq, classify(a.Error))
			}
		default:
			switch {
			case a.Error == nil && a.Batch == id:
				r.confirmed, r.known, over = min(int(a.Count), r.sent), true, true
				if r.confirmed < r.sent && r.err == nil {
					r.err = fmt.Errorf("fast batch %s: %w: the server stored %d of %d (a gap: a message was lost on the way)", id, ports.ErrUnavailable, r.confirmed, r.sent)
				}
			case a.Error != nil && a.Error.ErrorCode == errCodeBatchUnknownID && !r.known && r.confirmed == 0 && r.sent > 0 && den.denied(b.msgs[idx[0]].Subject):
				// The server refused the first message for lack of
				// permission, so it never had the batch: nothing of it is
				// stored.
				r.err = refusedFirst(id, a.Error)
				r.known, r.deniedFirst, over = true, true, true
			case a.Error != nil && a.Error.ErrorCode == errCodeBatchUnknownID:
				if !r.known {
					r.err = fmt.Errorf("fast batch %s: %w: the server no longer knows the batch (restarted?): %w", id, ports.ErrUnavailable, a.Error)
					over = true
				}
			case a.Error != nil && a.Error.ErrorCode == errCodeBatchDisabled:
				r.err = fmt.Errorf("fast batch %s on stream %s: %w", id, s.cfg.stream, a.Error)
				r.disabled, over = true, true
				// Refused at the first message, the batch never existed;
				// later (allow_batched turned off half way), what the
				// server stored before is not known.
				if seq, op := replySeqOp(m.Subject, prefix); seq == 1 && op != 4 {
					r.known = true
				}
			case a.Error != nil:
				seq, op := replySeqOp(m.Subject, prefix)
				if seq > 1 || op == 4 {
					// Message seq (or a ping) was refused before it joined
					// the batch (stream sealed, limits, too large): the
					// server keeps the batch, and the gap it leaves ends
					// it with a commit whose count says what is stored
					// (the next message or ping draws it). Until then what
					// follows the last flow ack is not known.
					if a.Error.ErrorCode == errCodeMsgExceedsMaxium && op != 4 {
						r.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
						r.rejectedSeq = seq
					}
					if r.err == nil {
						r.err = fmt.Errorf("fast batch %s: message %d: %w", id, seq, classify(a.Error))
					}
					break
				}
				// The first message failed as a plain publish would: the
				// server has no batch, nothing of it is stored.
				if a.Error.ErrorCode == errCodeMsgExceedsMaxium {
					r.rejected = fmt.Errorf("%w: the stream rejects it: %w", ports.ErrInvalid, a.Error)
					r.rejectedSeq = 1
				}
				if a.Error.ErrorCode == errCodeBatchTooMany {
					r.err = fmt.Errorf("fast batch %s: %w: %w", id, ports.ErrUnavailable, a.Error)
					// Not progress: sending again at once would meet the
					// same limit; the caller retries with backoff.
					r.progress = false
				} else {
					r.err = fmt.Errorf("fast batch %s: %w", id, classify(a.Error))
				}
				r.known, over = true, true
			}
		}
	}

	pingEvery := min(max(s.cfg.ackTimeout/10, 10*time.Millisecond), time.Second)
	timer := time.NewTimer(pingEvery)
	defer timer.Stop()
	lastNews := time.Now()
	// take handles one answer; only progress (more confirmed, or the end
	// of the batch) is news: a ping draws the last flow ack again even
	// while the server stores nothing, which must not hold the batch
	// past the ack timeout.
	take := func(m *nats.Msg) {
		confirmed := r.confirmed
		handle(m)
		if r.confirmed != confirmed || over {
			lastNews = time.Now()
		}
	}
	// wait waits for one answer, pinging the server after pingEvery of
	// silence (which makes it resend its last flow ack, or report a gap or
	// an unknown batch), and fails after the ack timeout without progress.
	wait := func() bool {
		timer.Reset(pingEvery)
		select {
		case m := <-ch:
			take(m)
			return true
		case <-ctx.Done():
			r.err = fmt.Errorf("fast batch %s: %w: %w", id, ports.ErrUnavailable, ctx.Err())
			return false
		case <-timer.C:
			if !s.nc.IsConnected() {
				r.err = fmt.Errorf("fast batch %s: %w: connection %s: %w", id, ports.ErrUnavailable, s.nc.Status(), nats.ErrDisconnected)
				return false
			}
			if err := s.replyRefused(sub.Subject, since); err != nil {
				r.err = fmt.Errorf("fast batch %s: %w", id, err)
				return false
			}
			if k := den.first(b, idx[r.confirmed:r.sent]); k >= 0 {
				r.err = fmt.Errorf("fast batch %s: %w: the server refused the publish of message %d for lack of permission", id, ports.ErrUnavailable, r.confirmed+k+1)
				return false
			}
			if time.Since(lastNews) >= s.cfg.ackTimeout {
				r.err = fmt.Errorf("fast batch %s: %w: no progress from the server within %v: %w", id, ports.ErrUnavailable, s.cfg.ackTimeout, nats.ErrTimeout)
				return false
			}
			if r.sent > 0 {
				ping := prefix + strconv.Itoa(r.sent) + ".4.$FI"
				_ = s.nc.PublishRequest(b.msgs[idx[0]].Subject, ping, nil)
			}
			return true
		}
	}

	hdr := s.newMsgIDHeader()
	for j := 0; j < n && !over; j++ {
		for drained := false; !drained && !over; {
			select {
			case m := <-ch:
				take(m)
			default:
				drained = true
			}
		}
		for !over && j-r.confirmed >= ackEvery*fastOutstanding {
			if !wait() {
				return r
			}
		}
		if over {
			break
		}
		b.msgs[idx[j]].Reply = replies[j]
		if err := hdr.publish(s.nc, b, idx[j]); err != nil {
			r.err = fmt.Errorf("fast batch %s: message %d: %w", id, j+1, classifyPublish(err))
			return r
		}
		r.sent = j + 1
	}
	for !over {
		if !wait() {
			return r
		}
	}
	if r.confirmed == r.sent && r.sent == n && r.known {
		r.err = nil
	}
	return r
}

// fastReplies builds the reply subjects of a batch of n messages, carved
// out of one string: op 0 for the first, 2 (commit) for the last, 1 between
// (a batch of one starts and commits at once).
func fastReplies(prefix string, n int) []string { return pipeReplies(prefix, 1, n, true) }

// storeFast is StoreBatch with fast-ingest batches. The valid events go out
// as one batch; when it ends short, the stored prefix is confirmed (from
// the PubAck's count or, when the outcome is unknown, with Stored) and the
// rest is sent again, in order and with the same ids, as a new batch.
func (s *Store) storeFast(ctx context.Context, events []event.JobEvent) error {
	errs := make([]error, len(events))
	maxPayload := s.nc.MaxPayload()
	b := newBatchMsgs(len(events))
	s.subjects(b, events)
	todo := make([]int, 0, len(events))
	for i := range events {
		if _, err := s.message(b, i, &events[i], maxPayload, false); err != nil {
			errs[i] = err
			continue
		}
		todo = append(todo, i)
	}

	// maybe[i]: events[i] went out in a batch whose outcome is unknown, so
	// it may yet be stored; the others left at the end certainly are not
	// (never sent, or after a commit's count) and fail with ErrNotSent.
	maybe := make([]bool, len(events))
	den := s.newDenials()
	var lastErr error
	for attempt := 0; len(todo) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			lastErr = fmt.Errorf("%w: %w", ports.ErrUnavailable, err)
			break
		}
		if attempt == fastAttempts {
			break
		}
		if attempt > 0 {
			s.resent.Add(uint64(len(todo)))
		}
		r := s.fastBatch(ctx, b, todo, &den)
		if !r.known {
			for _, i := range todo[r.confirmed:r.sent] {
				maybe[i] = true
			}
		}
		todo = todo[r.confirmed:]
		if r.err == nil && len(todo) == 0 {
			break
		}
		lastErr = r.err
		if r.disabled {
			s.fallBack("the stream refused a fast batch: " + r.err.Error())
			s.asyncRest(ctx, events, todo, errs)
			for _, i := range todo {
				// An event the refused fast batch may have stored is not
				// "certainly not sent" because the async path did not get
				// to publish it.
				if maybe[i] && errors.Is(errs[i], logger.ErrNotSent) {
					ev := &events[i]
					errs[i] = fmt.Errorf("event %s (job %s, %s) not confirmed stored (%w) and not published again: %w: %s",
						ev.ID, ev.JobID, ev.Type, r.err, ports.ErrUnavailable, errs[i].Error()) // not %w: it wraps ErrNotSent
				}
			}
			return batchError(errs)
		}
		sentLeft := r.sent - r.confirmed // todo[:sentLeft] went out, not confirmed
		if r.rejected != nil && r.known && r.rejectedSeq == r.confirmed+1 && len(todo) > 0 {
			ev := &events[todo[0]]
			errs[todo[0]] = fmt.Errorf("event %s (job %s, %s): %w", ev.ID, ev.JobID, ev.Type, r.rejected)
			todo = todo[1:]
			sentLeft--
		}
		// Messages the server refused for lack of permission are certainly
		// not stored and never will be: they fail for good. The first one
		// of a batch the server never had is known refused even when
		// LastError names a later refusal by now.
		var refused int
		if r.deniedFirst && sentLeft > 0 {
			i := todo[0]
			errs[i] = s.deniedError(&events[i], b.msgs[i].Subject)
			todo, sentLeft, refused = todo[1:], sentLeft-1, 1
		}
		if sentLeft > 0 {
			var n int
			todo, n = s.dropDenied(events, b, todo, sentLeft, &den, errs)
			sentLeft -= n
			refused += n
		}
		if unknown := sentLeft; unknown > 0 && !r.known {
			var err error
			if todo, err = s.confirmStored(ctx, events, todo, unknown); err != nil {
				lastErr = fmt.Errorf("%w (and confirming what is stored failed: %w)", r.err, err)
				break
			}
		}
		if (!r.progress && refused == 0) || !s.nc.IsConnected() {
			break // the logger retries later, with backoff
		}
	}
	if len(todo) > 0 {
		if lastErr == nil {
			lastErr = fmt.Errorf("%w: gave up after %d fast batches", ports.ErrUnavailable, fastAttempts)
		}
		for _, i := range todo {
			ev := &events[i]
			if maybe[i] {
				errs[i] = fmt.Errorf("event %s (job %s, %s) not confirmed stored: %w", ev.ID, ev.JobID, ev.Type, lastErr)
			} else {
				errs[i] = notSent(ev, lastErr)
			}
		}
	}
	return batchError(errs)
}

// confirmStored asks Stored about todo[:unknown], whose outcome is unknown,
// and returns todo without the events that are stored. In gap mode "fail"
// they are a prefix; one stored after one missing (the server lost an
// acknowledged write) is dropped all the same, so that nothing is stored
// twice, and logged, since its job's order may then be broken.
func (s *Store) confirmStored(ctx context.Context, events []event.JobEvent, todo []int, unknown int) ([]int, error) {
	if !s.nc.IsConnected() {
		return todo, fmt.Errorf("%w: not connected", ports.ErrUnavailable)
	}
	unknown = min(unknown, len(todo))
	evs := make([]event.JobEvent, unknown)
	for k := range unknown {
		evs[k] = events[todo[k]]
	}
	// Bounded by the ack timeout even under a long ctx: a request lost
	// with a connection would otherwise hold the batch until ctx ends.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ackTimeout)
	defer cancel()
	found, err := s.Stored(cctx, evs)
	if err != nil {
		return todo, err
	}
	k := 0
	for k < len(found) && found[k] {
		k++
	}
	rest := todo[k:unknown:unknown]
	kept := rest[:0:0]
	for j, i := range rest {
		if found[k+j] {
			s.log.Warn("jsstore: an event is stored after one of the same batch that is not; storing the missing ones after it",
				"event", events[i].ID, "job", events[i].JobID)
			continue
		}
		kept = append(kept, i)
	}
	if len(kept) == len(rest) {
		return todo[k:], nil
	}
	return append(kept, todo[unknown:]...), nil
}

// asyncRest stores events todo with the asynchronous path after the stream
// refused fast batches, filling their errs.
func (s *Store) asyncRest(ctx context.Context, events []event.JobEvent, todo []int, errs []error) {
	sub := make([]event.JobEvent, len(todo))
	for k, i := range todo {
		sub[k] = events[i]
	}
	err := s.storeAsync(ctx, sub)
	if err == nil {
		return
	}
	if be, ok := errors.AsType[*logger.BatchError](err); ok && len(be.Errs) == len(todo) {
		for k, e := range be.Errs {
			errs[todo[k]] = e
		}
		return
	}
	for _, i := range todo {
		errs[i] = err
	}
}

// batchError is nil when errs holds no error, else the StoreBatch error
// wrapping the *logger.BatchError of errs.
func batchError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return fmt.Errorf("jsstore: store batch of %d: %w", len(errs), &logger.BatchError{Errs: errs})
		}
	}
	return nil
}
