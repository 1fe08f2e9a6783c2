package natsembed_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-go/events/adapters/natsembed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartDefaults(t *testing.T) {
	srv, err := natsembed.Start()
	require.NoError(t, err)
	dir := srv.StoreDir()
	assert.DirExists(t, dir)
	assert.NotZero(t, srv.Port())
	assert.NotEqual(t, -1, srv.Port())
	assert.True(t, srv.Running())

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.AccountInfo(context.Background())
	require.NoError(t, err, "JetStream must be enabled")
	nc.Close()

	srv.Shutdown()
	assert.False(t, srv.Running())
	assert.NoDirExists(t, dir, "a temporary store dir is removed on Shutdown")
	srv.Shutdown() // idempotent
	assert.Error(t, srv.Restart(), "no restart after Shutdown")
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuf{}
	srv, err := natsembed.Start(
		natsembed.WithStoreDir(dir),
		natsembed.WithHost("127.0.0.1"),
		natsembed.WithServerName("naq-test"),
		natsembed.WithMaxPayload(4096),
		natsembed.WithSlog(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	)
	require.NoError(t, err)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	assert.EqualValues(t, 4096, nc.MaxPayload())
	assert.Equal(t, "naq-test", nc.ConnectedServerName())
	nc.Close()
	srv.Shutdown()
	assert.DirExists(t, dir, "a caller's store dir is kept")
	assert.Contains(t, logs.String(), "component=nats-server")
	assert.Contains(t, logs.String(), "Server is ready")
}

func TestStartFailsOnBusyPort(t *testing.T) {
	a, err := natsembed.Start()
	require.NoError(t, err)
	defer a.Shutdown()
	_, err = natsembed.Start(natsembed.WithPort(a.Port()), natsembed.WithReadyTimeout(2*time.Second))
	require.Error(t, err)
}

func TestStopRestartKeepsDataAndPort(t *testing.T) {
	srv, err := natsembed.Start()
	require.NoError(t, err)
	defer srv.Shutdown()
	port, url := srv.Port(), srv.ClientURL()

	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(url,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s.1", []byte("kept"))
	require.NoError(t, err)

	srv.Stop()
	assert.False(t, srv.Running())
	assert.DirExists(t, srv.StoreDir(), "Stop keeps the store")
	require.NoError(t, srv.Restart())
	assert.Equal(t, port, srv.Port())
	assert.Equal(t, url, srv.ClientURL())

	select {
	case <-reconnected:
	case <-ctx.Done():
		t.Fatal("client did not reconnect")
	}
	st, err := js.Stream(ctx, "S")
	require.NoError(t, err)
	msg, err := st.GetLastMsgForSubject(ctx, "s.1")
	require.NoError(t, err)
	assert.Equal(t, "kept", string(msg.Data))
}
