package jsconsume

import (
	"log/slog"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
)

// Defaults of the options.
const (
	DefaultStream        = "naq_events"
	DefaultDurable       = "naq-events-processor"
	DefaultAckWait       = 30 * time.Second
	DefaultMaxAckPending = 1000
	// DefaultPullBatch is the pull batch when neither WithPullBatch nor a
	// processor (processor.Prefetcher) sets it: twice the processor's
	// default MaxConcurrent.
	DefaultPullBatch        = 2 * processor.DefaultMaxConcurrent
	DefaultPullExpiry       = 30 * time.Second
	DefaultCheckInterval    = 5 * time.Second
	DefaultDeadLetterStream = "naq_events_dlq"
	DefaultDeadLetterPrefix = "naq.deadletter"
)

type config struct {
	stream        string
	durable       string
	filter        event.Filter
	ackWait       time.Duration
	maxDeliver    int
	backoff       []time.Duration
	maxAckPending int
	pullBatch     int
	pullExpiry    time.Duration
	checkInterval time.Duration
	dlqStream     string
	dlqPrefix     string
	logger        *slog.Logger
}

func defaults() config {
	return config{
		stream:        DefaultStream,
		durable:       DefaultDurable,
		ackWait:       DefaultAckWait,
		maxDeliver:    -1,
		maxAckPending: DefaultMaxAckPending,
		pullExpiry:    DefaultPullExpiry,
		checkInterval: DefaultCheckInterval,
		dlqStream:     DefaultDeadLetterStream,
		dlqPrefix:     DefaultDeadLetterPrefix,
		logger:        slog.Default(),
	}
}

// Option configures New.
type Option func(*config)

// WithStream sets the event stream. Default "naq_events"; empty keeps it.
func WithStream(name string) Option {
	return func(c *config) {
		if name != "" {
			c.stream = name
		}
	}
}

// WithDurable sets the durable consumer name that instances sharing the
// work use. Default "naq-events-processor"; empty keeps it. It must be a
// valid subject token (no '.', '*', '>' or white space): New rejects
// others with an error wrapping event.ErrInvalid. Instances with one
// durable name must use the same filter and settings: New updates the
// consumer to the latest instance's configuration.
func WithDurable(name string) Option {
	return func(c *config) {
		if name != "" {
			c.durable = name
		}
	}
}

// WithFilter selects the events to consume by Environment, Service, JobID
// and Types (one filter subject per type). Since starts a new consumer at
// that time (it does not move an existing one). Queue, Worker and Until
// cannot be expressed as subjects: New rejects a filter that sets them
// (an error wrapping event.ErrInvalid). Default: every event.
func WithFilter(f event.Filter) Option { return func(c *config) { c.filter = f } }

// WithAckWait sets how long the server waits for a settlement before it
// redelivers a message (to any instance). The processor sends in-progress
// reports at a third of it. Default 30 s; d ≤ 0 keeps the default.
func WithAckWait(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.ackWait = d
		}
	}
}

// WithMaxDeliver sets the server's delivery limit. Default -1 (unlimited),
// leaving the limit to the processor (processor.WithMaxDeliveries), which
// dead-letters instead of letting the server drop the message silently;
// a limit set here must be at least the processor's. n = 0 keeps the
// default.
func WithMaxDeliver(n int) Option {
	return func(c *config) {
		if n != 0 {
			c.maxDeliver = n
		}
	}
}

// WithBackoff sets the server's redelivery delays for messages not settled
// within AckWait (a crashed or hung instance), replacing AckWait per
// delivery; nak'd messages use the processor's backoff instead. Default
// none. With a MaxDeliver limit it must have fewer entries than the limit.
func WithBackoff(delays ...time.Duration) Option {
	return func(c *config) { c.backoff = delays }
}

// WithMaxAckPending caps the messages delivered but not settled, across
// every instance of the durable: it bounds memory and, with
// processor.WithJobOrdering, the per-job queues. Default 1000; n < 1 keeps
// the default.
func WithMaxAckPending(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.maxAckPending = n
		}
	}
}

// WithPullBatch sets how many messages one pull request asks for, which
// is also about how many the client reads ahead of the processor. A
// message read ahead is not reported in progress until the processor takes
// it, so it must be taken within AckWait: with MaxConcurrent slots and
// handlers taking h, the last of a batch of n waits about n/MaxConcurrent·h.
// Default: twice the processor's MaxConcurrent (its SetPrefetch hint), or
// DefaultPullBatch without a processor; n < 1 keeps the default.
func WithPullBatch(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.pullBatch = n
		}
	}
}

// WithPullExpiry sets how long a pull request waits on the server; idle
// heartbeats are half of it, so a silent server is noticed after about one
// expiry. Default 30 s; d < 1 s keeps the default.
func WithPullExpiry(d time.Duration) Option {
	return func(c *config) {
		if d >= time.Second {
			c.pullExpiry = d
		}
	}
}

// WithCheckInterval sets how often Consume checks that its consumer still
// exists (re-creating it if the server lost it). Default 5 s; d ≤ 0 keeps
// the default.
func WithCheckInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.checkInterval = d
		}
	}
}

// WithDeadLetter sets the dead-letter stream and its subject prefix.
// Defaults "naq_events_dlq" and "naq.deadletter"; empty values keep them.
// New creates the stream (file storage, subjects "<prefix>.>", 2-minute
// duplicate window) when it does not exist and leaves an existing one as
// it is.
func WithDeadLetter(stream, subjectPrefix string) Option {
	return func(c *config) {
		if stream != "" {
			c.dlqStream = stream
		}
		if subjectPrefix != "" {
			c.dlqPrefix = subjectPrefix
		}
	}
}

// WithSlog sets the logger. Default slog.Default(); nil keeps it.
func WithSlog(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
