package filestore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// Defaults of the options.
const (
	DefaultEnvironment = "dev"
	DefaultService     = "naq"
	DefaultSegmentSize = 64 << 20 // 64 MiB

	// MinSegmentSize and MaxSegmentSize bound WithSegmentSize.
	MinSegmentSize = 4 << 10 // 4 KiB
	MaxSegmentSize = 1 << 40 // 1 TiB
)

type syncMode uint8

const (
	syncAlways syncMode = iota
	syncInterval
	syncNever
)

// SyncPolicy says when appended events are forced to stable storage with
// fsync. Use SyncAlways, SyncNever or SyncInterval(d).
type SyncPolicy struct {
	mode  syncMode
	every time.Duration
}

var (
	// SyncAlways fsyncs every batch before StoreBatch returns: a returned
	// StoreBatch survives a power loss. It is the default, because
	// StoreBatch's contract is "durably stored".
	SyncAlways = SyncPolicy{mode: syncAlways}
	// SyncNever leaves flushing to the operating system: a returned
	// StoreBatch survives the process being killed (the data is in the page
	// cache) but not a power loss or kernel crash.
	SyncNever = SyncPolicy{mode: syncNever}
)

// SyncInterval fsyncs at most every d, from a background goroutine owned by
// the store, and once more on Close: a power loss loses at most about d of
// events. d must be positive; Open rejects anything else with an error
// wrapping ports.ErrInvalid.
func SyncInterval(d time.Duration) SyncPolicy { return SyncPolicy{mode: syncInterval, every: d} }

// String names the policy: "always", "never" or "interval(1s)".
func (p SyncPolicy) String() string {
	switch p.mode {
	case syncAlways:
		return "always"
	case syncNever:
		return "never"
	default:
		return "interval(" + p.every.String() + ")"
	}
}

// Option configures Open. A value outside the range an option's comment
// states makes Open fail with an error wrapping ports.ErrInvalid that names
// the option and the value.
type Option func(*config)

type config struct {
	env, svc    string
	segmentSize int64
	maxAge      time.Duration
	maxBytes    int64
	maxEvents   int
	sync        SyncPolicy
	log         *slog.Logger
}

func defaultConfig() config {
	return config{
		env:         DefaultEnvironment,
		svc:         DefaultService,
		segmentSize: DefaultSegmentSize,
		sync:        SyncAlways,
		log:         slog.Default(),
	}
}

// WithEnvironment sets the environment the store writes under and that Job,
// ByType and DeleteJob read. Default "dev". It must be a NATS subject token
// (see event.CheckToken) and contain no '/' or '\\' (it names a directory);
// Open rejects anything else with an error wrapping ports.ErrInvalid.
func WithEnvironment(env string) Option { return func(c *config) { c.env = env } }

// WithService sets the service the store writes under. Default "naq"; same
// rules as WithEnvironment.
func WithService(svc string) Option { return func(c *config) { c.svc = svc } }

// WithSegmentSize sets the size in bytes past which the next batch starts a
// new segment file. Default 64 MiB; range [MinSegmentSize, MaxSegmentSize]; a
// value outside it makes Open fail with an error wrapping ports.ErrInvalid. A
// batch is never split, so a segment can exceed the size by one batch.
// Retention drops whole segment files, so the disk holds up to one segment
// more than the retained events.
func WithSegmentSize(n int64) Option { return func(c *config) { c.segmentSize = n } }

// WithMaxAge removes events whose timestamp is older than d. Default 0, no
// age limit; a negative d makes Open fail with an error wrapping
// ports.ErrInvalid. Age is enforced by Cleanup and on Open.
func WithMaxAge(d time.Duration) Option { return func(c *config) { c.maxAge = d } }

// WithMaxBytes bounds the encoded size (JSON lines, newline included) of the
// retained events; the oldest are removed first, on every append. Default 0,
// no limit; a negative n makes Open fail with an error wrapping
// ports.ErrInvalid.
func WithMaxBytes(n int64) Option { return func(c *config) { c.maxBytes = n } }

// WithMaxEvents bounds the number of retained events; the oldest are removed
// first, on every append. Default 0, no limit; a negative n makes Open fail
// with an error wrapping ports.ErrInvalid.
func WithMaxEvents(n int) Option { return func(c *config) { c.maxEvents = n } }

// WithSync sets the fsync policy. Default SyncAlways. A SyncInterval with a
// non-positive interval makes Open fail with an error wrapping
// ports.ErrInvalid.
func WithSync(p SyncPolicy) Option { return func(c *config) { c.sync = p } }

// WithSlog sets where warnings (torn or corrupt lines, failed syncs) go.
// Default slog.Default(); nil means the default.
func WithSlog(l *slog.Logger) Option { return func(c *config) { c.log = l } }

func (c *config) validate() error {
	for _, f := range [...]struct{ opt, name, v string }{{"WithEnvironment", "environment", c.env}, {"WithService", "service", c.svc}} {
		if err := event.CheckToken(f.name, f.v); err != nil {
			return fmt.Errorf("filestore: %s: %w", f.opt, err)
		}
		if strings.ContainsAny(f.v, `/\`) {
			return fmt.Errorf("filestore: %w: %s: %s %q contains a path separator", ports.ErrInvalid, f.opt, f.name, f.v)
		}
	}
	switch {
	case c.segmentSize < MinSegmentSize || c.segmentSize > MaxSegmentSize:
		return fmt.Errorf("filestore: %w: WithSegmentSize: segment size %d is outside [%d, %d]", ports.ErrInvalid, c.segmentSize, MinSegmentSize, MaxSegmentSize)
	case c.maxAge < 0:
		return fmt.Errorf("filestore: %w: WithMaxAge: max age %v is negative (0: no limit)", ports.ErrInvalid, c.maxAge)
	case c.maxBytes < 0:
		return fmt.Errorf("filestore: %w: WithMaxBytes: max bytes %d is negative (0: no limit)", ports.ErrInvalid, c.maxBytes)
	case c.maxEvents < 0:
		return fmt.Errorf("filestore: %w: WithMaxEvents: max events %d is negative (0: no limit)", ports.ErrInvalid, c.maxEvents)
	case c.sync.mode == syncInterval && c.sync.every <= 0:
		return fmt.Errorf("filestore: %w: WithSync: sync interval %v is not positive", ports.ErrInvalid, c.sync.every)
	case c.sync.mode > syncNever:
		return fmt.Errorf("filestore: %w: WithSync: unknown sync policy %d; use SyncAlways, SyncNever or SyncInterval", ports.ErrInvalid, c.sync.mode)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return nil
}

// sameLog reports whether c and o describe the same shared log: every
// option but environment, service and logger.
func (c *config) sameLog(o *config) bool {
	return c.segmentSize == o.segmentSize && c.maxAge == o.maxAge && c.maxBytes == o.maxBytes &&
		c.maxEvents == o.maxEvents && c.sync == o.sync
}
