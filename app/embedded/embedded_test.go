package embedded

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
)

func TestStart(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.EmbeddedPort = -1
	srv, err := Start(cfg, log)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cfg.DataDir, "nats"), srv.StoreDir())
	assert.True(t, srv.Running())

	t.Run("port in use", func(t *testing.T) {
		busy := cfg
		busy.DataDir = t.TempDir()
		busy.NATS.EmbeddedPort = srv.Port()
		_, err := Start(busy, log, natsembed.WithReadyTimeout(500*time.Millisecond))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--embedded-port")
		assert.Contains(t, err.Error(), "NATS_URL/--server")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, shutdownServer(ctx, srv))
	assert.False(t, srv.Running())
}
