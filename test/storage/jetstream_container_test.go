package storage_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/ports/storetest"
	"github.com/naq-go/events/test/natstest"
)

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err, "connect to %s", url)
	t.Cleanup(nc.Close)
	return nc
}

// suiteTest is the contract suite's own subtest a factory call belongs to
// ("TestX/Job" of "TestX/Job/limit"): stores of one suite test share a
// stream, the next suite test starts from a new one.
func suiteTest(t *testing.T) string {
	parts := strings.SplitN(t.Name(), "/", 3)
	return strings.Join(parts[:min(2, len(parts))], "/")
}

// TestJetStreamContainer_Contract runs the storage contract suite against
// the JetStream adapter on a nats-server in a container, the same suite the
// adapter runs on an embedded server.
func TestJetStreamContainer_Contract(t *testing.T) {
	srv := natstest.Run(t)
	nc := connect(t, srv.URL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)

	var (
		mu   sync.Mutex
		last string
	)
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) ports.Store {
		mu.Lock()
		if name := suiteTest(t); name != last {
			last = name
			if err := js.DeleteStream(t.Context(), jsstore.DefaultStream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				mu.Unlock()
				t.Fatalf("delete stream before %s: %v", name, err)
			}
		}
		mu.Unlock()
		st, err := jsstore.New(t.Context(), nc,
			jsstore.WithEnvironment(cfg.Environment),
			jsstore.WithService(cfg.Service),
			jsstore.WithMaxAge(cfg.MaxAge),
			jsstore.WithMaxMsgs(int64(cfg.MaxEvents)),
		)
		if err != nil {
			t.Fatalf("jsstore.New(%+v): %v", cfg, err)
		}
		return st
	}, storetest.WithBackendName("jetstream"))
}

// TestJetStreamContainer_Outage: while NATS is down the store says so with
// ports.ErrUnavailable (never a silent success); once it is back, on the
// same connection, every event stored before is there and writes work.
//
// A write that failed during the outage may still land: nats.go buffers
// publishes while reconnecting and sends them once back. Retrying it, as the
// logger does, must not store it twice: the event id de-duplicates.
func TestJetStreamContainer_Outage(t *testing.T) {
	srv := natstest.Run(t)
	nc := connect(t, srv.URL())
	ctx := t.Context()
	st, err := jsstore.New(ctx, nc, jsstore.WithEnvironment("it"), jsstore.WithService("outage"),
		jsstore.WithAckTimeout(time.Second), jsstore.WithTimeout(time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })

	before := []event.JobEvent{
		event.New("job-1", event.TypeEnqueued),
		event.New("job-1", event.TypeStarted),
		event.New("job-1", event.TypeCompleted),
	}
	require.NoError(t, st.StoreBatch(ctx, before))

	srv.Stop(t)
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 30*time.Second, 20*time.Millisecond,
		"client sees the server gone")
	_, err = st.Health(ctx)
	require.ErrorIs(t, err, ports.ErrUnavailable, "health while down")
	during := event.New("job-2", event.TypeEnqueued)
	err = st.Store(ctx, during)
	require.ErrorIs(t, err, ports.ErrUnavailable, "store while down")

	srv.Start(t)
	require.Eventually(t, func() bool { return nc.IsConnected() }, 60*time.Second, 20*time.Millisecond,
		"client reconnects by itself")
	require.Eventually(t, func() bool { _, err := st.Health(ctx); return err == nil }, 30*time.Second, 50*time.Millisecond,
		"health once back")

	got, err := st.Job(ctx, "job-1", event.Page{})
	require.NoError(t, err)
	require.Len(t, got, len(before), "events stored before the outage")
	for i := range before {
		assert.Equal(t, before[i].ID, got[i].ID, "event %d", i)
	}
	require.NoError(t, st.Store(ctx, during), "retry after restart")
	require.NoError(t, st.Store(ctx, event.New("job-3", event.TypeEnqueued)), "new write after restart")
	n, err := st.Count(ctx, event.Filter{Environment: "it", Service: "outage"})
	require.NoError(t, err)
	assert.Equal(t, len(before)+2, n, "each event once, the retried one included")
	job2, err := st.Job(ctx, "job-2", event.Page{})
	require.NoError(t, err)
	require.Len(t, job2, 1, "the event written during the outage, once")
	assert.Equal(t, during.ID, job2[0].ID)
}
