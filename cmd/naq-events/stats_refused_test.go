package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/app/storage"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

// readerOfEvents is the reader's publish permissions on the stream
// naq_events alone; readerRollups are those its rollups bucket needs
// (docs/operations.md, the reader role).
var (
	readerOfEvents = []string{"$JS.API.STREAM.INFO.naq_events", "$JS.API.DIRECT.GET.naq_events",
		"$JS.API.CONSUMER.CREATE.naq_events.>", "$JS.API.CONSUMER.MSG.NEXT.naq_events.>",
		"$JS.API.CONSUMER.DELETE.naq_events.>", "$JS.API.CONSUMER.INFO.naq_events.>", "$JS.ACK.naq_events.>"}
	readerRollups = []string{"$JS.API.STREAM.INFO.KV_naq_events_rollups", "$JS.API.DIRECT.GET.KV_naq_events_rollups.>"}
)

// TestStatsRollupsRefused: stats as a reader of the stream (a) with the
// rollups permissions reads the rollups serve keeps; (b) without any of
// the bucket's, or (c) with its stream info but not its direct get,
// computes them from the stream, the same figures, saying on stderr which
// subject was refused. rollupsOpenTimeout is raised beyond the run's
// deadline, so (b) passes only because the refusal ends the wait.
func TestStatsRollupsRefused(t *testing.T) {
	old := rollupsOpenTimeout
	rollupsOpenTimeout = time.Hour
	t.Cleanup(func() { rollupsOpenTimeout = old })

	user := func(name string, pub []string) *server.User {
		return &server.User{Username: name, Password: name + "-pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}}
	}
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		Users: []*server.User{
			{Username: "admin", Password: "admin-pw"},
			user("reader", append(append([]string{}, readerOfEvents...), readerRollups...)),
			user("events-only", readerOfEvents),
			user("no-get", append(append([]string{}, readerOfEvents...), readerRollups[0])),
		},
	})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(10*time.Second))

	ctx := t.Context()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("admin", "admin-pw"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	store, err := storage.Open(ctx, config.Default(), nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	now := time.Now()
	var evs []event.JobEvent
	for i := range 20 {
		job := fmt.Sprintf("r%d", i)
		evs = append(evs,
			event.Enqueued(job, "q1", 0, event.WithTimestamp(now.Add(-10*time.Minute))),
			event.Completed(job, "w", time.Duration(i+1)*time.Millisecond, event.WithQueue("q1"), event.WithTimestamp(now.Add(-9*time.Minute))))
	}
	require.NoError(t, store.StoreBatch(ctx, evs))
	// The rollups as serve keeps them.
	stream := config.Default().Stream.Name
	log, err := jsrollup.NewLog(ctx, nc, stream)
	require.NoError(t, err)
	state, err := jsrollup.NewState(ctx, nc, true, jsrollup.WithBucket(rollups.Bucket(stream)))
	require.NoError(t, err)
	k := rollups.New(log, state, rollups.WithFreshWait(time.Minute))
	require.NoError(t, k.Start(ctx))
	sum, err := k.Summary(ctx, rollup.Query{})
	require.NoError(t, err)
	require.EqualValues(t, 40, sum.Total)
	require.NoError(t, k.Stop(ctx))

	statsAs := func(name string) (statsResult, result) {
		var stdout, stderr syncBuffer
		env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
			return map[string]string{"NATS_URL": srv.ClientURL(), "NATS_USER": name, "NATS_PASSWORD": name + "-pw"}[k]
		}}
		code := run(ctx, env, []string{"stats", "--json", "--all"})
		r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
		require.Equal(t, exitOK, r.code, "%s: %s", name, r.stderr)
		var got statsResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
		assert.Equal(t, 40, got.Total, name)
		assert.Equal(t, map[string]int{"enqueued": 20, "completed": 20}, got.ByType, name)
		assert.Equal(t, 20, got.Duration.Count, name)
		assert.EqualValues(t, 40, got.Seq, name)
		return got, r
	}

	got, r := statsAs("reader")
	assert.Equal(t, "rollups", got.Source)
	assert.Empty(t, r.stderr)

	got, r = statsAs("events-only")
	assert.Equal(t, "stream", got.Source)
	assert.Contains(t, r.stderr, `naq-events stats: this user may not read the rollups (bucket "naq_events_rollups": `+
		`NATS refused a publish to "$JS.API.STREAM.INFO.KV_naq_events_rollups"; see the reader role in the Security section of docs/operations.md): `+
		`computing them from the 40 events of stream "naq_events"`+"\n")

	got, r = statsAs("no-get")
	assert.Equal(t, "stream", got.Source)
	assert.Contains(t, r.stderr, `naq-events stats: this user may not read the rollups (bucket "naq_events_rollups": `+
		`NATS refused a publish to "$JS.API.DIRECT.GET.KV_naq_events_rollups.$KV.naq_events_rollups.`)
}
