package jsconsume

import (
	"fmt"
	"log/slog"
	"strings"
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
	DefaultRequestTimeout   = 5 * time.Second
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
	reqTimeout    time.Duration
	logger        *slog.Logger
	errs          []error // bad option values; New fails with them
}

// invalid records a bad option value: New then fails with an error
// wrapping event.ErrInvalid that names the option, the value and the fix.
func (c *config) invalid(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{event.ErrInvalid}, args...)...))
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
		reqTimeout:    DefaultRequestTimeout,
		logger:        slog.Default(),
	}
}

// Option configures New. A bad value (outside the range an option's doc
// states) makes New fail with an error wrapping event.ErrInvalid that
// names the option and the value; it never falls back to a default.
type Option func(*config)

// WithStream sets the event stream. Default "naq_events". The name must be
// a valid subject token (not empty; no '.', '*', '>' or white space).
func WithStream(name string) Option {
	return func(c *config) {
		if err := event.CheckToken("stream name (WithStream)", name); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.stream = name
	}
}

// WithDurable sets the durable consumer name that instances sharing the
// work use. Default "naq-events-processor". It must be a valid subject
// token (not empty; no '.', '*', '>' or white space). Instances with one
// durable name must use the same filter and settings: New updates the
// consumer to the latest instance's configuration, except where it starts
// (the deliver policy and start sequence or time), which the server keeps.
func WithDurable(name string) Option {
	return func(c *config) {
		if err := event.CheckToken("durable name (WithDurable)", name); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.durable = name
	}
}

// WithFilter selects the events to consume by Environment, Service, JobID
// and Types (one filter subject per type). Since starts a new consumer at
// that time (it does not move an existing one, nor one re-created after a
// loss, which resumes from its ack floor). Queue, Worker and Until cannot
// be expressed as subjects: New rejects a filter that sets them (an error
// wrapping event.ErrInvalid), as it does a value that is not a valid
// subject token. Default: every event.
func WithFilter(f event.Filter) Option { return func(c *config) { c.filter = f } }

// WithAckWait sets how long the server waits for a settlement before it
// redelivers a message (to any instance). The processor sends in-progress
// reports at a third of it. Default 30 s; d must be > 0.
func WithAckWait(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithAckWait %s: the ack wait must be positive (default %s)", d, DefaultAckWait)
			return
		}
		c.ackWait = d
	}
}

// WithMaxDeliver sets the server's delivery limit. Default -1 (unlimited),
// leaving the limit to the processor (processor.WithMaxDeliveries), which
// dead-letters instead of letting the server drop the message silently;
// a limit set here must be at least the processor's. n must be -1 or ≥ 1.
func WithMaxDeliver(n int) Option {
	return func(c *config) {
		if n == 0 || n < -1 {
			c.invalid("WithMaxDeliver %d: use -1 (unlimited, the default) or a limit ≥ 1", n)
			return
		}
		c.maxDeliver = n
	}
}

// WithBackoff sets the server's redelivery delays for messages not settled
// within AckWait (a crashed or hung instance), replacing AckWait per
// delivery; nak'd messages use the processor's backoff instead. Default
// none. Every delay must be > 0; with a MaxDeliver limit there must be
// fewer delays than the limit.
func WithBackoff(delays ...time.Duration) Option {
	return func(c *config) {
		for i, d := range delays {
			if d <= 0 {
				c.invalid("WithBackoff delay %d is %s: every delay must be positive", i, d)
				return
			}
		}
		c.backoff = delays
	}
}

// WithMaxAckPending caps the messages delivered but not settled, across
// every instance of the durable: it bounds memory and, with
// processor.WithJobOrdering, the per-job queues. Default 1000; n must be
// ≥ 1.
func WithMaxAckPending(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithMaxAckPending %d: the limit must be ≥ 1 (default %d)", n, DefaultMaxAckPending)
			return
		}
		c.maxAckPending = n
	}
}

// WithPullBatch sets how many messages one pull request asks for, which
// is also about how many the client reads ahead of the processor. A
// message read ahead is not reported in progress until the processor takes
// it, so it must be taken within AckWait: with MaxConcurrent slots and
// handlers taking h, the last of a batch of n waits about n/MaxConcurrent·h.
// Default: twice the processor's MaxConcurrent (its SetPrefetch hint), or
// DefaultPullBatch without a processor; n must be ≥ 1.
func WithPullBatch(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.invalid("WithPullBatch %d: the batch must be ≥ 1 (omit the option to follow the processor)", n)
			return
		}
		c.pullBatch = n
	}
}

// WithPullExpiry sets how long a pull request waits on the server; idle
// heartbeats are half of it, so a silent server is noticed after about one
// expiry. Default 30 s; d must be ≥ 1 s.
func WithPullExpiry(d time.Duration) Option {
	return func(c *config) {
		if d < time.Second {
			c.invalid("WithPullExpiry %s: the expiry must be at least 1s (default %s)", d, DefaultPullExpiry)
			return
		}
		c.pullExpiry = d
	}
}

// WithCheckInterval sets how often Consume reads its consumer's info: to
// notice that the server lost it (and re-create it) and to refresh the ack
// floor it would resume from. While messages are being acknowledged the
// floor is also read after them, at most once a second (or once per
// interval if that is shorter), so that a re-created consumer replays
// little. Default 5 s; d must be > 0.
func WithCheckInterval(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithCheckInterval %s: the interval must be positive (default %s)", d, DefaultCheckInterval)
			return
		}
		c.checkInterval = d
	}
}

// WithRequestTimeout bounds each JetStream API request New and Consume
// make to set up the consumer and the dead-letter stream (stream info,
// consumer info, consumer create or update, stream create), and the
// requests with which DeadLetter makes a deleted dead-letter stream again
// (the same stream info and create): a request the
// server has not answered by then is given up and, like every transient
// answer, tried again while the caller's context allows. A cluster whose
// meta or stream leader is being elected drops such requests without an
// answer, so without this bound one request would take the caller's
// whole context. A request the server refuses the user for lack of
// permission ends at once, whatever d, with an error wrapping
// ErrPermission. Default 5 s; d must be > 0.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.invalid("WithRequestTimeout %s: the timeout must be positive (default %s)", d, DefaultRequestTimeout)
			return
		}
		c.reqTimeout = d
	}
}

// WithDeadLetter sets the dead-letter stream and its subject prefix.
// Defaults "naq_events_dlq" and "naq.deadletter". The stream name must be
// a valid subject token, the prefix one or more tokens joined by '.'.
// New creates the stream (file storage, subjects "<prefix>.>", 2-minute
// duplicate window) when it does not exist and leaves an existing one as
// it is.
func WithDeadLetter(stream, subjectPrefix string) Option {
	return func(c *config) {
		if err := event.CheckToken("WithDeadLetter stream", stream); err != nil {
			c.errs = append(c.errs, err)
			return
		}
		for tok := range strings.SplitSeq(subjectPrefix, ".") {
			if err := event.CheckToken(fmt.Sprintf("WithDeadLetter subject prefix %q: token", subjectPrefix), tok); err != nil {
				c.errs = append(c.errs, err)
				return
			}
		}
		c.dlqStream, c.dlqPrefix = stream, subjectPrefix
	}
}

// WithSlog sets the logger. Default slog.Default(); nil keeps the default
// (as in every other package's WithSlog).
func WithSlog(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
