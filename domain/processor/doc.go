// Package processor runs handlers on job events delivered by a Source with
// acknowledgement semantics (a durable JetStream consumer in production, see
// adapters/jsconsume), and watches single jobs through a Streamer (any
// ports.Store).
//
// A Processor is a small pipeline; every arrow is bounded:
//
//	Source.Consume ──deliver──▶ dispatch ──slot (MaxConcurrent)──▶ message goroutine
//	   (pull, acks)               │ decode: undecodable → dead letter + Term     │ handlers, one after
//	                              │ stopping → Nak(0)                            │ another, each wrapped
//	                              ▼                                              ▼ in middlewares
//	                       per-job queue (WithJobOrdering)          Ack | Nak(backoff) | dead letter + Term
//	heartbeat goroutine: InProgress for every message held (received, not yet settled)
//
// Delivery is at least once: an event is acknowledged only after every
// handler registered for its type returned nil; a failure is negatively
// acknowledged with an exponential backoff and, on its MaxDeliveries-th
// delivery, handed to the DeadLetterSink and terminated. Handlers must
// therefore be idempotent (a redelivered event runs all of them again).
// MaxDeliveries bounds the handler calls one processor makes for one
// event, retries in place (WithJobOrdering) and redeliveries together.
// With WithJobOrdering a job's next event starts only once the one before
// is settled (acked, dead-lettered and terminated); an event whose dead
// letter cannot be written is held, and its job waits, until it can.
//
// Watcher.MonitorJob and Watcher.WaitFor read a job's history and then live
// events through one Stream call with StreamOptions{History: true}, so there
// is no window between "check" and "subscribe" in which an event could be
// missed or seen twice. See docs/processor.md for ordering guarantees.
//
// Option values: like every domain package, New and NewWatcher never fail
// on an option; a value outside the range an option's doc states (a
// count < 1, a duration ≤ 0, a nil logger, sink or middleware, a scope
// that is not a subject token) is ignored and the option keeps its
// documented default.
package processor
