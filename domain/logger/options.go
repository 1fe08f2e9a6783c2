package logger

import (
	"log/slog"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Defaults of the options. Each option's comment says when its default is
// used instead of the value given.
const (
	DefaultBatchSize        = 2000
	DefaultFlushInterval    = 100 * time.Millisecond
	DefaultMaxBufferSize    = 20_000
	DefaultRetryAttempts    = 10
	DefaultInitialBackoff   = 50 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = time.Second
	DefaultStoreTimeout     = 5 * time.Second
)

// dropWarnEvery is the rate limit of the drop warnings logged through slog:
// the first drop is reported at once, later ones at most this often.
const dropWarnEvery = 10 * time.Second

// OverflowPolicy says what happens to an event logged while the buffer holds
// MaxBufferSize events.
type OverflowPolicy uint8

const (
	// DropOldest discards the oldest queued event to make room for the new
	// one (the design's ring buffer). Events already taken by the flusher
	// for a store call are never discarded this way; if every held event is
	// taken, the new event is discarded instead. Log returns nil.
	DropOldest OverflowPolicy = iota
	// DropNewest discards the new event and keeps the queue as it is. Log
	// returns nil.
	DropNewest
	// Block makes LogCtx and LogSync wait for room until their ctx is done;
	// Log, which never blocks, returns an error wrapping ErrBufferFull
	// instead. Nothing is discarded: the caller is told.
	Block
)

func (p OverflowPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	case Block:
		return "block"
	}
	return "unknown"
}

// DropReason says why an accepted event was discarded.
type DropReason uint8

const (
	// DropOverflow: the buffer was full (DropOldest or DropNewest policy).
	DropOverflow DropReason = iota + 1
	// DropRejected: the store refused the event as invalid (its error wraps
	// event.ErrInvalid); it is never retried.
	DropRejected
	// DropRetriesExhausted: the retries were used up and no Spill is
	// configured, and the store said the last try was not sent
	// (ErrNotSent); otherwise the event counts as outcome unknown.
	DropRetriesExhausted
	// DropSpillFailed: the retries were used up and the Spill failed too
	// (the same proviso as DropRetriesExhausted).
	DropSpillFailed
	// DropClosed: Close's ctx ended before the event was stored, and it
	// could not be spilled (no Spill, or the Spill failed). An event that
	// was sent and never acknowledged is not dropped but counted as
	// outcome unknown (Stats.OutcomeUnknown).
	DropClosed
)

func (r DropReason) String() string {
	switch r {
	case DropOverflow:
		return "overflow"
	case DropRejected:
		return "rejected"
	case DropRetriesExhausted:
		return "retries-exhausted"
	case DropSpillFailed:
		return "spill-failed"
	case DropClosed:
		return "closed"
	}
	return "unknown"
}

// Option configures a Logger. Options are applied in order; a later option
// of the same kind wins.
type Option func(*config)

type config struct {
	batchSize        int
	flushInterval    time.Duration
	maxBufferSize    int
	retryAttempts    int
	initialBackoff   time.Duration
	maxBackoff       time.Duration
	overflow         OverflowPolicy
	spill            Spill
	onError          func(error)
	onDrop           func(event.JobEvent, DropReason)
	breakerThreshold int
	breakerCooldown  time.Duration
	log              *slog.Logger
	storeTimeout     time.Duration
	lookup           Lookup
	pipeDepth        int // WithPipelineDepth (pipeline.go)
	spillLimit       int // WithSpillLimit (spill.go)
}

