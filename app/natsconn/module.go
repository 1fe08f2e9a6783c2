package natsconn

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
)

// ClientName is the NATS connection name of `naq-events serve`.
const ClientName = "naq-events serve"

// Params are the dependencies of the module's connection.
type Params struct {
	fx.In
	Shutdown *shutdown.Sequence
	Config   config.Config
	Log      *slog.Logger
	// Embedded is the in-process server when cfg.Embedded(); the connection
	// goes to it (its real port, which may have been picked at random).
	Embedded *natsembed.Server `optional:"true"`
}

// Module provides the *nats.Conn of the service, connected at construction
// within cfg.NATS.ConnectTimeout, and drains it at step shutdown.NATS, after
// everything that uses it has stopped.
var Module = fx.Module("natsconn",
	fx.Provide(New),
)

// New connects for the fx graph; see Module.
func New(p Params) (*nats.Conn, error) {
	cfg := p.Config.NATS
	if p.Embedded != nil {
		cfg.URL = p.Embedded.ClientURL()
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ConnectTimeout+timeoutSlack)
	defer cancel()
	nc, err := connect(ctx, cfg, ClientName, p.Log)
	if err != nil {
		return nil, err
	}
	p.Shutdown.Add(shutdown.NATS, func(ctx context.Context) error {
		return Drain(ctx, nc)
	})
	return nc, nil
}

// timeoutSlack keeps ctx from shortening cfg.ConnectTimeout.
const timeoutSlack = time.Second

// Drain drains nc (its subscriptions' pending messages are handled, its
// buffered publishes flushed) and waits until it is closed or ctx ends; then
// it closes nc at once and returns ctx's error.
func Drain(ctx context.Context, nc *nats.Conn) error {
	if nc.IsClosed() {
		return nil
	}
	closed := make(chan struct{})
	// Chained, not replaced: the handler Connect set removes nc from the
	// permission registry and logs why an unexpected close happened.
	prev := nc.ClosedHandler()
	nc.SetClosedHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		close(closed)
	})
	if nc.IsClosed() { // closed between the check and the handler
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		return nil //nolint:nilerr // a connection that cannot drain (already draining or reconnecting) is closed instead
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		nc.Close()
		return fmt.Errorf("drain the NATS connection: %w", ctx.Err())
	}
}
