package jsstore_test

import (
	"context"
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
// the inbox and the grant, rather than after its timeout (a minute here)
// as an unanswered request; a second New on the same connection, whose
// refusal came before it began, fails at once too. A user refused only
// another subscription on its connection gets its Store.
func TestNewEndsAtOnceWhenInboxRefused(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "noinbox", Password: "pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"_INBOX.>"}},
			}},
			{Username: "noother", Password: "pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"other.>"}},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})

	nc := connect(t, srv.ClientURL(), nats.UserInfo("noinbox", "pw"), quiet)
	for _, attempt := range []string{"first New", "second New"} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		_, err := jsstore.New(ctx, nc, jsstore.WithTimeout(time.Minute))
		t.Logf("%s: %v", attempt, err)
		require.ErrorIs(t, err, jsstore.ErrPermission, attempt)
		require.ErrorIs(t, err, ports.ErrForbidden, attempt)
		assert.NotErrorIs(t, err, ports.ErrUnavailable, "%s: a refusal is not transient", attempt)
		assert.Contains(t, err.Error(), `refused the user a subscription to "_INBOX.`, attempt)
		assert.Contains(t, err.Error(), `grant it subscribe on "_INBOX.>"`, attempt)
		require.NoError(t, ctx.Err(), "%s returned before ctx ended", attempt)
		cancel()
	}

	other := connect(t, srv.ClientURL(), nats.UserInfo("noother", "pw"), quiet)
	_, err = other.SubscribeSync("other.x")
	require.NoError(t, err)
	require.NoError(t, other.Flush()) // the -ERR comes before the PONG
	require.ErrorIs(t, other.LastError(), nats.ErrPermissionViolation, "the other subscription was refused")
	newStore(t, other)
}
