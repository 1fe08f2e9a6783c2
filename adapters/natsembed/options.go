package natsembed

import (
	"log/slog"
	"time"
)

type config struct {
	storeDir   string
	port       int
	host       string
	serverName string
	maxPayload int32
	logger     *slog.Logger
	readyWait  time.Duration
}

// Option configures Start.
type Option func(*config)

func defaults() config {
	return config{
		port:      -1,
		host:      "127.0.0.1",
		readyWait: defaultReadyWait,
	}
}

// WithStoreDir sets the JetStream store directory. By default a fresh
// temporary directory is created and removed by Shutdown. A directory given
// here is never removed. An empty dir keeps the default.
func WithStoreDir(dir string) Option { return func(c *config) { c.storeDir = dir } }

// WithPort sets the client port. The default, -1, picks a free port; 0 means
// nats-server's own default (4222). After the first start the chosen port is
// kept for Restart, see Server.Port.
func WithPort(p int) Option { return func(c *config) { c.port = p } }

// WithHost sets the listen address. Default "127.0.0.1"; empty keeps the
// default.
func WithHost(h string) Option {
	return func(c *config) {
		if h != "" {
			c.host = h
		}
	}
}

// WithServerName sets the server name. Default: nats-server's generated id.
func WithServerName(name string) Option { return func(c *config) { c.serverName = name } }

// WithMaxPayload sets the largest message the server accepts, in bytes.
// Default (and for n ≤ 0): nats-server's default of 1 MiB.
func WithMaxPayload(n int32) Option {
	return func(c *config) {
		if n > 0 {
			c.maxPayload = n
		}
	}
}

// WithLogger bridges the server's log to l: notices at Info, warnings at
// Warn, errors and fatals at Error, debug at Debug and trace at Debug-4
// (debug and trace are only produced when l is enabled at Debug). Default
// (and for nil): the server logs nothing.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithReadyTimeout bounds how long Start and Restart wait for the server to
// accept connections. Default 10 s; d ≤ 0 keeps the default.
func WithReadyTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.readyWait = d
		}
	}
}
