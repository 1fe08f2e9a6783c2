package jsstore_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/ports"
)

// TestNewEndsAtOnceWhenInboxRefused: a user who may publish the JetStream
// API requests but not subscribe to the connection's response inbox gets
// no answer to any of them (the server refuses the subscription with an
// asynchronous -ERR only). New fails at once with ErrPermission naming
// the inbox and the grant, rather than after its timeout (20 s here) as
// an unanswered request, with the default inbox prefix and a custom one.
// A second New on the same connection, whose refusal came before it
// began, fails at once too, and so does a third after another
// subscription's refusal has replaced the inbox's in LastError: nats.go
// subscribes the inbox again only on a reconnect. Once the grant is back
// (a config reload) and the connection has reconnected, New gets its
// Store. A user refused only another subscription gets its Store.
func TestNewEndsAtOnceWhenInboxRefused(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string // prefix "": nats.go's default, _INBOX
		inbox, grant string
	}{
		{"default inbox", "", `"_INBOX.`, `"_INBOX.>"`},
		{"custom inbox prefix", "naq.inbox", `"naq.inbox.`, `"naq.inbox.>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deny := "_INBOX.>"
			opts := []nats.Option{nats.UserInfo("app", "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
			if tc.prefix != "" {
				deny = tc.prefix + ".>"
				opts = append(opts, nats.CustomInboxPrefix(tc.prefix))
			}
			srv, reload := startReloadableServer(t, &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{deny, "other.>"}},
			})
			nc := connect(t, srv.ClientURL(), opts...)
			for _, attempt := range []string{"first New", "second New", "after another refusal"} {
				if attempt == "after another refusal" {
					_, err := nc.SubscribeSync("other.x")
					require.NoError(t, err)
					require.NoError(t, nc.Flush()) // the -ERR comes before the PONG
					require.ErrorContains(t, nc.LastError(), `"other.x"`, "LastError holds the other refusal now")
				}
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				_, err := jsstore.New(ctx, nc, jsstore.WithTimeout(20*time.Second))
				t.Logf("%s: %v", attempt, err)
				require.ErrorIs(t, err, jsstore.ErrPermission, attempt)
				require.ErrorIs(t, err, ports.ErrForbidden, attempt)
				assert.NotErrorIs(t, err, ports.ErrUnavailable, "%s: a refusal is not transient", attempt)
				assert.Contains(t, err.Error(), "refused the user a subscription to "+tc.inbox, attempt)
				assert.Contains(t, err.Error(), "grant it subscribe on "+tc.grant, attempt)
				require.NoError(t, ctx.Err(), "%s returned before ctx ended", attempt)
				cancel()
			}

			reload(nil, nc)
			before := nc.Stats().Reconnects
			require.NoError(t, nc.ForceReconnect())
			require.Eventually(t, func() bool { return nc.IsConnected() && nc.Stats().Reconnects > before },
				10*time.Second, 5*time.Millisecond, "reconnected")
			newStore(t, nc, jsstore.WithTimeout(20*time.Second)) // the refusal is not remembered past the reconnect
		})
	}

	t.Run("another subscription refused", func(t *testing.T) {
		srv, _ := startReloadableServer(t, &server.Permissions{
			Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"other.>"}},
		})
		other := connect(t, srv.ClientURL(), nats.UserInfo("app", "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
		_, err := other.SubscribeSync("other.x")
		require.NoError(t, err)
		require.NoError(t, other.Flush()) // the -ERR comes before the PONG
		require.ErrorIs(t, other.LastError(), nats.ErrPermissionViolation, "the other subscription was refused")
		newStore(t, other)
	})
}

// startReloadableServer starts a nats-server with JetStream and two users: app,
// with perms, and admin, with every permission. reload gives app other
// permissions (nil: every one) on the running server, as a config reload
// does, once the server is done with every request of the connections
// quiet: nats-server v2.15.2's reload writes the options a direct get
// reads without a lock (a data race under -race), and a flush's PONG
// comes after the server has handled every earlier message of its
// connection (a client's direct gets are handled inline).
func startReloadableServer(t *testing.T, perms *server.Permissions) (srv *server.Server, reload func(perms *server.Permissions, quiet ...*nats.Conn)) {
	t.Helper()
	users := func(perms *server.Permissions) []*server.User {
		return []*server.User{{Username: "app", Password: "pw", Permissions: perms}, {Username: "admin", Password: "pw"}}
	}
	opts := server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: users(perms),
	}
	srv, err := server.NewServer(&opts)
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	return srv, func(perms *server.Permissions, quiet ...*nats.Conn) {
		t.Helper()
		for _, nc := range quiet {
			require.NoError(t, nc.Flush())
		}
		o := opts
		o.Port = srv.Addr().(*net.TCPAddr).Port
		o.Users = users(perms)
		require.NoError(t, srv.ReloadOptions(&o))
	}
}
