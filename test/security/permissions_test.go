package security

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/storage"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// The minimal permissions of docs/operations.md (Security), for the
// stream naq_events: a producer of environment prod, service billing, and
// a reader. Both also subscribe to _INBOX.> for replies.
var (
	producerPub = []string{"naq.events.prod.billing.>", "$JS.API.STREAM.INFO.naq_events"}
	readerPub   = []string{"$JS.API.STREAM.INFO.naq_events", "$JS.API.DIRECT.GET.naq_events",
		"$JS.API.CONSUMER.CREATE.naq_events.>", "$JS.API.CONSUMER.MSG.NEXT.naq_events.>",
		"$JS.API.CONSUMER.DELETE.naq_events.>", "$JS.API.CONSUMER.INFO.naq_events.>", "$JS.ACK.naq_events.>"}
	inboxSub = []string{"_INBOX.>"}
)

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// permsConf is the set-up of docs/operations.md: an operator (admin) who
// owns the stream, a producer for one service, a reader, and a user
// without the JetStream API.
var permsConf = fmt.Sprintf(`
authorization {
  users = [
    {user: admin, password: admin-pw}
    {user: producer, password: producer-pw, permissions: {publish: {allow: %s}, subscribe: {allow: %s}}}
    {user: reader, password: reader-pw, permissions: {publish: {allow: %s}, subscribe: {allow: %s}}}
    {user: service, password: service-pw, permissions: {publish: {allow: ["naq.events.>", "$JS.API.>", "$JS.ACK.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
    {user: nojs, password: nojs-pw, permissions: {publish: {allow: ["naq.events.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
  ]
}
`, quoted(producerPub), quoted(inboxSub), quoted(readerPub), quoted(inboxSub))

func permsClient(url, user string) config.Config {
	cfg := config.Default()
	cfg.NATS.URL = url
	cfg.NATS.User, cfg.NATS.Password = user, user+"-pw"
	cfg.Environment, cfg.Service = "prod", "billing"
	return cfg
}

func openAs(t *testing.T, ctx context.Context, cfg config.Config) (*logger.Logger, func()) {
	t.Helper()
	nc, err := natsconn.Connect(ctx, cfg.NATS, "perm test")
	require.NoError(t, err)
	store, err := storage.Open(ctx, cfg, nc)
	require.NoError(t, err)
	// One call in flight: the tests count retries of refused batches, and
	// with pipelining how the flusher happens to split a burst (a call
	// chained behind a refused one is retried, not refused) varies.
	lg := logger.New(store, logger.WithBatchSize(10), logger.WithFlushInterval(10*time.Millisecond), logger.WithPipelineDepth(1))
	return lg, func() { _ = store.Close(); nc.Close() }
}

// createStreamAsAdmin opens the store as admin, which creates the stream,
// and closes it: the operator's step before a producer logs.
func createStreamAsAdmin(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	admin, done := openAs(t, ctx, permsClient(url, "admin"))
	defer done()
	require.NoError(t, admin.Close(ctx))
}

// TestPermissions_Producer: a producer allowed to publish only
// naq.events.prod.billing.> (and the stream calls the library makes on
// open) logs billing events.
func TestPermissions_Producer(t *testing.T) {
	url := startNATS(t, permsConf)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	createStreamAsAdmin(t, ctx, url)

	lg, done := openAs(t, ctx, permsClient(url, "producer"))
	defer done()
	for i := range 3 {
		require.NoError(t, lg.LogSync(ctx, event.Enqueued(fmt.Sprintf("bill-%d", i), "q", 1)))
	}
	require.NoError(t, lg.Close(ctx))
	st := lg.Stats()
	assert.Equal(t, uint64(3), st.Stored)
	assert.Zero(t, st.Dropped.Total())
}

