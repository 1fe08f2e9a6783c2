package natsconn

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
)

func TestClientURL(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.NATS
		want string
	}{
		{"explicit", config.NATS{URL: "nats://a:1,nats://b:2", EmbeddedHost: "x", EmbeddedPort: 5}, "nats://a:1,nats://b:2"},
		{"embedded", config.NATS{EmbeddedHost: "127.0.0.1", EmbeddedPort: 4333}, "nats://127.0.0.1:4333"},
		{"wildcard host", config.NATS{EmbeddedHost: "0.0.0.0", EmbeddedPort: 4333}, "nats://127.0.0.1:4333"},
		{"random port", config.NATS{EmbeddedHost: "localhost", EmbeddedPort: -1}, "nats://localhost:4222"},
		{"ipv6", config.NATS{EmbeddedHost: "::1", EmbeddedPort: 4222}, "nats://[::1]:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ClientURL(tt.cfg))
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestOptions(t *testing.T) {
	base := config.Default().NATS
	seed := "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY" // a user nkey seed for tests
	tests := []struct {
		name   string
		mutate func(*config.NATS)
		want   string // error substring; "" = ok
		check  func(*testing.T, *nats.Options)
	}{
		{"design defaults", func(*config.NATS) {}, "", func(t *testing.T, o *nats.Options) {
			assert.Equal(t, 5*time.Second, o.Timeout)
			assert.Equal(t, 2*time.Second, o.ReconnectWait)
			assert.Equal(t, -1, o.MaxReconnect)
			assert.Equal(t, 2*time.Minute, o.PingInterval)
			assert.Equal(t, 2, o.MaxPingsOut)
			assert.NotNil(t, o.DisconnectedErrCB)
			assert.NotNil(t, o.ReconnectedCB)
			assert.NotNil(t, o.AsyncErrorCB)
		}},
		{"user password", func(c *config.NATS) { c.User, c.Password = "u", "p" }, "", func(t *testing.T, o *nats.Options) {
			assert.Equal(t, "u", o.User)
			assert.Equal(t, "p", o.Password)
		}},
		{"token", func(c *config.NATS) { c.Token = "tok" }, "", func(t *testing.T, o *nats.Options) {
			assert.Equal(t, "tok", o.Token)
		}},
		{"creds file", func(c *config.NATS) { c.Creds = writeFile(t, "u.creds", "x") }, "", func(t *testing.T, o *nats.Options) {
			assert.NotNil(t, o.UserJWT)
		}},
		{"nkey seed", func(c *config.NATS) { c.NKey = writeFile(t, "u.nk", seed) }, "", func(t *testing.T, o *nats.Options) {
			assert.True(t, strings.HasPrefix(o.Nkey, "U"))
		}},
		{"missing creds", func(c *config.NATS) { c.Creds = "/nonexistent/u.creds" }, `--creds "/nonexistent/u.creds" (env NATS_CREDS)`, nil},
		{"missing nkey", func(c *config.NATS) { c.NKey = "/nonexistent/u.nk" }, `--nkey "/nonexistent/u.nk"`, nil},
		{"bad nkey", func(c *config.NATS) { c.NKey = writeFile(t, "bad.nk", "not a seed") }, "--nkey", nil},
		{"missing ca", func(c *config.NATS) { c.CA = "/nonexistent/ca.pem" }, `--tlsca "/nonexistent/ca.pem" (env NATS_CA)`, nil},
		{"half key pair", func(c *config.NATS) { c.Cert = "c.pem" }, "give both or neither", nil},
		{"missing cert", func(c *config.NATS) { c.Cert, c.Key = "/nonexistent/c.pem", "/nonexistent/k.pem" }, `--tlscert "/nonexistent/c.pem"`, nil},
		{"negative timeout", func(c *config.NATS) { c.ConnectTimeout = -1 }, "must not be negative", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mutate(&cfg)
			opts, err := Options(cfg)
			if tt.want != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrConfig)
				assert.Contains(t, err.Error(), tt.want)
				return
			}
			require.NoError(t, err)
			o := nats.GetDefaultOptions()
			for _, opt := range opts {
				require.NoError(t, opt(&o))
			}
			tt.check(t, &o)
		})
	}
}

// freePort returns a port nothing listens on (it was free a moment ago).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func TestConnectUnreachable(t *testing.T) {
	port := freePort(t)
	t.Run("embedded default", func(t *testing.T) {
		cfg := config.Default().NATS
		cfg.EmbeddedPort = port
		cfg.ConnectTimeout = time.Second
		_, err := Connect(context.Background(), cfg, "test")
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrUnreachable)
		assert.Contains(t, err.Error(), "nats://127.0.0.1:")
		assert.Contains(t, err.Error(), "start `naq-events serve`")
		assert.Contains(t, err.Error(), "NATS_URL/--server")
	})
	t.Run("explicit url hides password", func(t *testing.T) {
		cfg := config.Default().NATS
		cfg.URL = "nats://bob:secret@127.0.0.1:" + strconv.Itoa(port)
		cfg.ConnectTimeout = time.Second
		_, err := Connect(context.Background(), cfg, "test")
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrUnreachable)
		assert.Contains(t, err.Error(), "bob:xxxxx@127.0.0.1")
		assert.NotContains(t, err.Error(), "secret")
	})
	t.Run("ctx already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Connect(ctx, config.Default().NATS, "test")
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestConnectAndDrain(t *testing.T) {
	srv, err := natsembed.Start()
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)

	cfg := config.Default().NATS
	cfg.URL = srv.ClientURL()
	nc, err := Connect(context.Background(), cfg, "naq-test")
	require.NoError(t, err)
	assert.True(t, nc.IsConnected())
	assert.Equal(t, "naq-test", nc.Opts.Name)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, registered := registry.Load(nc)
	require.True(t, registered, "Connect registers the connection for its permission denials")
	require.NoError(t, Drain(ctx, nc))
	assert.True(t, nc.IsClosed())
	// Drain chains the handler Connect set rather than replacing it: nats.go
	// runs the closed handler on its callback goroutine, so poll for it.
	assert.Eventually(t, func() bool { _, ok := registry.Load(nc); return !ok }, 5*time.Second, 5*time.Millisecond,
		"the connection's own closed handler ran: it left the permission registry")
	assert.NoError(t, Drain(ctx, nc), "draining a closed connection is a no-op")
}

// TestExplainRefusedIsNotUnreachable: a server that answered and refused
// (credentials, certificates) is ErrRefused, not ErrUnreachable, so the
// line does not send the user looking for a server that is down.
func TestExplainRefusedIsNotUnreachable(t *testing.T) {
	cfg := config.Default().NATS
	cfg.URL = "nats://127.0.0.1:4222"
	for _, cause := range []error{nats.ErrAuthorization, errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")} {
		err := explain(cfg, cfg.URL, cause)
		assert.ErrorIs(t, err, ErrRefused, "%v", cause)
		assert.NotErrorIs(t, err, ErrUnreachable, "%v", cause)
		assert.ErrorIs(t, err, cause)
	}
	err := explain(cfg, cfg.URL, nats.ErrNoServers)
	assert.ErrorIs(t, err, ErrUnreachable)
	assert.NotErrorIs(t, err, ErrRefused)
}