func newConfig(opts []Option) config {
	c := config{
		batchSize:        DefaultBatchSize,
		flushInterval:    DefaultFlushInterval,
		maxBufferSize:    DefaultMaxBufferSize,
		retryAttempts:    DefaultRetryAttempts,
		initialBackoff:   DefaultInitialBackoff,
		maxBackoff:       DefaultMaxBackoff,
		overflow:         DropOldest,
		breakerThreshold: DefaultBreakerThreshold,
		breakerCooldown:  DefaultBreakerCooldown,
		storeTimeout:     DefaultStoreTimeout,
		pipeDepth:        DefaultPipelineDepth,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.spillLimit <= 0 {
		c.spillLimit = DefaultSpillLimit
	}
	c.batchSize = min(c.batchSize, c.maxBufferSize)
	c.maxBackoff = max(c.maxBackoff, c.initialBackoff)
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// WithBatchSize sets the most events sent to the store in one StoreBatch
// call. A full batch is sent as soon as the store is free; smaller batches
// go out whenever the store is idle (group commit), so this is a ceiling,
// not a quota. Large batches cost no latency (a lone event still goes out
// at once) and fewer round-trip barriers raise throughput: with 2000,
// sustained 512-byte events into JetStream match natscli's async publisher
// (docs/performance.md), with 500 they reach about 0.95 of it.
//
// Default 2000. Range 1 to the max buffer size: values less than one
// select the default; values above the max buffer size are lowered to it.
func WithBatchSize(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.batchSize = n
		} else {
			c.batchSize = DefaultBatchSize
		}
	}
}

// WithFlushInterval sets the longest the flusher sleeps while events are
// buffered. The logger starts a store call at once when the store is idle
// and as soon as the previous call returns otherwise (pipelined, as soon as
// only one is in flight), so events normally
// wait far less: the interval is an upper bound and a safety net against a
// missed wake-up, not a delay.
//
// Default 100ms. Range: any positive duration; values less than or equal
// to zero select the default.
func WithFlushInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.flushInterval = d
		} else {
			c.flushInterval = DefaultFlushInterval
		}
	}
}

// WithMaxBufferSize sets how many events the logger holds in memory at
// most: queued events plus those taken for a store call or a retry. It
// bounds memory whatever the length of an outage; beyond it the overflow
// policy applies (after spilling, when a Spill is configured).
//
// Default 20,000 (ten default batches). Range: at least 1; values less
// than one select the default.
func WithMaxBufferSize(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.maxBufferSize = n
		} else {
			c.maxBufferSize = DefaultMaxBufferSize
		}
	}
}

// WithRetry sets how often a failed batch is tried and how long to wait in
// between. attempts counts every try, the first included; after the last
// failed try the batch is spilled (with WithSpill) or dropped with reason
// DropRetriesExhausted. The wait before try n+1 is initialBackoff·2^(n-1),
// capped at maxBackoff, with equal jitter (a uniformly random value between
// half of it and all of it). Retries send the same event IDs, which the
// store de-duplicates.
//
// Defaults 10 attempts, 50ms, 5s: the waits add up to 8–16 s (jitter), so
// a batch rides out a JetStream leader election (2–8 s on the three-node
// cluster of test/cluster, docs/operations.md) or a quick server restart
// before it is spilled or given up (the old default of 5 attempts waited
// 0.4–0.75 s in all, and lost events on a cluster). Ranges: attempts at least 1, backoffs
// positive; attempts less than one, and backoffs less than or equal to
// zero, select their default; a maxBackoff below
// initialBackoff is raised to it. To ride out any outage in memory without
// a spill, pass math.MaxInt attempts: memory stays bounded by the max
// buffer size and the overflow policy.
func WithRetry(attempts int, initialBackoff, maxBackoff time.Duration) Option {
	return func(c *config) {
		c.retryAttempts = DefaultRetryAttempts
		if attempts >= 1 {
			c.retryAttempts = attempts
		}
		c.initialBackoff = DefaultInitialBackoff
		if initialBackoff > 0 {
			c.initialBackoff = initialBackoff
		}
		c.maxBackoff = DefaultMaxBackoff
		if maxBackoff > 0 {
			c.maxBackoff = maxBackoff
		}
	}
}

// WithOverflow sets what happens to an event logged while the buffer is
// full; see OverflowPolicy.
//
// Default DropOldest. Range: DropOldest, DropNewest, Block; an unknown
// policy selects the default.
func WithOverflow(p OverflowPolicy) Option {
	return func(c *config) {
		switch p {
		case DropOldest, DropNewest, Block:
			c.overflow = p
		default:
			c.overflow = DropOldest
		}
	}
}

