package natsconn

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/app/config"
)

// connectLimited starts an in-process nats-server with one user, u with
// password p, limited to perms, and connects to it as u with Connect under
// name. The server and the connection are closed at cleanup.
func connectLimited(t *testing.T, perms *server.Permissions, name string) (*server.Server, *nats.Conn) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "u", Password: "p", Permissions: perms}}})
	require.NoError(t, err)
	go s.Start()
	t.Cleanup(s.Shutdown)
	require.True(t, s.ReadyForConnections(5*time.Second))

	cfg := config.Default().NATS
	cfg.URL, cfg.User, cfg.Password = s.ClientURL(), "u", "p"
	nc, err := Connect(context.Background(), cfg, name)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return s, nc
}
