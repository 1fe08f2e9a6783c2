package jsstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
)

// TestNewBindsWithoutUpdate: a user who may read stream info but not
// update the stream opens a store whose options the stream already has
// (New binds, no $JS.API.STREAM.UPDATE), reads and writes through it, and
// is refused, with the update named, when its options differ.
func TestNewBindsWithoutUpdate(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "user", Password: "user-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{
					Allow: []string{"naq.events.>", "$JS.API.>"},
					Deny:  []string{"$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.CREATE.>"},
				},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))
	url := srv.ClientURL()

	opts := []jsstore.Option{jsstore.WithEnvironment("prod"), jsstore.WithService("billing"), jsstore.WithMaxAge(time.Hour)}
	newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")), opts...)

	nc := connect(t, url, nats.UserInfo("user", "user-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	st := newStore(t, nc, opts...)
	ctx := t.Context()
	ev := event.New("j1", event.TypeEnqueued)
	require.NoError(t, st.Store(ctx, ev))
	got, err := st.Job(ctx, "j1", event.Page{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, ev.ID, got[0].ID)

	// Other limits need an update, which this user may not make.
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = jsstore.New(short, nc, append(opts, jsstore.WithMaxAge(2*time.Hour), jsstore.WithTimeout(2*time.Second))...)
	require.Error(t, err, "a store with other limits must update the stream")
	require.Contains(t, err.Error(), "create or update stream")
}
