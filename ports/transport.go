package ports

import "github.com/naq-go/events/domain/processor"

// Transport is the processor's driven side: a durable, acknowledged
// delivery of stored events (processor.Source) that also keeps the
// messages the processor gives up on (processor.DeadLetterSink). Its
// contract is written on the two embedded interfaces, which the domain
// declares beside the processor so that domain never imports ports.
//
// adapters/jsconsume implements it on a durable JetStream pull consumer:
// filtered by environment, service and types, shared by every instance
// using the same durable name, resuming from its durable position after a
// reconnect or a server restart, and dead-lettering to its own stream.
type Transport interface {
	processor.Source
	processor.DeadLetterSink
}

// Every Store can be watched: processor.Watcher reads a Streamer, whose
// method is exactly Streamer's.
var _ processor.Streamer = Streamer(nil)
