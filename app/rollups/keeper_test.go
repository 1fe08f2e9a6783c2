package rollups_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

var base = time.Now().Add(-3 * time.Hour).Truncate(time.Minute)

// events makes n events of jobs job-<i>, over 4 queues, one per second
// from base, with durations on completed and failed ones.
func events(from, n int) []event.JobEvent {
	out := make([]event.JobEvent, 0, n)
	for i := from; i < from+n; i++ {
		job := fmt.Sprintf("job-%d", i/5)
		q := fmt.Sprintf("q%d", (i/5)%4)
		at := event.WithTimestamp(base.Add(time.Duration(i) * time.Second))
		var ev event.JobEvent
		switch i % 5 {
		case 0:
			ev = event.Enqueued(job, q, 0, at)
		case 1:
			ev = event.New(job, event.TypeDequeued, event.WithQueue(q), event.WithWorker("w1", "async"), at)
		case 2:
			ev = event.Started(job, "w1", "async", event.WithQueue(q), at)
		case 3:
			if (i/5)%7 == 0 {
				ev = event.Failed(job, "w1", fmt.Errorf("boom %d", i), time.Duration(i)*time.Millisecond, 0, event.WithQueue(q), at)
			} else {
				ev = event.Completed(job, "w1", time.Duration(i)*time.Millisecond, event.WithQueue(q), at)
			}
		default:
			ev = event.New(job, event.TypeWorkerReleased, event.WithQueue(q), event.WithWorker("w1", "async"), at)
		}
		out = append(out, ev)
	}
	return out
}

func store(t *testing.T, ctx context.Context, s ports.Store, evs []event.JobEvent) {
	t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 2000)
		require.NoError(t, s.StoreBatch(ctx, evs[:n]))
		evs = evs[n:]
	}
}

// exact counts what the store holds, by type, for a queue ("" all).
func exact(t *testing.T, ctx context.Context, s ports.Store, queue string) map[event.JobEventType]int64 {
	t.Helper()
	recs, err := s.List(ctx, event.Filter{Queue: queue}, event.Page{})
	require.NoError(t, err)
	m := map[event.JobEventType]int64{}
	for _, r := range recs {
		m[r.Event.Type]++
	}
	return m
}

func requireCounts(t *testing.T, ctx context.Context, k rollup.Reader, s ports.Store) rollup.Summary {
	t.Helper()
	sum, err := k.Summary(ctx, rollup.Query{})
	require.NoError(t, err)
	require.Zero(t, sum.Behind, "the rollups must have caught up")
	require.Equal(t, exact(t, ctx, s, ""), sum.Counts)
	for _, q := range []string{"q0", "q3"} {
		qs, err := k.Summary(ctx, rollup.Query{Queue: q})
		require.NoError(t, err)
		require.Equal(t, exact(t, ctx, s, q), qs.Counts, "queue %s", q)
	}
	return sum
}

type env struct {
	nc    *nats.Conn
	store *jsstore.Store
}