// TestPermissions_ReaderAndNoJetStream: a reader can history and tail but
// not purge, and a user without the JetStream API gets an error naming the
// refused subject from every read; no command hangs.
func TestPermissions_ReaderAndNoJetStream(t *testing.T) {
	url := startNATS(t, permsConf)
	as := func(user string, kv ...string) []string {
		return baseEnv(t, append([]string{"NATS_URL=" + url, "NATS_USER=" + user, "NATS_PASSWORD=" + user + "-pw"}, kv...)...)
	}
	r := run(t, nil, as("admin"), "", "log", "--job", "perm-1", "--type", "enqueued", "--queue", "q")
	require.Equal(t, 0, r.code, r.stderr)

	r = run(t, nil, as("reader"), "", "history", "perm-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(dev/naq): 1 event\n")
	r = run(t, nil, as("reader"), "", "tail", "--history", "--job", "perm-1", "--count", "1", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"job_id":"perm-1"`)

	r = run(t, nil, as("reader"), "", "purge", "--yes", "perm-1")
	requireLastLine(t, r, `naq-events purge: `, `NATS refused a publish to "$JS.API.STREAM.PURGE.naq_events" (permissions violation)`)
	assert.NotContains(t, r.stderr, "deadline exceeded", "the refusal ends the purge, not its timeout")
	r = run(t, nil, as("admin"), "", "history", "perm-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(dev/naq): 1 event\n", "the refused purge deleted nothing")

	for _, args := range [][]string{{"history", "perm-1"}, {"tail", "--count", "1"}} {
		r = run(t, nil, as("nojs"), "", args...)
		requireLastLine(t, r, "naq-events "+args[0]+": ", `NATS refused a publish to "$JS.API.`, "permissions violation")
		assert.Less(t, r.took, 20*time.Second)
	}
}

// requireLastLine checks a failed run (exit 1, no stack) whose last stderr
// line holds want.
func requireLastLine(t *testing.T, r result, want ...string) {
	t.Helper()
	require.Equal(t, 1, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.NotContains(t, r.stderr, "goroutine ")
	t.Logf("exit %d after %s: %s", r.code, r.took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	for _, w := range want {
		require.Contains(t, last, w)
	}
}

// TestPermissions_JWTReader: the reader's permissions as a user JWT (the
// JWT example of docs/operations.md) allow history but not purge.
func TestPermissions_JWTReader(t *testing.T) {
	op := newOperator(t)
	url := startNATS(t, op.conf)
	admin := op.user(t, "admin", nil)
	reader := op.user(t, "reader", &jwt.Permissions{
		Pub: jwt.Permission{Allow: readerPub},
		Sub: jwt.Permission{Allow: inboxSub},
	})
	as := func(creds string) []string { return baseEnv(t, "NATS_URL="+url, "NATS_CREDS="+creds) }
	r := run(t, nil, as(admin), "", "log", "--job", "jwt-1", "--type", "enqueued")
	require.Equal(t, 0, r.code, r.stderr)
	r = run(t, nil, as(reader), "", "history", "jwt-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(dev/naq): 1 event\n")
	r = run(t, nil, as(reader), "", "purge", "--yes", "jwt-1")
	requireLastLine(t, r, `NATS refused a publish to "$JS.API.STREAM.PURGE.naq_events"`)
}

// TestPermissions_Service: serve runs as the service user of
// docs/operations.md: it starts, is healthy and takes events in.
func TestPermissions_Service(t *testing.T) {
	url := startNATS(t, permsConf)
	env := baseEnv(t, "NATS_URL="+url, "NATS_USER=service", "NATS_PASSWORD=service-pw")
	srv := startServe(t, nil, env, "http")
	code, body, _ := get(t, httpClient, "GET", srv.base+"/healthz", "")
	require.Equal(t, 200, code, body)
	r := run(t, nil, env, "", "log", "--job", "svc-1", "--type", "enqueued")
	require.Equal(t, 0, r.code, r.stderr)
	code, body, _ = get(t, httpClient, "GET", srv.base+"/api/v1/jobs/svc-1/events", "")
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"count":1`)
	assert.NotContains(t, srv.stderr.String(), "permissions violation", "serve needed a permission the service user lacks")
}
