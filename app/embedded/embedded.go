// Package embedded runs the in-process nats-server (adapters/natsembed) of
// `naq-events serve` when no NATS URL is configured, so a new user needs
// nothing installed.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
)

// StoreDir is where the embedded server keeps JetStream data below cfg.DataDir.
func StoreDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "nats") }

// Start starts a nats-server with JetStream listening on
// cfg.NATS.EmbeddedHost:EmbeddedPort (-1 picks a free port), storing under
// StoreDir(cfg). The server's notices are logged to log only at debug level;
// its warnings and errors always are. extra options come last and win.
func Start(cfg config.Config, log *slog.Logger, extra ...natsembed.Option) (*natsembed.Server, error) {
	dir := StoreDir(cfg)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create the embedded NATS store %s (--data-dir): %w", dir, err)
	}
	port := cfg.NATS.EmbeddedPort
	if port == 0 {
		port = natsembed.StandardPort
	}
	opts := []natsembed.Option{
		natsembed.WithHost(cfg.NATS.EmbeddedHost),
		natsembed.WithPort(port),
		natsembed.WithStoreDir(dir),
		natsembed.WithServerName("naq-events"),
		natsembed.WithSlog(slog.New(&minLevel{min: slog.LevelWarn, Handler: log.Handler()}).With("component", "nats-server")),
	}
	srv, err := natsembed.Start(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("start the embedded NATS server on %s:%d (data in %s): %w; "+
			"is another `naq-events serve` or nats-server running? pick another --embedded-port or set NATS_URL/--server",
			cfg.NATS.EmbeddedHost, port, dir, err)
	}
	return srv, nil
}

// minLevel drops records below min unless the wrapped handler is enabled
// at debug level (then everything passes).
type minLevel struct {
	min slog.Level
	slog.Handler
}

func (h *minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	if h.Handler.Enabled(ctx, slog.LevelDebug) {
		return true
	}
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h *minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return &minLevel{min: h.min, Handler: h.Handler.WithAttrs(as)}
}

func (h *minLevel) WithGroup(name string) slog.Handler {
	return &minLevel{min: h.min, Handler: h.Handler.WithGroup(name)}
}

// Module provides the running *natsembed.Server and shuts it down at step
// shutdown.Embedded, the last. Include it only when cfg.Embedded(); the
// natsconn module then connects to it.
var Module = fx.Module("embedded-nats",
	fx.Provide(func(seq *shutdown.Sequence, cfg config.Config, log *slog.Logger) (*natsembed.Server, error) {
		srv, err := Start(cfg, log)
		if err != nil {
			return nil, err
		}
		seq.Add(shutdown.Embedded, func(ctx context.Context) error {
			return shutdownServer(ctx, srv)
		})
		return srv, nil
	}),
)

// shutdownServer shuts srv down, giving up waiting when ctx ends (the shutdown
// then finishes in the background before the process exits).
func shutdownServer(ctx context.Context, srv *natsembed.Server) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Shutdown()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down the embedded NATS server: %w", ctx.Err())
	}
}
