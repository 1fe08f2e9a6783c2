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
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// startUsersServer starts a nats-server (JetStream when js) with users.
func startUsersServer(t *testing.T, js bool, users ...*server.User) string {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, Users: users}
	if js {
		opts.JetStream, opts.StoreDir = true, t.TempDir()
	}
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server not ready")
	return srv.ClientURL()
}

// adminUser may do anything.
func adminUser() *server.User { return &server.User{Username: "admin", Password: "admin-pw"} }

// pubOnly may publish only to allow (and receive replies).
func pubOnly(name string, allow ...string) *server.User {
	return &server.User{Username: name, Password: name + "-pw", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}}
}

// TestNew_RefusedRequestEndsAtOnce: for a user whose JetStream API
// requests the server refuses (no JetStream API at all; another stream's
// only; stream info but no update when the options differ), New fails
// with ErrPermission naming the refused subject although ctx and the
// store's timeout allow a minute: the refusal (an asynchronous -ERR) ends
// the request, which would otherwise only time out. With the default
// (nc.LastError) and with WithPublishDenied.
func TestNew_RefusedRequestEndsAtOnce(t *testing.T) {
	url := startUsersServer(t, true,
		&server.User{Username: "admin", Password: "admin-pw"},
		pubOnly("nojs", "naq.events.>"),
		pubOnly("other", "$JS.API.INFO", "$JS.API.STREAM.INFO.other"),
		pubOnly("noupdate", "naq.events.>", "$JS.API.STREAM.INFO.naq_events"),
	)
	newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")))

	cases := []struct {
		user, refused string
		opts          []jsstore.Option
	}{
		{"nojs", "$JS.API.STREAM.INFO.naq_events", nil},
		{"other", "$JS.API.STREAM.INFO.naq_events", nil},
		{"noupdate", "$JS.API.STREAM.UPDATE.naq_events", []jsstore.Option{jsstore.WithMaxAge(time.Hour)}},
	}
	for _, tc := range cases {
		for _, denied := range []string{"LastError", "WithPublishDenied"} {
			t.Run(tc.user+"/"+denied, func(t *testing.T) {
				rec := &refusals{at: map[string]time.Time{}}
				nc := connect(t, url, nats.UserInfo(tc.user, tc.user+"-pw"), nats.ErrorHandler(rec.handle))
				opts := append([]jsstore.Option{jsstore.WithTimeout(time.Minute)}, tc.opts...)
				if denied == "WithPublishDenied" {
					opts = append(opts, jsstore.WithPublishDenied(rec.denied))
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				start := time.Now()
				st, err := jsstore.New(ctx, nc, opts...)
				t.Logf("New after %s: %v", time.Since(start).Round(time.Millisecond), err)
				require.Error(t, err)
				assert.Nil(t, st)
				require.ErrorIs(t, err, jsstore.ErrPermission)
				assert.NotErrorIs(t, err, ports.ErrUnavailable, "a refusal is not a server to wait for")
				assert.NotErrorIs(t, err, context.DeadlineExceeded)
				assert.NoError(t, ctx.Err(), "New waited for ctx")
				assert.Contains(t, err.Error(), `jsstore: create or update stream "naq_events": `)
				assert.Contains(t, err.Error(), `the NATS server refused the user a publish to "`+tc.refused+`"`)
			})
		}
	}
}

// TestNew_NoAnswerIsBoundedByTimeout: a server whose JetStream API does
// not answer (a subscriber on $JS.API.> that never replies, as a busy or
// half-broken server) makes New fail once its time is up (ctx's deadline,
// or the store's timeout when ctx has none), with an error naming the
// request and wrapping ports.ErrUnavailable; no refusal is claimed, and no
// create or update follows the unanswered stream info. A server without
// JetStream (no responders: transient on a cluster that is starting) is
// retried until then, and fails as unavailable too.
func TestNew_NoAnswerIsBoundedByTimeout(t *testing.T) {
	t.Run("no answer", func(t *testing.T) {
		url := startUsersServer(t, false)
		nc := connect(t, url)
		sub, err := nc.SubscribeSync("$JS.API.>") // takes the requests, answers none
		require.NoError(t, err)
		defer func() { _ = sub.Unsubscribe() }()
		start := time.Now()
		_, err = jsstore.New(t.Context(), nc, jsstore.WithTimeout(200*time.Millisecond))
		took := time.Since(start)
		t.Logf("New after %s: %v", took.Round(time.Millisecond), err)
		require.ErrorIs(t, err, ports.ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, jsstore.ErrPermission)
		assert.Contains(t, err.Error(), `no answer to "$JS.API.STREAM.INFO.naq_events" within`)
		assert.Less(t, took, time.Minute, "New is bounded by the store's timeout")
		// Only stream infos: no create or update after one unanswered.
		n := 0
		for {
			m, err := sub.NextMsg(0)
			if err != nil {
				break
			}
			n++
			assert.Equal(t, "$JS.API.STREAM.INFO.naq_events", m.Subject)
		}
		assert.Positive(t, n, "requests New made")
	})
	t.Run("no JetStream", func(t *testing.T) {
		url := startUsersServer(t, false)
		nc := connect(t, url)
		start := time.Now()
		_, err := jsstore.New(t.Context(), nc, jsstore.WithTimeout(time.Second))
		took := time.Since(start)
		t.Logf("New after %s: %v", took.Round(time.Millisecond), err)
		require.ErrorIs(t, err, ports.ErrUnavailable)
		assert.NotErrorIs(t, err, jsstore.ErrPermission)
		assert.Contains(t, err.Error(), `jsstore: create or update stream "naq_events": `)
		assert.Less(t, took, time.Minute, "New is bounded by the store's timeout")
	})
}

// TestNew_RetriesEachRequestWithinItsDeadline: with a ctx longer than the
// store's timeout, each unanswered request ends at the timeout and is
// asked again until ctx's deadline; New then fails as unavailable.
func TestNew_RetriesEachRequestWithinItsDeadline(t *testing.T) {
	url := startUsersServer(t, false)
	nc := connect(t, url)
	sub, err := nc.SubscribeSync("$JS.API.>") // takes the requests, answers none
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_, err = jsstore.New(ctx, nc, jsstore.WithTimeout(200*time.Millisecond))
	require.ErrorIs(t, err, ports.ErrUnavailable)
	n, _, err := sub.Pending()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2, "stream infos asked: each bounded by the timeout, retried within ctx")
}

