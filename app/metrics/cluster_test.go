package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
)

// fakeCluster is a ClusterSource with a fixed answer.
type fakeCluster struct {
	c   jsstore.Cluster
	err error
}

func (f *fakeCluster) Cluster(context.Context) (jsstore.Cluster, error) { return f.c, f.err }
func (f *fakeCluster) StreamName() string                               { return "naq_events" }
func (f *fakeCluster) Stats() jsstore.Stats                             { return jsstore.Stats{Retried: 7} }

// TestClusterMetrics: the leader, the replica count and each replica's
// current, offline, active and lag series come from the source's Cluster;
// a failed read counts an error and leaves them out.
func TestClusterMetrics(t *testing.T) {
	src := &fakeCluster{c: jsstore.Cluster{Name: "c1", Leader: "n1", Replicas: []jsstore.Replica{
		{Name: "n2", Current: true, Active: 250 * time.Millisecond, Lag: 0},
		{Name: "n3", Current: false, Offline: true, Active: 3 * time.Second, Lag: 42},
	}}}
	m := New()
	m.Cluster(src, nil)
	out := scrape(t, m)
	assert.InDelta(t, 1.0, value(t, out, `naq_events_stream_leader_info{cluster="c1",leader="n1",stream="naq_events"}`), 0)
	assert.InDelta(t, 3.0, value(t, out, `naq_events_stream_replicas{stream="naq_events"}`), 0)
	assert.InDelta(t, 1.0, value(t, out, `naq_events_stream_replica_current{replica="n2",stream="naq_events"}`), 0)
	assert.InDelta(t, 0.0, value(t, out, `naq_events_stream_replica_current{replica="n3",stream="naq_events"}`), 0)
	assert.InDelta(t, 1.0, value(t, out, `naq_events_stream_replica_offline{replica="n3",stream="naq_events"}`), 0)
	assert.InDelta(t, 0.25, value(t, out, `naq_events_stream_replica_active_seconds{replica="n2",stream="naq_events"}`), 1e-9)
	assert.InDelta(t, 42.0, value(t, out, `naq_events_stream_replica_lag{replica="n3",stream="naq_events"}`), 0)
	assert.InDelta(t, 7.0, value(t, out, `naq_events_store_read_retried_total`), 0)
	assert.InDelta(t, 0.0, value(t, out, `naq_events_stream_cluster_errors_total{stream="naq_events"}`), 0)

	src.err = errors.New("stream info: timeout")
	out = scrape(t, m)
	assert.NotContains(t, out, "naq_events_stream_replica_lag{")
	assert.NotContains(t, out, "naq_events_stream_leader_info{")
	assert.InDelta(t, 1.0, value(t, out, `naq_events_stream_cluster_errors_total{stream="naq_events"}`), 0)
}

// TestClusterMetrics_Server: against a real server, the connection's
// server_info names the server and its URL, and the stream's leader is
// that server (a single server leads every stream).
func TestClusterMetrics_Server(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	st, err := jsstore.New(t.Context(), nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := New()
	m.NATS(nc)
	m.Cluster(st, nil)
	out := scrape(t, m)
	series := fmt.Sprintf(`naq_events_nats_server_info{cluster="%s",server="%s",url="%s"}`,
		nc.ConnectedClusterName(), nc.ConnectedServerName(), nc.ConnectedUrlRedacted())
	assert.InDelta(t, 1.0, value(t, out, series), 0)
	assert.Contains(t, out, `naq_events_stream_leader_info{`)
	assert.InDelta(t, 0.0, value(t, out, `naq_events_stream_cluster_errors_total{stream="naq_events"}`), 0)
}