// WithSpill sets where events go when the store cannot take them: batches
// whose retries are used up, and the oldest events when the buffer reaches
// three quarters of its size. Spilled events are replayed, in order and
// before any newer event, as soon as the store takes batches again. If the
// Spill already holds events when New is called (a previous process), they
// are replayed first.
//
// A Spill belongs to one Logger at a time: the Logger counts what it holds
// (Pending at New, then its own writes and replays), so a second Logger on
// the same Spill (or the same filestore directory) would miscount both,
// and its replays would race the first's. Open one Spill per Logger.
//
// Default none: such events are dropped and counted. Range: any Spill;
// nil means none (the default).
func WithSpill(s Spill) Option {
	return func(c *config) { c.spill = s }
}

// WithErrorHandler sets a function called with every failed store call,
// spill write and replay, from the logger's own goroutine. It must not
// block and must not call the Logger.
//
// Default none (errors are still counted in Stats and logged at debug
// level). Range: any function; nil means none (the default).
func WithErrorHandler(fn func(error)) Option {
	return func(c *config) { c.onError = fn }
}

// WithDropHandler sets a function called once for every discarded event
// with the reason. It runs on the goroutine that discards the event: the
// caller of Log for DropOverflow, the logger's goroutines otherwise. It
// must be fast, must not block and must not call the Logger.
//
// Default none (drops are still counted and reported through slog). Range:
// any function; nil means none (the default).
func WithDropHandler(fn func(ev event.JobEvent, reason DropReason)) Option {
	return func(c *config) { c.onDrop = fn }
}

// WithCircuitBreaker stops calling a failing store: after threshold
// consecutive failed calls the breaker opens and no call is made for
// cooldown; then one batch is sent as a probe (half-open). If it succeeds
// the breaker closes, otherwise it opens for another cooldown. Meanwhile
// events queue, spill and overflow as usual. Calls that are not made do not
// use up a batch's retry attempts.
//
// Defaults 5 failures and 1s. Ranges: threshold at least 1, cooldown
// positive; a threshold less than one or a cooldown less than or equal to
// zero selects its default.
func WithCircuitBreaker(threshold int, cooldown time.Duration) Option {
	return func(c *config) {
		c.breakerThreshold = DefaultBreakerThreshold
		if threshold >= 1 {
			c.breakerThreshold = threshold
		}
		c.breakerCooldown = DefaultBreakerCooldown
		if cooldown > 0 {
			c.breakerCooldown = cooldown
		}
	}
}

// WithSlog sets the logger for the logger's own warnings: drops (the first
// at once, then at most one summary every 10 s) and, at debug level, store
// errors. They never go through the Store.
//
// Default slog.Default() at the time New is called. Range: any
// *slog.Logger; nil selects the default.
func WithSlog(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithStoreTimeout sets the deadline of every StoreBatch call and of every
// Spill write (once Close has begun, Close's own bound applies too, see
// CloseGrace). A call that times out counts as failed and is retried with
// the same event IDs. A call that must first ask the store's Lookup about
// events of unknown outcome (lookup.go) gives each Lookup.Stored call of up
// to 256 events a timeout of its own as well, so it takes at most
// (⌈looked up/256⌉ + r + 1) × d, where r counts the extra rounds for
// events that aged into a lookup while the lookups ran (usually none or
// one). An event is looked up when its first send of unknown outcome is
// at least three quarters of the store's de-duplication window old when
// the call starts (after lookups, when the write could end: now + d); the
// others are re-published without a lookup, and the window must still
// hold them when the write ends. So keep d under a quarter of the window
// (jsstore's default window is 30 s, the default d 5 s).
//
// Default 5s. Range: any positive duration; values less than or equal to
// zero select the default.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.storeTimeout = d
		} else {
			c.storeTimeout = DefaultStoreTimeout
		}
	}
}

// WithLookup sets how the logger checks, before re-publishing an event of
// unknown outcome that is older than most of the store's de-duplication
// window, whether the store holds it already (see Lookup). Use it when the
// Store passed to New wraps one that implements Lookup (a decorator that
// does not itself), passing the inner store.
//
// Default: the Store itself if it implements Lookup, else none (events
// are re-published relying on the store's own de-duplication only). Range:
// any Lookup; nil selects the default.
func WithLookup(lk Lookup) Option {
	return func(c *config) { c.lookup = lk }
}
