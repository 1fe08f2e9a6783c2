package storage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

func TestOpen(t *testing.T) {
	_, nc := natsembedtest.Connect(t)

	tests := []struct {
		kind    string
		nc      *nats.Conn
		backend string
		check   func(*testing.T, ports.Store)
		err     error
	}{
		{config.StorageMemory, nil, "memory", func(t *testing.T, s ports.Store) { assert.IsType(t, &memstore.Store{}, s) }, nil},
		{config.StorageFile, nil, "file", func(t *testing.T, s ports.Store) { assert.IsType(t, &filestore.Store{}, s) }, nil},
		{config.StorageJetStream, nc, "jetstream", func(t *testing.T, s ports.Store) {
			js := s.(*jsstore.Store)
			assert.Equal(t, "naq_test", js.StreamName())
		}, nil},
		{config.StorageJetStream, nil, "", nil, ErrNoConn},
		{"redis", nil, "", nil, ports.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.backend, func(t *testing.T) {
			cfg := config.Default()
			cfg.Storage = tt.kind
			cfg.DataDir = t.TempDir()
			cfg.Stream.Name = "naq_test"
			cfg.Stream.MaxAge = time.Hour
			cfg.Environment = "test"
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := open(ctx, cfg, tt.nc, slog.Default())
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, s.Close()) })
			tt.check(t, s)
			h, err := s.Health(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.backend, h.Backend)
			require.NoError(t, s.Store(ctx, event.Enqueued("j-1", "q", 1)))
			recs, err := s.List(ctx, event.Filter{JobID: "j-1"}, event.Page{})
			require.NoError(t, err)
			require.Len(t, recs, 1)
			assert.Equal(t, "test", recs[0].Environment, "writes under cfg.Environment")
		})
	}
}

// TestOpenBadSettingIsAnError: a setting a backend refuses is an error
// wrapping ports.ErrInvalid for every backend (memory storage used to panic).
func TestOpenBadSettingIsAnError(t *testing.T) {
	for _, kind := range []string{config.StorageMemory, config.StorageFile} {
		t.Run(kind, func(t *testing.T) {
			cfg := config.Default()
			cfg.Storage = kind
			cfg.DataDir = t.TempDir()
			cfg.Environment = "a.b" // not a subject token; Validate would refuse it
			var s ports.Store
			var err error
			require.NotPanics(t, func() { s, err = open(t.Context(), cfg, nil, slog.Default()) })
			require.ErrorIs(t, err, ports.ErrInvalid)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), `WithEnvironment`)
			assert.Contains(t, err.Error(), `"a.b"`)
		})
	}
}
