package jsstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
)

// startServer starts an embedded nats-server for the test.
func startServer(t testing.TB, opts ...natsembed.Option) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(opts...)
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv
}

// connect connects to url, reconnecting forever, and closes at cleanup.
func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(25 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// newStore makes a Store on nc, closed at cleanup.
func newStore(t testing.TB, nc *nats.Conn, opts ...jsstore.Option) *jsstore.Store {
	t.Helper()
	st, err := jsstore.New(context.Background(), nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// fixture is a server, a connection and a store on them.
type fixture struct {
	srv *natsembed.Server
	nc  *nats.Conn
	st  *jsstore.Store
}

func setup(t testing.TB, opts ...jsstore.Option) fixture {
	t.Helper()
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	return fixture{srv: srv, nc: nc, st: newStore(t, nc, opts...)}
}

// events returns n events of job spread over the lifecycle types.
func events(job string, n int) []event.JobEvent {
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeRetryScheduled}
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.New(job, types[i%len(types)], event.WithMessage(fmt.Sprint(i)), event.WithQueue("q"))
	}
	return out
}

func ids(evs []event.JobEvent) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}

// publishRaw stores data on subj as it is, bypassing the Store, and waits
// for the stream's acknowledgement (a core publish and a flush do not wait
// for the stream to store it).
func publishRaw(t testing.TB, nc *nats.Conn, subj string, data []byte) {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Publish(t.Context(), subj, data)
	require.NoError(t, err)
}
