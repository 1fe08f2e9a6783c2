// Package storage opens the event store the configuration asks for —
// memory, file or JetStream — as a ports.Store, with the stream limits of
// config.Stream applied to whichever backend it is.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/ports"
)

// ErrNoConn is returned when JetStream storage is asked for without a NATS
// connection.
var ErrNoConn = errors.New("jetstream storage needs a NATS connection")

// EventsDir is where file storage keeps its log below cfg.DataDir.
func EventsDir(cfg config.Config) string { return filepath.Join(cfg.DataDir, "events") }

// Open returns the store named by cfg.Storage, writing under cfg.Environment
// and cfg.Service:
//
//   - memory: memstore with MaxAge and MaxMsgs as retention;
//   - file: filestore in DataDir/events with MaxAge, MaxMsgs and MaxBytes;
//   - jetstream: jsstore on nc, creating or updating the stream cfg.Stream
//     describes (name, limits, replicas, duplicate window). nc is not
//     owned by the store: its owner closes it after the store. Each
//     request waits at most jsstore.DefaultTimeout (5 s; less when ctx
//     ends sooner); a request the server refuses for lack of permission
//     fails at once, with an error wrapping jsstore.ErrPermission and, for
//     a connection made by natsconn.Connect, natsconn.ErrPermission, that
//     names the refused subject.
//
// Warnings go to slog.Default().
func Open(ctx context.Context, cfg config.Config, nc *nats.Conn) (ports.Store, error) {
	return open(ctx, cfg, nc, slog.Default())
}

func open(ctx context.Context, cfg config.Config, nc *nats.Conn, log *slog.Logger) (ports.Store, error) {
	st := cfg.Stream
	switch cfg.Storage {
	case config.StorageMemory:
		if st.MaxMsgs > int64(int(^uint(0)>>1)) {
			return nil, fmt.Errorf("--max-msgs %d: too large for memory storage: %w", st.MaxMsgs, ports.ErrInvalid)
		}
		s, err := memstore.Open(
			memstore.WithEnvironment(cfg.Environment),
			memstore.WithService(cfg.Service),
			memstore.WithMaxAge(st.MaxAge),
			memstore.WithMaxEvents(int(st.MaxMsgs)),
		)
		if err != nil {
			return nil, fmt.Errorf("open memory storage: %w", err)
		}
		return s, nil
	case config.StorageFile:
		dir := EventsDir(cfg)
		s, err := filestore.Open(dir,
			filestore.WithEnvironment(cfg.Environment),
			filestore.WithService(cfg.Service),
			filestore.WithMaxAge(st.MaxAge),
			filestore.WithMaxEvents(int(st.MaxMsgs)),
			filestore.WithMaxBytes(st.MaxBytes),
			filestore.WithSlog(log),
		)
		if err != nil {
			return nil, fmt.Errorf("open file storage in %s (--data-dir): %w", dir, err)
		}
		return s, nil
	case config.StorageJetStream:
		if nc == nil {
			return nil, ErrNoConn
		}
		since := time.Now() // a refusal from here on explains a failure (natsconn.Explain)
		s, err := jsstore.New(ctx, nc,
			jsstore.WithStream(st.Name),
			jsstore.WithEnvironment(cfg.Environment),
			jsstore.WithService(cfg.Service),
			jsstore.WithMaxAge(st.MaxAge),
			jsstore.WithMaxMsgs(st.MaxMsgs),
			jsstore.WithMaxBytes(st.MaxBytes),
			jsstore.WithReplicas(st.Replicas),
			jsstore.WithDuplicates(st.Duplicates),
			jsstore.WithSlog(log),
			// Every refused publish subject, not only nc.LastError's one.
			jsstore.WithPublishDenied(natsconn.PublishDenied(nc)),
		)
		if err != nil {
			// jsstore names a refused request (ErrPermission); Explain adds
			// natsconn.ErrPermission and the fix for a connection made by
			// natsconn.
			return nil, natsconn.Explain(nc, since, fmt.Errorf("open JetStream stream %q: %w", st.Name, err))
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--storage %q: want jetstream, memory or file: %w", cfg.Storage, ports.ErrInvalid)
	}
}
