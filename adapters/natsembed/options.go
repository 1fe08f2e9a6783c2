package natsembed

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/naq-go/events/ports"
)

// Defaults of the options.
const (
	DefaultHost         = "127.0.0.1"      // WithHost: loopback only
	DefaultPort         = -1               // WithPort: a free port, picked at start
	DefaultReadyTimeout = 10 * time.Second // WithReadyTimeout
	// StandardPort is nats-server's own client port, 4222, which WithPort(0)
	// asks for.
	StandardPort = server.DEFAULT_PORT
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

// Option configures Start. An option given a value outside the range its
// comment states makes Start fail with an error wrapping ports.ErrInvalid
// that names the option and the value; an empty or nil value means the
// default where the comment says so.
type Option func(*config)

func defaults() config {
	return config{
		port:      DefaultPort,
		host:      DefaultHost,
		readyWait: DefaultReadyTimeout,
	}
}

// check reports the first option value outside its range.
func (c *config) check() error {
	bad := func(format string, v ...any) error {
		return fmt.Errorf("natsembed: %w: "+format, append([]any{ports.ErrInvalid}, v...)...)
	}
	switch {
	case c.port < -1 || c.port > 65535:
		return bad("WithPort(%d): want -1 (a free port), 0 (%d) or 1 to 65535", c.port, StandardPort)
	case c.maxPayload < 0 || c.maxPayload > server.MAX_PENDING_SIZE:
		return bad("WithMaxPayload(%d): want 1 to %d bytes, or 0 for the server's default", c.maxPayload, server.MAX_PENDING_SIZE)
	case c.readyWait <= 0:
		return bad("WithReadyTimeout(%v): want a positive duration", c.readyWait)
	case strings.ContainsFunc(c.serverName, unicode.IsSpace):
		return bad("WithServerName(%q): want a name without white space (nats-server refuses spaces)", c.serverName)
	}
	return nil
}

// WithStoreDir sets the JetStream store directory. By default a fresh
// temporary directory is created and removed by Shutdown. A directory given
// here is never removed. An empty dir keeps the default.
func WithStoreDir(dir string) Option { return func(c *config) { c.storeDir = dir } }

// WithPort sets the client port, -1 to 65535. The default, -1, picks a free
// port; 0 means nats-server's own default (StandardPort, 4222). After the
// first start the chosen port is kept for Restart, see Server.Port.
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

// WithServerName sets the server name. Default (and for ""): nats-server's
// generated id; a name with white space is invalid.
func WithServerName(name string) Option { return func(c *config) { c.serverName = name } }

// WithMaxPayload sets the largest message the server accepts, in bytes.
// Default (and for 0): nats-server's default of 1 MiB; at most 64 MiB (the
// server's pending limit per client); negative or larger is invalid.
func WithMaxPayload(n int32) Option { return func(c *config) { c.maxPayload = n } }

// WithSlog bridges the server's log to l: notices at Info, warnings at
// Warn, errors and fatals at Error, debug at Debug and trace at Debug-4
// (debug and trace are only produced when l is enabled at Debug). Default
// (and for nil): the server logs nothing.
func WithSlog(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithReadyTimeout bounds how long Start and Restart wait for the server to
// accept connections. Default 10 s; it must be > 0.
func WithReadyTimeout(d time.Duration) Option { return func(c *config) { c.readyWait = d } }
