package jsconsume_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
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

// startPermServer starts a nats-server with JetStream and two users:
// admin, who may do anything, and proc, who may publish anywhere except to
// deny. As admin it creates the event stream and, with dlq, the
// dead-letter stream. It returns proc's JetStream context.
func startPermServer(t *testing.T, dlq bool, deny ...string) jetstream.JetStream {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "proc", Password: "proc-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	admin, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	require.NoError(t, err)
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	require.NoError(t, err)
	_, err = ajs.CreateStream(ctx, jetstream.StreamConfig{Name: jsconsume.DefaultStream, Subjects: []string{subject.StreamFilter()}})
	require.NoError(t, err)
	if dlq {
		_, err = ajs.CreateStream(ctx, jetstream.StreamConfig{Name: jsconsume.DefaultDeadLetterStream,
			Subjects: []string{jsconsume.DefaultDeadLetterPrefix + ".>"}})
		require.NoError(t, err)
	}

	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("proc", "proc-pw"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TestNewEndsAtOnceWhenRefused: the server answers a JetStream API request
// it refuses the user only with an asynchronous -ERR. New neither waits
// for the request's timeout nor tries it again until its ctx ends: it
// fails at once with an error wrapping ErrPermission and
// ports.ErrForbidden (not ports.ErrUnavailable) that names the refused
// subject. The request timeout is longer than ctx (10 minutes against 1),
// so a refusal recognised only once its request gave up would come after
// ctx ended.
func TestNewEndsAtOnceWhenRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dlq     bool // the dead-letter stream exists
		deny    string
		refused string // the start of the refused subject, as the error quotes it
		grant   string // the permission the error says to grant
	}{
		{"stream info", true, "$JS.API.STREAM.INFO.>",
			`"$JS.API.STREAM.INFO.naq_events"`, `"$JS.API.STREAM.INFO.naq_events"`},
		{"consumer info", true, "$JS.API.CONSUMER.INFO.>",
			`"$JS.API.CONSUMER.INFO.naq_events.naq-events-processor"`, `"$JS.API.CONSUMER.INFO.naq_events.naq-events-processor"`},
		{"consumer create", true, "$JS.API.CONSUMER.CREATE.>", // the default filter follows the durable
			`"$JS.API.CONSUMER.CREATE.naq_events.naq-events-processor.naq.events.`, `"$JS.API.CONSUMER.CREATE.naq_events.>"`},
		{"dead-letter stream create", false, "$JS.API.STREAM.CREATE.>",
			`"$JS.API.STREAM.CREATE.naq_events_dlq"`, `"$JS.API.STREAM.CREATE.naq_events_dlq"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := startPermServer(t, tc.dlq, tc.deny)
			rec := newRecordHandler()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err := jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(10*time.Minute), jsconsume.WithSlog(slog.New(rec)))
			require.ErrorIs(t, err, jsconsume.ErrPermission)
			require.ErrorIs(t, err, ports.ErrForbidden)
			assert.NotErrorIs(t, err, ports.ErrUnavailable, "a refusal is not transient")
			assert.Contains(t, err.Error(), "refused the user a publish to "+tc.refused, "names the refused subject")
			assert.Contains(t, err.Error(), "grant it publish on "+tc.grant)
			assert.Empty(t, rec.tries(), "not tried again")
			require.NoError(t, ctx.Err(), "returned before ctx ended")
		})
	}
}

// TestNewIgnoresOthersRefusals: on a connection shared with other code,
// a refusal of a subject that is not one of the Source's own requests does
// not end New, even when it arrives while New's request waits. A
// subscriber swallows every JetStream API request (as a cluster electing
// its leaders does) and, on each, publishes to a subject the user may not
// use, over the Source's own connection: every request of New waits while
// a refusal arrives. New goes on trying until ctx ends and then returns the
// last transient answer, never ErrPermission.
func TestNewIgnoresOthersRefusals(t *testing.T) {
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			{Username: "proc", Password: "proc-pw", Permissions: &server.Permissions{
				Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"other.>", "$JS.API.STREAM.INFO.other"}},
			}},
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")

	var refusals atomic.Int64
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("proc", "proc-pw"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				refusals.Add(1)
			}
		}))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	hole, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	require.NoError(t, err)
	t.Cleanup(hole.Close)
	var swallowed atomic.Int64
	_, err = hole.Subscribe("$JS.API.>", func(*nats.Msg) {
		others := []string{"other.x", "$JS.API.STREAM.INFO.other"}
		_ = nc.Publish(others[swallowed.Add(1)%2], nil) // refused; the request still waits
	})
	require.NoError(t, err)
	require.NoError(t, hole.Flush())

	rec := newRecordHandler()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = jsconsume.New(ctx, js, jsconsume.WithRequestTimeout(300*time.Millisecond), jsconsume.WithSlog(slog.New(rec)))
	require.ErrorIs(t, err, ports.ErrUnavailable, "the last transient answer")
	assert.NotErrorIs(t, err, jsconsume.ErrPermission, "another subject's refusal is not the Source's")
	assert.GreaterOrEqual(t, len(rec.tries()), 2, "tried again")
	assert.GreaterOrEqual(t, swallowed.Load(), int64(2), "requests swallowed")
	assert.Positive(t, refusals.Load(), "the other publishes were refused")
}
