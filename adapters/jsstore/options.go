package jsstore

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the design's stream configuration and of the adapter.
const (
	DefaultEnvironment = "dev"
	DefaultService     = "naq"
	DefaultStream      = "naq_events"
	DefaultMaxAge      = 7 * 24 * time.Hour
	DefaultMaxMsgs     = 1_000_000
	DefaultMaxBytes    = 1 << 30
	DefaultReplicas    = 1
	DefaultDuplicates  = 30 * time.Second
	DefaultAckTimeout  = 5 * time.Second
	DefaultMaxPending  = 4096
	DefaultTimeout     = 5 * time.Second
	DefaultClockSkew   = time.Minute
	DefaultMaxScan     = 100_000
)

type config struct {
	env, svc   string
	stream     string
	maxAge     time.Duration
	maxMsgs    int64
	maxBytes   int64
	replicas   int
	duplicates time.Duration
	storage    jetstream.StorageType
	ackTimeout time.Duration
	maxPending int
	timeout    time.Duration
	clockSkew  time.Duration
	maxScan    int
	lateness   time.Duration
	jobBatch   int
	logger     *slog.Logger
	pub        pubConfig // the write path's options (fastpub.go)
}

func defaults() config {
	return config{
		env:        DefaultEnvironment,
		svc:        DefaultService,
		stream:     DefaultStream,
		maxAge:     DefaultMaxAge,
		maxMsgs:    DefaultMaxMsgs,
		maxBytes:   DefaultMaxBytes,
		replicas:   DefaultReplicas,
		duplicates: DefaultDuplicates,
		storage:    jetstream.FileStorage,
		ackTimeout: DefaultAckTimeout,
		maxPending: DefaultMaxPending,
		timeout:    DefaultTimeout,
		clockSkew:  DefaultClockSkew,
		maxScan:    DefaultMaxScan,
		jobBatch:   readBatch,
		logger:     slog.Default(),
	}
}

// Option configures New. An option given a value outside the range its
// comment states makes New fail with an error wrapping ports.ErrInvalid
// that names the option and the value; nothing is silently replaced by a
// default (WithSlog(nil) is the documented default).
type Option func(*config)

// WithEnvironment sets the environment token events are written under and
// Job, ByType and DeleteJob read. Default "dev". It must be a valid subject
// token (event.CheckToken).
func WithEnvironment(env string) Option { return func(c *config) { c.env = env } }

// WithService sets the service token, like WithEnvironment. Default "naq".
func WithService(svc string) Option { return func(c *config) { c.svc = svc } }

// WithStream sets the stream name. Default "naq_events". It must be a valid
// JetStream stream name (no '.', '*', '>', '/', '\\' or white space).
func WithStream(name string) Option { return func(c *config) { c.stream = name } }

// WithMaxAge sets the stream's MaxAge: events older than this are removed by
// the server. Default 7 days; 0 means unlimited; negative is invalid.
func WithMaxAge(d time.Duration) Option { return func(c *config) { c.maxAge = d } }

// WithMaxMsgs sets the stream's MaxMsgs; the oldest events are removed
// beyond it. Default 1,000,000; 0 means unlimited; negative is invalid.
func WithMaxMsgs(n int64) Option { return func(c *config) { c.maxMsgs = n } }

// WithMaxBytes sets the stream's MaxBytes. Default 1 GiB; 0 means
// unlimited; negative is invalid.
func WithMaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithReplicas sets the stream's replica count. Default 1; valid 1 to 5.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithDuplicates sets the stream's duplicate window, within which an event
// id is stored once however often it is published. Default 30 s: the
// logger's Lookup (see Stored) keeps a re-published event exactly once
// beyond the window, so the window only has to cover a first copy still
// queued inside the server; nats-server keeps every id of the window in
// memory (about 200 B each, docs/operations.md). It must be > 0. When MaxAge is set and shorter, the window is cut to MaxAge
// (the server requires it).
func WithDuplicates(d time.Duration) Option { return func(c *config) { c.duplicates = d } }

// WithStorage sets the stream's storage: jetstream.FileStorage (the
// default) or jetstream.MemoryStorage; anything else is invalid.
func WithStorage(s jetstream.StorageType) Option { return func(c *config) { c.storage = s } }

// WithAckTimeout sets the deadline of each publish acknowledgement in
// StoreBatch: an event not acknowledged in time fails with an error wrapping
// ports.ErrUnavailable. A shorter deadline of the batch's ctx wins. Default
// 5 s; it must be > 0.
func WithAckTimeout(d time.Duration) Option { return func(c *config) { c.ackTimeout = d } }

// WithMaxPending sets how many asynchronous publishes may wait for their
// acknowledgement at once (nats.go's PublishAsyncMaxPending); StoreBatch
// waits for room rather than failing. Default 4096; it must be ≥ 1.
func WithMaxPending(n int) Option { return func(c *config) { c.maxPending = n } }

// WithTimeout bounds a query, DeleteJob, Cleanup or Health whose ctx has no
// deadline, and New when its ctx has none; each request New makes waits at
// most this long whatever ctx's deadline (see New). Default 5 s; it must be
// > 0.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClockSkew is how far a producer's clock may run ahead of the NATS
// server's. A filter's Since is event time, and the stream is indexed by
// store time; reads start at the store time Since minus this margin and
// filter exactly by event time, so events stamped up to this much in the
// future of the server are still found. Default 1 minute; it must be ≥ 0.
func WithClockSkew(d time.Duration) Option { return func(c *config) { c.clockSkew = d } }

// WithMaxScan bounds the stored messages a List or Count with a filter
// the subjects cannot select (queue, worker; for Count also a time window)
// may read: such a query over more is refused at once with a
// *ports.ScanError saying what to add, instead of reading until its
// deadline. Default 100,000 (a few hundred milliseconds of reading); 0
// means unbounded; negative is invalid.
func WithMaxScan(n int) Option { return func(c *config) { c.maxScan = n } }

// WithJobBatch sets how many messages one direct get request of Job asks
// for per subject. Default 1024; 0 asks for single messages (a round trip
// per event, but no pending count on the server); negative is invalid.
// docs/performance.md compares the two.
func WithJobBatch(n int) Option { return func(c *config) { c.jobBatch = n } }

// WithMaxLateness states how much later than its own timestamp (plus the
// clock skew margin) an event can reach the stream. A read with
// Filter.Until then stops at the first message stored after Until plus
// this, instead of reading on to the end of the stream for events stored
// late (a logger replaying its spill after an outage stores events hours
// after their time). Default 0: no bound, nothing late is ever missed;
// negative is invalid. Set it only where nothing is stored later than that.
func WithMaxLateness(d time.Duration) Option { return func(c *config) { c.lateness = d } }

// WithSlog sets the logger for warnings (undecodable records). Default
// slog.Default(); nil keeps the default.
func WithSlog(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}