func newEnv(t *testing.T, opts ...jsstore.Option) env {
	t.Helper()
	_, nc := natsembedtest.Connect(t)
	s, err := jsstore.New(context.Background(), nc, append([]jsstore.Option{jsstore.WithStream("ev"), jsstore.WithTimeout(time.Minute)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return env{nc: nc, store: s}
}

func (e env) keeper(t *testing.T, opts ...rollups.Option) *rollups.Keeper {
	t.Helper()
	ctx := context.Background()
	log, err := jsrollup.NewLog(ctx, e.nc, "ev")
	require.NoError(t, err)
	state, err := jsrollup.NewState(ctx, e.nc, true, jsrollup.WithBucket(rollups.Bucket("ev")))
	require.NoError(t, err)
	// Wait for the keeper to catch up however loaded the machine is.
	opts = append([]rollups.Option{rollups.WithFreshWait(time.Minute), rollups.WithFreshMax(1 << 40)}, opts...)
	k := rollups.New(log, state, opts...)
	require.NoError(t, k.Start(ctx))
	t.Cleanup(func() { _ = k.Stop(context.Background()) })
	return k
}

// TestKeeperResumesExactlyAfterRestart: a second keeper on the same bucket
// starts from what the first saved (no re-read of the stream), takes the
// events stored while none ran, and counts every event exactly once.
func TestKeeperResumesExactlyAfterRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	store(t, ctx, e.store, events(0, 5_000))
	k1 := e.keeper(t)
	s1 := requireCounts(t, ctx, k1, e.store)
	require.EqualValues(t, 5_000, s1.Total)
	require.NoError(t, k1.Stop(ctx))

	store(t, ctx, e.store, events(5_000, 2_000))
	k2 := e.keeper(t)
	assert.EqualValues(t, 5_000, k2.Rollups().Seq(), "the second keeper starts from the saved state")
	s2 := requireCounts(t, ctx, k2, e.store)
	assert.EqualValues(t, 7_000, s2.Total)
	assert.Equal(t, s1.Durations[""].Count+400, s2.Durations[""].Count)

	// A third keeper running beside the second agrees with it.
	k3 := e.keeper(t)
	s3 := requireCounts(t, ctx, k3, e.store)
	assert.Equal(t, s2.Counts, s3.Counts)
	assert.Equal(t, s2.Durations, s3.Durations)
}

// TestKeeperFollowsPurge: a job purged behind the keeper's back (the
// store's DeleteJob, as the CLI and natscli do) leaves the rollups: the
// next Summary sees the stream hold fewer messages and reconciles first.
func TestKeeperFollowsPurge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	store(t, ctx, e.store, events(0, 9_000))
	k := e.keeper(t)
	requireCounts(t, ctx, k, e.store)
	for _, job := range []string{"job-3", "job-1000", "job-1700"} { // chunks 0, 1, 2
		n, err := e.store.DeleteJob(ctx, job)
		require.NoError(t, err)
		require.Equal(t, 5, n)
	}
	s := requireCounts(t, ctx, k, e.store)
	assert.EqualValues(t, 9_000-15, s.Total)
	for _, g := range s.Failures {
		assert.NotContains(t, g.Jobs, "job-1700", "a purged job is not listed in failures")
	}
	// And after a restart from the saved state.
	require.NoError(t, k.Stop(ctx))
	k2 := e.keeper(t)
	requireCounts(t, ctx, k2, e.store)
}

// TestKeeperFollowsRetention: with MaxMsgs 3000, the server drops the
// oldest events as new ones come; the rollups hold exactly the rest (chunk
// 0 dropped, chunk 1 rebuilt from the stream's first sequence, 6001).
func TestKeeperFollowsRetention(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, jsstore.WithMaxMsgs(3_000))
	store(t, ctx, e.store, events(0, 4_000))
	k := e.keeper(t)
	requireCounts(t, ctx, k, e.store)
	store(t, ctx, e.store, events(4_000, 5_000)) // 9,000 stored, 3,000 left
	s := requireCounts(t, ctx, k, e.store)
	assert.EqualValues(t, 3_000, s.Total)
	for _, c := range k.Rollups().Chunks() {
		first, last := rollup.ChunkBounds(c.N)
		assert.Greater(t, last, uint64(9_000-3_000), "chunk %d [%d, %d] is below the stream's first sequence", c.N, first, last)
	}
}

// TestKeeperOverMemoryStore: memory storage has no pending counts; a
// purge is found by the total and the rollups rebuilt.
func TestKeeperOverMemoryStore(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	t.Cleanup(func() { _ = s.Close() })
	store(t, ctx, s, events(0, 5_000))
	k := rollups.New(rollups.StoreSource{Store: s}, nil, rollups.WithFreshWait(time.Minute))
	require.NoError(t, k.Start(ctx))
	t.Cleanup(func() { _ = k.Stop(ctx) })
	requireCounts(t, ctx, k, s)
	_, err := s.DeleteJob(ctx, "job-7")
	require.NoError(t, err)
	sum := requireCounts(t, ctx, k, s)
	assert.EqualValues(t, 4_995, sum.Total)
}
