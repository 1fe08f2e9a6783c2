package loggerjs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// ackLoser is the real JetStream store whose acknowledgements get lost
// while lose is set: each call stores for real and then answers with an
// error, as when the connection drops between the server storing a batch
// and its acks arriving. The logger cannot tell the events are stored
// (outcome unknown). It holds the store in a field rather than embedding
// it, so that it is not a logger.Pipeliner: an embedded *jsstore.Store
// would pass SendBatch through and bypass the lost acknowledgements.
type ackLoser struct {
	st   *jsstore.Store
	lose atomic.Bool
}

func (a *ackLoser) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	err := a.st.StoreBatch(ctx, evs)
	if err == nil && a.lose.Load() {
		return errors.New("acknowledgements lost on the way back")
	}
	return err
}

// streamOrder reads the stream in order and returns the event ids and each
// job's event ids, in stream order.
func streamOrder(t *testing.T, nc *nats.Conn, stream string) (all []string, byJob map[string][]string) {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), stream)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	byJob = map[string][]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		require.NoError(t, err)
		var ev event.JobEvent
		require.NoError(t, json.Unmarshal(m.Data, &ev))
		all = append(all, ev.ID)
		byJob[ev.JobID] = append(byJob[ev.JobID], ev.ID)
	}
	return all, byJob
}

// TestExactlyOnce_BeyondDedupWindow: issue 14, logger side, against a real
// nats-server with a 1 s duplicate window. 200 events of 10 jobs are
// stored but their acknowledgements are lost, so the logger retries them
// (absorbed by the window), gives up and spills them; 50 more are logged
// during an outage of 10 s (10× the window). When the server is back the
// spill is replayed: without the lookup every event older than the window
// would be stored a second time; with it (jsstore implements
// logger.Lookup) each event is in the stream exactly once, and each job's
// events are in logged order. Takes about 12 s (the outage).
func TestExactlyOnce_BeyondDedupWindow(t *testing.T) {
	const window, jobs, n, during = time.Second, 10, 200, 50
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc, jsstore.WithDuplicates(window))
	require.Equal(t, window, st.DedupWindow())
	store := &ackLoser{st: st}
	store.lose.Store(true)
	l := logger.New(store, logger.WithSlog(quiet), logger.WithLookup(st), logger.WithSpill(openSpill(t, t.TempDir())),
		logger.WithBatchSize(50), logger.WithRetry(2, 20*time.Millisecond, 50*time.Millisecond),
		logger.WithCircuitBreaker(1000, 50*time.Millisecond))

	var ids []string
	wantByJob := map[string][]string{}
	logOne := func(i int) {
		ev := event.New(fmt.Sprintf("job-%d", i%jobs), event.TypeStarted, event.WithWorker("w-1", "async"))
		require.NoError(t, l.Log(ev))
		ids = append(ids, ev.ID)
		wantByJob[ev.JobID] = append(wantByJob[ev.JobID], ev.ID)
	}
	for i := range n {
		logOne(i)
	}
	requireEventually(t, 20*time.Second, func() bool { s := l.Stats(); return s.Spilled == n && s.BufferDepth == 0 },
		"events not spilled: %+v", func() any { return l.Stats() })
	got, _ := streamOrder(t, nc, st.StreamName())
	require.Len(t, got, n, "the server stored every event once although no ack arrived")

	srv.Stop()
	awaitDisconnect(t, nc)
	store.lose.Store(false)
	for i := range during {
		logOne(n + i)
	}
	time.Sleep(10 * window) // the outage: the de-dup window has long passed
	require.NoError(t, srv.Restart())
	requireEventually(t, 30*time.Second, func() bool { s := l.Stats(); return s.SpillPending == 0 && s.BufferDepth == 0 },
		"not replayed: %+v", func() any { return l.Stats() })
	require.NoError(t, closeBy(t, l, 5*time.Second))

	s := l.Stats()
	t.Logf("stats: %+v", s)
	all, byJob := streamOrder(t, nc, st.StreamName())
	requireExactlyOnce(t, streamIDs(t, nc, st.StreamName()), ids)
	assert.Len(t, all, n+during)
	for job, want := range wantByJob {
		assert.Equal(t, want, byJob[job], "job %s: events in logged order", job)
	}
	assert.Equal(t, uint64(n), s.FoundStored, "the replay found the %d events already stored", n)
	assert.Zero(t, s.Dropped.Total())
	assert.Zero(t, s.OutcomeUnknown)
}