// TestStream_StartRefusedEndsAtOnce: a user who may read the stream's info
// but not create a consumer on it gets no answer to the consumer create,
// only the server's refusal. The Stream ends at once with an error that
// wraps ErrPermission (ports.ErrForbidden, a 403 on the API) and names the
// subject, whether or not ctx has a deadline: not at ctx's deadline, and
// not as "unavailable".
func TestStream_StartRefusedEndsAtOnce(t *testing.T) {
	url := startUsersServer(t, true, adminUser(), pubOnly("nocons", "$JS.API.STREAM.INFO.naq_events", "$JS.API.DIRECT.GET.naq_events", "$JS.API.INFO"))
	newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")))
	nc := connect(t, url, nats.UserInfo("nocons", "nocons-pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	st := newStore(t, nc, jsstore.WithTimeout(time.Minute))
	for _, deadline := range []time.Duration{0, 5 * time.Minute} {
		ctx, cancel := context.WithCancel(t.Context())
		if deadline > 0 {
			ctx, cancel = context.WithTimeout(t.Context(), deadline)
		}
		start := time.Now()
		var got error
		for _, err := range st.Stream(ctx, event.Filter{}, event.StreamOptions{}) {
			got = err
			break
		}
		took := time.Since(start)
		cancel()
		require.Error(t, got, "ctx deadline %v", deadline)
		assert.ErrorIs(t, got, jsstore.ErrPermission)
		assert.ErrorIs(t, got, ports.ErrForbidden)
		assert.NotErrorIs(t, got, ports.ErrUnavailable)
		assert.Contains(t, got.Error(), `"$JS.API.CONSUMER.CREATE.naq_events.`)
		assert.Less(t, took, 30*time.Second, "ended by the refusal, not by a timeout of a minute")
	}
}
