// Package jsconsume is the processor's transport on NATS JetStream: a
// durable pull consumer on the event stream (default "naq_events"),
// implementing processor.Source and processor.DeadLetterSink (together,
// ports.Transport).
//
//	src, err := jsconsume.New(ctx, js,
//		jsconsume.WithDurable("billing-projector"),
//		jsconsume.WithFilter(event.Filter{Environment: "prod", Types: []event.JobEventType{event.TypeCompleted}}))
//	p := processor.New(src)
//
// Every instance using the same durable name shares the consumer's work:
// the server hands each message to one instance at a time and redelivers
// what an instance did not acknowledge within AckWait. Consume survives
// reconnects and server restarts. If the consumer itself is lost (deleted
// by an operator, gone with a server's state), Consume creates it again
// after the last ack floor it read (DeliverByStartSequencePolicy at floor
// + 1; logged at Warn, counted in Source.Recreations): events acknowledged
// at or below that floor are not delivered again, every unacknowledged one
// is, and so are those acknowledged above the floor (see Source for the
// exact rule, and the cases where the configured start is used instead).
// Instances re-creating the durable at once converge on one consumer.
// New waits, as long as its ctx allows, for a JetStream that is not ready
// yet (a cluster electing its leaders, a server restarting), each request
// bounded by WithRequestTimeout; a request the server refuses the user
// for lack of permission ends New at once (ErrPermission). Give the
// connection unlimited reconnects
// (nats.MaxReconnects(-1)); a closed connection ends Consume with an error.
//
// The pull batch — what the client reads ahead of the processor, without
// in-progress reports until the processor takes it — is twice the
// processor's MaxConcurrent (processor.Prefetcher) unless WithPullBatch
// sets it. On Stop, Consume drains the subscription and returns at once.
//
// Dead letters go to their own stream (default "naq_events_dlq", subjects
// "naq.deadletter.>") on subject naq.deadletter.<env>.<service>.<job>.<type>,
// with the original payload unchanged and the cause in headers (see
// DeadLetter).
//
// Option values: like every adapter, New validates its options and fails
// with an error wrapping event.ErrInvalid (ports.ErrInvalid) that names the
// option and the bad value — a value outside the range an option's doc
// states never falls back to a default silently. Omit an option to get its
// default.
package jsconsume
