package jsrollup

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/ports"
)

// Defaults of the options.
const (
	DefaultBucket   = "naq_rollups"
	DefaultReplicas = 1
	DefaultTimeout  = 5 * time.Second
	// DefaultIdle is how long Read waits for the next message of a range
	// before it checks that the range still holds messages.
	DefaultIdle = 2 * time.Second
	// DefaultReadRecovery is how long Read keeps making a lost consumer
	// again while none delivers a message.
	DefaultReadRecovery = 30 * time.Second
)

type config struct {
	bucket   string
	replicas int
	timeout  time.Duration
	idle     time.Duration
	recovery time.Duration
}

func defaults() config {
	return config{bucket: DefaultBucket, replicas: DefaultReplicas, timeout: DefaultTimeout, idle: DefaultIdle, recovery: DefaultReadRecovery}
}

// Option configures NewState and NewLog. An out-of-range value makes them
// fail with an error wrapping ports.ErrInvalid.
type Option func(*config)

// WithBucket sets the key-value bucket of the rollups. Default
// "naq_rollups"; it must be a valid bucket name (letters, digits, '-' and
// '_').
func WithBucket(name string) Option { return func(c *config) { c.bucket = name } }

// WithReplicas sets the bucket's replica count when it is created.
// Default 1; valid 1 to 5.
func WithReplicas(n int) Option { return func(c *config) { c.replicas = n } }

// WithTimeout bounds each request whose ctx has no deadline. Default 5 s;
// it must be > 0.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithIdle sets how long Log.Read waits for a message before it checks
// that the range it reads still holds messages (they may have been purged
// meanwhile). Default 2 s; it must be > 0.
func WithIdle(d time.Duration) Option { return func(c *config) { c.idle = d } }

// WithReadRecovery sets how long Log.Read keeps making its consumer again
// after losing it (a reconnect, a server restart, a leader change) while
// no message comes, before it fails. Default 30 s; it must be ≥ 0 (0:
// fail at the first loss). A deleted stream ends Read at once whatever
// this is.
func WithReadRecovery(d time.Duration) Option { return func(c *config) { c.recovery = d } }

func (c *config) check() error {
	bad := func(format string, v ...any) error {
		return fmt.Errorf("jsrollup: %w: "+format, append([]any{ports.ErrInvalid}, v...)...)
	}
	switch {
	case c.bucket == "" || strings.IndexFunc(c.bucket, func(r rune) bool {
		return r != '-' && r != '_' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	}) >= 0:
		return bad("WithBucket(%q): use letters, digits, '-' and '_'", c.bucket)
	case c.replicas < 1 || c.replicas > 5:
		return bad("WithReplicas(%d): must be 1 to 5", c.replicas)
	case c.timeout <= 0:
		return bad("WithTimeout(%v): must be > 0", c.timeout)
	case c.idle <= 0:
		return bad("WithIdle(%v): must be > 0", c.idle)
	case c.recovery < 0:
		return bad("WithReadRecovery(%v): must be ≥ 0", c.recovery)
	}
	return nil
}

func build(opts []Option) (config, error) {
	c := defaults()
	for _, o := range opts {
		o(&c)
	}
	return c, c.check()
}

// connect checks opts and nc, before any I/O, and returns the config and
// a JetStream context on nc: what NewState and NewLog both start with.
func connect(nc *nats.Conn, opts []Option) (config, jetstream.JetStream, error) {
	cfg, err := build(opts)
	if err != nil {
		return cfg, nil, err
	}
	if nc == nil {
		return cfg, nil, fmt.Errorf("jsrollup: %w: nil *nats.Conn; pass a connected *nats.Conn", ports.ErrInvalid)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.timeout))
	if err != nil {
		return cfg, nil, fmt.Errorf("jsrollup: %w", err)
	}
	return cfg, js, nil
}
