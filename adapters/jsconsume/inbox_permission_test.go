package jsconsume_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// startSubDenyServer starts a nats-server with JetStream, the event stream
// (made by admin) and a user proc who may publish anywhere and subscribe
// anywhere except to deny. It returns the server's client URL.
func startSubDenyServer(t *testing.T, deny ...string) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "proc", Password: "proc-pw", Permissions: &server.Permissions{
				Subscribe: &server.SubjectPermission{Allow: []string{">"}, Deny: deny},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	admin, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	require.NoError(t, err)
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	require.NoError(t, err)
	_, err = ajs.CreateStream(t.Context(), jetstream.StreamConfig{Name: jsconsume.DefaultStream, Subjects: []string{subject.StreamFilter()}})
	require.NoError(t, err)
	return srv.ClientURL()
}

// procJS connects as proc (with extra options) and returns the connection's
// JetStream context.
func procJS(t *testing.T, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	opts = append([]nats.Option{nats.UserInfo("proc", "proc-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}, opts...)
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TestNewEndsAtOnceWhenInboxRefused: a user who may publish the JetStream
// API requests but not subscribe to the connection's response inbox gets
// no answer to any of them: the server refuses the inbox's subscription
// with an asynchronous -ERR only. New does not take that for a silent
// server (its requests would wait 10 minutes each, tried again until ctx
// ended): it fails at once with ErrPermission naming the inbox and the
// grant, with the default inbox prefix and a custom one. A second New on
// the same connection, whose refusal came before it began, fails at once
// too: the subscription is not made again before a reconnect. So does a
// third, after another subscription's refusal has replaced the inbox's in
// the connection's LastError.
func TestNewEndsAtOnceWhenInboxRefused(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string // prefix "": nats.go's default, _INBOX
		grant        string
	}{
		{"default inbox", "", `"_INBOX.>"`},
		{"custom inbox prefix", "naq.inbox", `"naq.inbox.>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deny := "_INBOX.>"
			var opts []nats.Option
			if tc.prefix != "" {
				deny = tc.prefix + ".>"
				opts = append(opts, nats.CustomInboxPrefix(tc.prefix))
			}
			js := procJS(t, startSubDenyServer(t, deny, "other.>"), opts...)
			for _, attempt := range []string{"first New", "second New", "after another refusal"} {
				if attempt == "after another refusal" {
					nc := js.Conn()
					_, err := nc.SubscribeSync("other.x")
					require.NoError(t, err)
					require.NoError(t, nc.Flush()) // the -ERR comes before the PONG
					require.ErrorContains(t, nc.LastError(), `"other.x"`, "LastError holds the other refusal now")
				}
				rec := newRecordHandler()
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				_, err := jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(10*time.Minute), jsconsume.WithSlog(slog.New(rec)))
				t.Logf("%s: %v", attempt, err)
				require.ErrorIs(t, err, jsconsume.ErrPermission, attempt)
				require.ErrorIs(t, err, ports.ErrForbidden, attempt)
				assert.NotErrorIs(t, err, ports.ErrUnavailable, "%s: a refusal is not transient", attempt)
				want := "_INBOX."
				if tc.prefix != "" {
					want = tc.prefix + "."
				}
				assert.Contains(t, err.Error(), `refused the user a subscription to "`+want, "%s names the refused inbox", attempt)
				assert.Contains(t, err.Error(), "grant it subscribe on "+tc.grant, attempt)
				assert.Empty(t, rec.tries(), "%s: not tried again", attempt)
				require.NoError(t, ctx.Err(), "%s returned before ctx ended", attempt)
				cancel()
			}
		})
	}
}

// TestNewIgnoresOthersSubscriptionRefusals: a refused subscription of
// other code on a shared connection, still the connection's LastError
// when New begins, is not the Source's: New makes the consumer.
func TestNewIgnoresOthersSubscriptionRefusals(t *testing.T) {
	url := startSubDenyServer(t, "other.>")
	js := procJS(t, url)
	nc := js.Conn()
	_, err := nc.SubscribeSync("other.x")
	require.NoError(t, err)
	require.NoError(t, nc.Flush()) // the -ERR comes before the PONG
	require.ErrorIs(t, nc.LastError(), nats.ErrPermissionViolation, "the other subscription was refused")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src, err := jsconsume.New(ctx, js, jsconsume.WithSlog(slog.New(newRecordHandler())))
	require.NoError(t, err)
	require.NotNil(t, src)
}
