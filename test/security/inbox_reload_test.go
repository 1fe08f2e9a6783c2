package security

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// TestReplyInboxRefusedAfterNew: a nats-server config reload takes the
// user's subscribe grant on "_INBOX.>" away from a running Store. Every
// fast batch's flow acks and commit, and every lookup's answers, arrive on
// an inbox of the connection, so none comes; the server refuses each such
// subscription with an asynchronous -ERR only. A batch — sent whole with
// StoreBatch, or pipelined with SendBatch as the logger does — then fails
// at once (not after its 5 minutes of ack timeout, nor the lookup that
// confirms what is stored at the end of ctx, 90 s) with an error per
// event wrapping ErrPermission and ports.ErrUnavailable (not
// ports.ErrInvalid: the events are not at fault, and the logger keeps
// them) that names the refused inbox and the grant. With the grant back
// (another reload), sending the same events again stores each once, in
// order, although the server had stored some of them the first time.
func TestReplyInboxRefusedAfterNew(t *testing.T) {
	proc := startNATSProcess(t, inboxConf(""))
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(proc.url, nats.UserInfo("app", "pw"), quiet)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	st, err := jsstore.New(t.Context(), nc, jsstore.WithAckTimeout(5*time.Minute))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	before := inboxEvents("job-ri", 10)
	require.NoError(t, st.StoreBatch(t.Context(), before), "with the grant")
	var want []string            // every event's id, in logged order
	jobOf := map[string]string{} // event id → its job
	keep := func(evs []event.JobEvent) {
		for _, ev := range evs {
			want = append(want, ev.ID)
			jobOf[ev.ID] = ev.JobID
		}
	}
	keep(before)

	send := map[string]func(context.Context, []event.JobEvent) error{
		"StoreBatch": st.StoreBatch,
		"SendBatch": func(ctx context.Context, evs []event.JobEvent) error {
			return st.SendBatch(ctx, evs, false, false)()
		},
	}
	requireRefused := func(name string, err error, evs []event.JobEvent) {
		t.Helper()
		be, ok := errors.AsType[*logger.BatchError](err)
		require.True(t, ok, "%s: a *logger.BatchError, got %v", name, err)
		require.Len(t, be.Errs, len(evs), name)
		for i, e := range be.Errs {
			require.ErrorIs(t, e, jsstore.ErrPermission, "%s: event %d", name, i)
			require.ErrorIs(t, e, ports.ErrUnavailable, "%s: event %d is kept for a retry", name, i)
			assert.NotErrorIs(t, e, ports.ErrInvalid, "%s: event %d is not at fault", name, i)
		}
		assert.Contains(t, err.Error(), `refused the user a subscription to "_INBOX.`, name)
		assert.Contains(t, err.Error(), `grant it subscribe on "_INBOX.>"`, name)
	}
	noInbox := inboxConf(`, permissions: {subscribe: {deny: ["_INBOX.>"]}}`)
	for _, name := range []string{"StoreBatch", "SendBatch"} {
		proc.reload(t, noInbox)
		evs := inboxEvents("job-ri", 10)
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		err := send[name](ctx, evs)
		t.Logf("%s: %v", name, err)
		require.NoError(t, ctx.Err(), "%s returned before ctx ended", name)
		cancel()
		requireRefused(name, err, evs)

		proc.reload(t, inboxConf(""))
		require.NoError(t, send[name](t.Context(), evs), "%s: the same events again, with the grant back", name)
		keep(evs)
	}

	// Four batches at once: the connection's LastError holds one refusal,
	// perhaps another batch's; each batch still ends at once.
	proc.reload(t, noInbox)
	const concurrent = 4
	batches := make([][]event.JobEvent, concurrent)
	errs := make([]error, concurrent)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	var wg sync.WaitGroup
	for i := range concurrent {
		batches[i] = inboxEvents(fmt.Sprintf("job-c%d", i), 10)
		wg.Go(func() { errs[i] = st.StoreBatch(ctx, batches[i]) })
	}
	wg.Wait()
	require.NoError(t, ctx.Err(), "the concurrent batches returned before ctx ended")
	cancel()
	for i := range concurrent {
		requireRefused(fmt.Sprintf("concurrent batch %d", i), errs[i], batches[i])
	}
	proc.reload(t, inboxConf(""))
	for i := range concurrent {
		require.NoError(t, st.StoreBatch(t.Context(), batches[i]), "concurrent batch %d again", i)
		keep(batches[i])
	}

	admin, err := nats.Connect(proc.url, nats.UserInfo("admin", "pw"))
	require.NoError(t, err)
	defer admin.Close()
	ast, err := jsstore.New(t.Context(), admin)
	require.NoError(t, err)
	defer func() { require.NoError(t, ast.Close()) }()
	recs, err := ast.List(t.Context(), event.Filter{}, event.Page{Limit: 1000})
	require.NoError(t, err)
	// Every event once, each job's in logged order (the refused concurrent
	// batches were stored in part, interleaved, before their re-send).
	byJob := func(ids []string, job func(int) string) map[string][]string {
		m := map[string][]string{}
		for i, id := range ids {
			m[job(i)] = append(m[job(i)], id)
		}
		return m
	}
	got := make([]string, len(recs))
	for i, r := range recs {
		got[i] = r.Event.ID
	}
	require.Len(t, got, len(want), "every event once")
	assert.Equal(t, byJob(want, func(i int) string { return jobOf[want[i]] }),
		byJob(got, func(i int) string { return recs[i].Event.JobID }), "each job's events once, in logged order")
}

// inboxConf is the authorization of TestReplyInboxRefusedAfterNew: users
// admin and app, app's with appPerms (", permissions: {…}" or "").
func inboxConf(appPerms string) string {
	return `authorization {
  users = [
    {user: admin, password: pw}
    {user: app, password: pw` + appPerms + `}
  ]
}`
}

// inboxEvents returns n events of job.
func inboxEvents(job string, n int) []event.JobEvent {
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.Enqueued(job, "q", i+1)
	}
	return out
}
