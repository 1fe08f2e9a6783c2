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
// reconnects and server restarts: the consumer is created again if it is
// gone and consumption resumes from its durable position. Give the
// connection unlimited reconnects (nats.MaxReconnects(-1)); a closed
// connection ends Consume with an error.
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
package jsconsume
