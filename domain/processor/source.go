package processor

import (
	"context"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Source delivers stored events with acknowledgement semantics: a message
// is delivered again until it is acknowledged or terminated. It is the
// processor's one dependency on its transport; ports.Transport embeds it and
// adapters/jsconsume implements it on a durable JetStream pull consumer.
//
// Contract for implementations:
//   - Consume calls deliver for each message, from one goroutine at a time,
//     until ctx ends; then it stops fetching, lets a deliver call in
//     progress return, and returns nil promptly (it should not wait on the
//     network: Stop waits for it only until its own deadline). No deliver
//     call starts after Consume returned. It returns an error only when it
//     cannot go on (the processor logs it and calls Consume again after a
//     backoff); transient faults (a reconnect, a server restart, a lost
//     consumer re-created after its last known ack floor) are recovered
//     inside Consume and resume from the durable position.
//   - deliver may block (while every handler slot is busy); the source must
//     not buffer much meanwhile: a message read ahead but not yet passed to
//     deliver is not reported in progress, so it must reach deliver before
//     the source's redelivery timeout (see Prefetcher).
//   - Each Message the processor handles is settled once, by Ack, Nak or
//     Term, from any goroutine; InProgress may be called any number of
//     times before that. A message never settled is delivered again by the
//     source after its own timeout (JetStream: AckWait).
//   - A settlement or InProgress of any delivery of a message applies to
//     the message (JetStream: they address the stream sequence). The
//     processor relies on it: a redelivery of a sequence it still holds
//     (Delivery.Seq, when not 0) is dropped without settlement, and the
//     held delivery settles the message.
type Source interface {
	Consume(ctx context.Context, deliver func(Message)) error
}

// Prefetcher is implemented by a Source that reads messages ahead of
// deliver (JetStream: the pull batch). Start calls SetPrefetch with twice
// MaxConcurrent, so that what is read ahead is about two rounds of handler
// work: a message read ahead is not yet held by the processor and gets no
// in-progress reports until deliver takes it. A Source may let an explicit
// setting of its own win.
type Prefetcher interface {
	SetPrefetch(n int)
}

// Message is one delivery of one stored event.
type Message interface {
	// Delivery describes this delivery.
	Delivery() Delivery
	// Subject is where the message was stored, e.g.
	// naq.events.prod.billing.job-1.completed.
	Subject() string
	// Data is the raw payload (the v1.0 JSON document).
	Data() []byte
	// Decode returns the stored event. An error (wrapping event.ErrInvalid)
	// means the message will never decode: it is terminated, counted as
	// undecodable and dead-lettered, never retried.
	Decode() (event.Record, error)
	// Ack settles the message as done.
	Ack() error
	// Nak asks for a redelivery after delay (0: at once).
	Nak(delay time.Duration) error
	// Term settles the message as never to be delivered again.
	Term(reason string) error
	// InProgress tells the source the message is still being worked on,
	// resetting its redelivery timer.
	InProgress() error
}

// Delivery says where a message sits in its source and how often it was
// delivered.
type Delivery struct {
	// Seq is the message's sequence in its store (JetStream: the stream
	// sequence). It identifies the message across redeliveries.
	Seq uint64
	// NumDelivered is 1 on the first delivery, 2 on the first redelivery...
	NumDelivered uint64
	// Pending is how many messages matching the consumer were not yet
	// delivered when this one was (the consumer's lag); 0 if unknown.
	Pending uint64
	// Stored is when the store took the message; zero if unknown.
	Stored time.Time
}

// DeadLetterSink keeps messages the processor gave up on: events whose
// handlers failed on every one of MaxDeliveries deliveries, and messages
// that do not decode. A Source may implement it (jsconsume.Source does);
// WithDeadLetter sets another.
//
// DeadLetter returns nil only once the letter is durable; the processor
// then terminates the message. On an error the processor tries again a few
// times (3 attempts in all, with backoff, the message held); then, without
// job ordering, it nak's the message and dead-letters it (same reason,
// same error, no handler call) on its next delivery, so nothing is lost;
// with WithJobOrdering it keeps the message held and retries until the
// write succeeds, so that the job's later events wait (see
// WithJobOrdering). A letter may thus be written more than once (also
// after a lost Term): an implementation should de-duplicate by
// Letter.Delivery.Seq (and the consumer, if several consumers share the
// sink).
type DeadLetterSink interface {
	DeadLetter(ctx context.Context, l Letter) error
}

// Letter is a message given up on, with why.
type Letter struct {
	Subject  string
	Data     []byte
	Delivery Delivery
	// Record is the decoded event; valid only when Decoded.
	Record  event.Record
	Decoded bool
	// Reason is a short, stable cause: ReasonFailed, ReasonUndecodable or
	// ReasonRedelivered.
	Reason string
	// Err is the last handler error, or the decode error. A "redelivered
	// too often" letter wraps the last handler error seen for the message,
	// when one was.
	Err error
}

// Reasons of a Letter (also passed to Message.Term).
const (
	ReasonFailed      = "handler failed"
	ReasonUndecodable = "undecodable"
	ReasonRedelivered = "redelivered too often"
)
