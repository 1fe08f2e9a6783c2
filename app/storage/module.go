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
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/ports"
)

// Module provides the store of the given kind (config.StorageMemory,
// StorageFile or StorageJetStream) as ports.Store and as its concrete type,
// and closes it at step shutdown.Store (after its users stop, before the
// NATS connection it uses drains). jetstream needs a *nats.Conn in the
// graph (module natsconn).
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
func NewMemory(seq *shutdown.Sequence, cfg config.Config, log *slog.Logger) (*memstore.Store, error) {
	cfg.Storage = config.StorageMemory
	s, err := open(context.Background(), cfg, nil, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(seq, cfg.Storage, s)
	return s.(*memstore.Store), nil
}

// NewFile opens file storage in DataDir/events for the fx graph.
func NewFile(seq *shutdown.Sequence, cfg config.Config, log *slog.Logger) (*filestore.Store, error) {
	cfg.Storage = config.StorageFile
	s, err := open(context.Background(), cfg, nil, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(seq, cfg.Storage, s)
	return s.(*filestore.Store), nil
}

// NewJetStream opens JetStream storage on nc for the fx graph, creating or
// updating the stream within the connect timeout plus 5 s.
func NewJetStream(seq *shutdown.Sequence, cfg config.Config, log *slog.Logger, nc *nats.Conn) (*jsstore.Store, error) {
	cfg.Storage = config.StorageJetStream
	ctx, cancel := context.WithTimeout(context.Background(), cfg.NATS.ConnectTimeout+5*time.Second)
	defer cancel()
	s, err := open(ctx, cfg, nc, log)
	if err != nil {
		return nil, err
	}
	closeOnStop(seq, cfg.Storage, s)
	js := s.(*jsstore.Store)
	// The service keeps the server's per-block subject index loaded, so a
	// job history costs the same right after a restart as later
	// (docs/performance.md, "Reads at scale"); short-lived commands do not.
	js.KeepIndexWarm(jsstore.DefaultWarmInterval)
	return js, nil
}

func closeOnStop(seq *shutdown.Sequence, kind string, s io.Closer) {
	seq.Add(shutdown.Store, func(context.Context) error {
		if err := s.Close(); err != nil {
			return fmt.Errorf("close the %s store: %w", kind, err)
		}
		return nil
	})
}
