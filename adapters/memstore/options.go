package memstore

import (
	"fmt"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Option configures a Store made by New. An invalid value is a programming
// error: New panics with a message naming the option and the value.
type Option func(*config)

type config struct {
	env, svc  string
	maxAge    time.Duration
	maxEvents int
	now       func() time.Time
	backend   *Backend
}

// WithEnvironment sets the environment the store writes and reads under.
// Default "dev". It must be a valid subject token (event.CheckToken).
func WithEnvironment(env string) Option {
	return func(c *config) {
		mustToken("WithEnvironment", "environment", env)
		c.env = env
	}
}

// WithService sets the service the store writes and reads under. Default
// "naq". It must be a valid subject token (event.CheckToken).
func WithService(svc string) Option {
	return func(c *config) {
		mustToken("WithService", "service", svc)
		c.svc = svc
	}
}

// WithMaxAge removes events the store took more than d ago. Default 0, no
// limit; d must not be negative.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			panic(fmt.Sprintf("memstore: WithMaxAge(%v): must not be negative", d))
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
			panic(fmt.Sprintf("memstore: WithMaxEvents(%d): must not be negative", n))
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
			panic("memstore: WithClock(nil)")
		}
		c.now = now
	}
}

// WithBackend puts the store on b, shared with every other store on b.
// Default: a new backend of its own; nil is invalid.
func WithBackend(b *Backend) Option {
	return func(c *config) {
		if b == nil {
			panic("memstore: WithBackend(nil)")
		}
		c.backend = b
	}
}

func mustToken(opt, field, v string) {
	if err := event.CheckToken(field, v); err != nil {
		panic(fmt.Sprintf("memstore: %s(%q): %v", opt, v, err))
	}
}
