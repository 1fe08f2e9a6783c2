package memstore

import (
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// Defaults of the options.
const (
	DefaultEnvironment = "dev" // WithEnvironment
	DefaultService     = "naq" // WithService
)

// Option configures a Store made by Open or New. A value outside the range
// its comment states makes Open fail with an error wrapping ports.ErrInvalid
// that names the option and the value, and New panic with that error (a
// programming error in tests and fixed setups).
type Option func(*config)

type config struct {
	env, svc  string
	maxAge    time.Duration
	maxEvents int
	now       func() time.Time
	backend   *Backend
	err       error // the first invalid option value
}

// fail keeps the first invalid option value.
func (c *config) fail(format string, v ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("memstore: %w: "+format, append([]any{ports.ErrInvalid}, v...)...)
	}
}

// WithEnvironment sets the environment the store writes and reads under.
// Default "dev". It must be a valid subject token (event.CheckToken).
func WithEnvironment(env string) Option {
	return func(c *config) {
		c.checkToken("WithEnvironment", "environment", env)
		c.env = env
	}
}

// WithService sets the service the store writes and reads under. Default
// "naq". It must be a valid subject token (event.CheckToken).
func WithService(svc string) Option {
	return func(c *config) {
		c.checkToken("WithService", "service", svc)
		c.svc = svc
	}
}

// WithMaxAge removes events the store took more than d ago. Default 0, no
// limit; d must not be negative.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail("WithMaxAge(%v): must not be negative (0: no limit)", d)
		}
		c.maxAge = d
	}
}

// WithMaxEvents keeps at most n events of the store's environment and
// service, removing the oldest first. Default 0, no limit; n must not be
// negative.
func WithMaxEvents(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.fail("WithMaxEvents(%d): must not be negative (0: no limit)", n)
		}
		c.maxEvents = n
	}
}

// WithClock sets the clock that stamps stored events and decides their age,
// for tests. Default time.Now; nil is invalid. It should not run backwards:
// FromTime streams and age retention assume store times in store order.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.fail("WithClock(nil): give a clock, or leave the option out for time.Now")
		}
		c.now = now
	}
}

// WithBackend puts the store on b, shared with every other store on b.
// Default: a new backend of its own; nil is invalid.
func WithBackend(b *Backend) Option {
	return func(c *config) {
		if b == nil {
			c.fail("WithBackend(nil): give a backend, or leave the option out for one of its own")
		}
		c.backend = b
	}
}

func (c *config) checkToken(opt, field, v string) {
	if err := event.CheckToken(field, v); err != nil && c.err == nil {
		c.err = fmt.Errorf("memstore: %s(%q): %w", opt, v, err)
	}
}
