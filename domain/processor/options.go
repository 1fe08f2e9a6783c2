package processor

import (
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	DefaultMaxConcurrent      = 10
	DefaultHandlerTimeout     = 30 * time.Second
	DefaultMaxDeliveries      = 5
	DefaultBackoffMin         = 200 * time.Millisecond
	DefaultBackoffMax         = 30 * time.Second
	DefaultInProgressInterval = 10 * time.Second
	DefaultDeadLetterTimeout  = 10 * time.Second
)

type config struct {
	maxConcurrent  int
	handlerTimeout time.Duration
	maxDeliveries  uint64
	backoff        func(numDelivered uint64) time.Duration
	heartbeat      time.Duration
	logger         *slog.Logger
	deadLetter     DeadLetterSink
	middlewares    []Middleware
	jobOrdering    bool
	restartBackoff func(attempt uint64) time.Duration // after a Consume error; a test seam
}

// Option configures New.
type Option func(*config)

// WithMaxConcurrent caps how many messages are handled at once, hence how
// many handler calls run at once (a message's handlers run one after
// another). Default 10; n < 1 keeps the default.
func WithMaxConcurrent(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.maxConcurrent = n
		}
	}
}

// WithHandlerTimeout bounds one handler call: its ctx is cancelled after d
// and a handler returning after that fails with ErrHandlerTimeout. A
// handler must honour its ctx: the processor waits for it to return. Default
// 30 s; d ≤ 0 keeps the default.
func WithHandlerTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.handlerTimeout = d
		}
	}
}

// WithMaxDeliveries sets on which attempt a failing event is given up:
// after its n-th failed attempt it is dead-lettered and terminated. n = 1
// never retries. It is an upper bound on the handler calls one processor
// makes for one event, counting redeliveries and (WithJobOrdering) retries
// in place together: a redelivery after a dead letter that could not be
// written, or after a lost Term, is dead-lettered without calling the
// handlers again. A processor that did not see the earlier attempts
// (another instance, a restart) starts from the source's delivery count.
// Default 5; n < 1 keeps the default. The source's own redelivery limit
// (JetStream MaxDeliver) must be unlimited or ≥ n, or the source stops
// redelivering before the processor can dead-letter.
func WithMaxDeliveries(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.maxDeliveries = uint64(n)
		}
	}
}

// WithBackoff sets the redelivery delay after a failed delivery: min after
// the first, doubling each time, capped at max. Defaults 200 ms and 30 s;
// min ≤ 0 means redeliver at once; max < min is raised to min.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(c *config) {
		minDelay = max(minDelay, 0)
		maxDelay = max(maxDelay, minDelay)
		c.backoff = expBackoff(minDelay, maxDelay)
	}
}

// WithInProgressInterval sets how often a message still being handled is
// reported in progress to the source, so it is not redelivered while a
// long handler runs. Keep it well below the source's redelivery timeout.
// Default: a third of the source's AckWait when the source reports one
// (an AckWait() time.Duration method), else 10 s; d ≤ 0 keeps the default.
func WithInProgressInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.heartbeat = d
		}
	}
}

// WithSlog sets the logger. Default slog.Default(); nil keeps the default.
func WithSlog(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithDeadLetter sets where given-up messages go. Default: the Source when
// it implements DeadLetterSink, else none — a given-up event is then only
// logged at Error level (with its payload) and counted before it is
// terminated. nil keeps the default.
func WithDeadLetter(s DeadLetterSink) Option {
	return func(c *config) {
		if s != nil {
			c.deadLetter = s
		}
	}
}

// WithMiddleware wraps every handler registered afterwards and before, in
// the order given (the first is outermost), inside the processor's own
// recover and timeout middlewares. Default none; a nil middleware is
// skipped.
func WithMiddleware(mw ...Middleware) Option {
	return func(c *config) {
		for _, m := range mw {
			if m != nil {
				c.middlewares = append(c.middlewares, m)
			}
		}
	}
}

// WithJobOrdering serialises each job: the events of one job (same
// environment, service and job id) are handled one at a time in delivery
// order, and the job's next event starts only once the one before is
// settled — acked, or dead-lettered and terminated. A failed event is
// retried in place (with backoff, the message held, up to MaxDeliveries
// attempts in all) and then dead-lettered; if the dead-letter sink keeps
// failing, the event is not nak'd but stays held (reported in progress)
// while the write is retried with backoff until it succeeds, and its job
// waits — the job gives its handler slot back meanwhile, so other jobs go
// on. Only Stop hands such an event back (Nak(0)), the letter owed.
// Different jobs run concurrently up to MaxConcurrent. Without it, events
// of one job may be handled concurrently and a retried event after its
// successors. See docs/processor.md for what this guarantees with several
// instances.
func WithJobOrdering() Option { return func(c *config) { c.jobOrdering = true } }

func defaults() config {
	return config{
		maxConcurrent:  DefaultMaxConcurrent,
		handlerTimeout: DefaultHandlerTimeout,
		maxDeliveries:  DefaultMaxDeliveries,
		backoff:        expBackoff(DefaultBackoffMin, DefaultBackoffMax),
		logger:         slog.Default(),
		restartBackoff: expBackoff(100*time.Millisecond, 10*time.Second),
	}
}

// expBackoff returns min·2^(n-1) capped at max, for delivery n ≥ 1.
func expBackoff(minDelay, maxDelay time.Duration) func(uint64) time.Duration {
	return func(n uint64) time.Duration {
		d := minDelay
		for i := uint64(1); i < n && d < maxDelay; i++ {
			d *= 2
		}
		return min(d, maxDelay)
	}
}
