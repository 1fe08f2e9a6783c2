package storage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/ports"
)

// TestOpenRefusedNamesThePermission: opening JetStream storage as a user
// the server refuses the stream's API (no JetStream API; another stream's
// only) fails with natsconn.ErrPermission and jsstore.ErrPermission,
// naming the refused subject, long before a one-minute ctx ends (the
// refusal ends the request; it used to wait for all of ctx).
func TestOpenRefusedNamesThePermission(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "nojs", Password: "nojs-pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"naq.events.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
			{Username: "other", Password: "other-pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.other", "$JS.API.DIRECT.GET.other"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))

	for _, user := range []string{"nojs", "other"} {
		t.Run(user, func(t *testing.T) {
			cfg := config.Default()
			cfg.NATS.URL = srv.ClientURL()
			cfg.NATS.User, cfg.NATS.Password = user, user+"-pw"
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			nc, err := natsconn.Connect(ctx, cfg.NATS, "storage test")
			require.NoError(t, err)
			defer nc.Close()
			start := time.Now()
			s, err := open(ctx, cfg, nc, slog.New(slog.DiscardHandler))
			t.Logf("open after %s: %v", time.Since(start).Round(time.Millisecond), err)
			require.Error(t, err)
			assert.Nil(t, s)
			require.ErrorIs(t, err, natsconn.ErrPermission)
			require.ErrorIs(t, err, jsstore.ErrPermission)
			assert.NotErrorIs(t, err, ports.ErrUnavailable)
			assert.NotErrorIs(t, err, ports.ErrInvalid, "not a setting to fix")
			assert.Contains(t, err.Error(), `NATS refused a publish to "$JS.API.STREAM.INFO.naq_events" (permissions violation)`)
			assert.Contains(t, err.Error(), `open JetStream stream "naq_events"`)
			assert.NoError(t, ctx.Err(), "open waited for ctx")
		})
	}
}
