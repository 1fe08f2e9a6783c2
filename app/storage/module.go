package storage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/ports"
)

// Module provides the store of the given kind (config.StorageMemory,
// StorageFile or StorageJetStream) as ports.Store and as its concrete type,
// and closes it on stop (before the NATS connection it uses is drained).
// jetstream needs a *nats.Conn in the graph (module natsconn).
func Module(kind string) fx.Option {
	var provide any
	switch kind {
	case config.StorageMemory:
		provide = fx.Annotate(NewMemory, fx.As(new(ports.Store)), fx.As(fx.Self()))
	case config.StorageFile:
		provide = fx.Annotate(NewFile, fx.As(new(ports.Store)), fx.As(fx.Self()))
	case config.StorageJetStream:
		provide = fx.Annotate(NewJetStream, fx.As(new(ports.Store)), fx.As(fx.Self()))
	default:
		return fx.Error(fmt.Errorf("--storage %q: want jetstream, memory or file: %w", kind, ports.ErrInvalid))
	}
	return fx.Module("storage", fx.Provide(provide))
}

// NewMemory opens memory storage for the fx graph.
func NewMemory(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*memstore.Store, error) {
	cfg.Storage = config.StorageMemory
	s, err := open(context.Background(), cfg, nil, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(lc, cfg.Storage, s)
	return s.(*memstore.Store), nil
}

// NewFile opens file storage in DataDir/events for the fx graph.
func NewFile(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*filestore.Store, error) {
	cfg.Storage = config.StorageFile
	s, err := open(context.Background(), cfg, nil, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(lc, cfg.Storage, s)
	return s.(*filestore.Store), nil
}

// NewJetStream opens JetStream storage on nc for the fx graph, creating or
// updating the stream within the connect timeout plus 5 s.
func NewJetStream(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, nc *nats.Conn) (*jsstore.Store, error) {
	cfg.Storage = config.StorageJetStream
	ctx, cancel := context.WithTimeout(context.Background(), cfg.NATS.ConnectTimeout+5*time.Second)
	defer cancel()
	s, err := open(ctx, cfg, nc, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(lc, cfg.Storage, s)
	return s.(*jsstore.Store), nil
}

func closeOnStop(lc fx.Lifecycle, kind string, s io.Closer) {
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		if err := s.Close(); err != nil {
			return fmt.Errorf("close the %s store: %w", kind, err)
		}
		return nil
	}})
}
