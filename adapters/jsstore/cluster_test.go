package jsstore_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// gate is a dialer that refuses every connection while shut, so a test
// holds a client in its reconnect loop until it opens the gate.
type gate struct{ shut atomic.Bool }

func (g *gate) Dial(network, address string) (net.Conn, error) {
	if g.shut.Load() {
		return nil, errors.New("gate shut by the test")
	}
	return (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
}

// storeEventually stores evs, trying again while the answer is transient
// (a stream just created on a cluster has no leader, hence no responders,
// for a moment), and fails on a permanent error.
func storeEventually(t *testing.T, ctx context.Context, st *jsstore.Store, evs []event.JobEvent) {
	t.Helper()
	var permanent error
	require.Eventually(t, func() bool {
		err := st.StoreBatch(ctx, evs)
		if err != nil && !errors.Is(err, ports.ErrUnavailable) {
			permanent = err
		}
		return err == nil || permanent != nil
	}, 30*time.Second, 10*time.Millisecond, "not stored")
	require.NoError(t, permanent)
}

// waitReplicasCurrent waits until the stream has a leader and every
// replica is current with it, and returns that view.
func waitReplicasCurrent(t *testing.T, st *jsstore.Store, replicas int) jsstore.Cluster {
	t.Helper()
	var c jsstore.Cluster
	require.Eventually(t, func() bool {
		var err error
		c, err = st.Cluster(t.Context())
		if err != nil || c.Leader == "" || len(c.Replicas) != replicas-1 {
			return false
		}
		for _, r := range c.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "replicas not current: %+v", c)
	return c
}

// TestCluster_Health: on a three-node cluster with an R3 stream, Cluster
// and Health name the server the client is on, the stream's leader (the
// node that leads it) and its two replicas with their state.
func TestCluster_Health(t *testing.T) {
	c := startCluster(t)
	nc := connect(t, c.URLs())
	st := newStore(t, nc, jsstore.WithReplicas(3))
	storeEventually(t, t.Context(), st, events("job1", 5))

	cl := waitReplicasCurrent(t, st, 3)
	leader := c.Name(c.StreamLeader(jsstore.DefaultStream))
	assert.Equal(t, leader, cl.Leader)
	assert.Equal(t, clusterName, cl.Name)
	assert.False(t, cl.LeaderSince.IsZero())
	var names []string
	for _, r := range cl.Replicas {
		names = append(names, r.Name)
	}
	want := slices.DeleteFunc([]string{c.Name(0), c.Name(1), c.Name(2)}, func(n string) bool { return n == leader })
	assert.ElementsMatch(t, want, names)
	assert.Equal(t, nc.ConnectedServerName(), cl.Server.Name)
	assert.Equal(t, nc.ConnectedUrlRedacted(), cl.Server.URL)
	assert.Equal(t, clusterName, cl.Server.Cluster)

	h, err := st.Health(t.Context())
	require.NoError(t, err)
	require.True(t, h.OK)
	assert.Equal(t, nc.ConnectedServerName(), h.Detail["server_name"])
	assert.Equal(t, clusterName, h.Detail["server_cluster"])
	assert.EqualValues(t, 3, h.Detail["replicas"])
	d, ok := h.Detail["cluster"].(map[string]any)
	require.True(t, ok, "Detail[cluster] = %#v", h.Detail["cluster"])
	assert.Equal(t, leader, d["leader"])
	reps, ok := d["replicas"].([]map[string]any)
	require.True(t, ok)
	require.Len(t, reps, 2)
	for _, r := range reps {
		assert.Contains(t, want, r["name"])
		assert.Contains(t, r, "lag")
		assert.Contains(t, r, "current")
		assert.Contains(t, r, "active_ms")
	}
}

// TestCluster_LeaderKilled: the stream leader's server is shut down while
// the client is on it. A read made while the client is cut off (its
// reconnects held back by a gate, no reconnect buffer) is retried, and
// counted in Stats.Retried, until the client is on another node and the
// stream has a new leader; then it returns every event. Writes after the
// re-election succeed (any error before is transient), and every event is
// stored once.
func TestCluster_LeaderKilled(t *testing.T) {
	c := startCluster(t)
	admin := connect(t, c.URLs())
	adm := newStore(t, admin, jsstore.WithReplicas(3))
	waitReplicasCurrent(t, adm, 3)
	leader := c.StreamLeader(jsstore.DefaultStream)

	g := &gate{}
	// On the leader first, then the others.
	urls := c.URL(leader)
	for i := range 3 {
		if i != leader {
			urls += "," + c.URL(i)
		}
	}
	nc := connect(t, urls, nats.DontRandomize(), nats.SetCustomDialer(g), nats.ReconnectBufSize(-1))
	require.Equal(t, c.Name(leader), nc.ConnectedServerName())
	st := newStore(t, nc, jsstore.WithReplicas(3), jsstore.WithTimeout(2*time.Second))
	first := events("job1", 10)
	storeEventually(t, t.Context(), st, first)
	waitReplicasCurrent(t, st, 3)

	g.shut.Store(true)
	c.Kill(leader)
	require.Eventually(t, func() bool { return !nc.IsConnected() }, 10*time.Second, 5*time.Millisecond)

	type result struct {
		evs []event.JobEvent
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	before := st.Stats().Retried
	go func() {
		evs, err := st.Job(ctx, "job1", event.Page{})
		done <- result{evs, err}
	}()
	require.Eventually(t, func() bool { return st.Stats().Retried > before }, 30*time.Second, 5*time.Millisecond,
		"the read cut off from the cluster was not retried")
	newLeader := c.StreamLeader(jsstore.DefaultStream)
	require.NotEqual(t, leader, newLeader)
	g.shut.Store(false)

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the read did not return after the re-election")
	}
	require.NoError(t, r.err)
	assert.Equal(t, ids(first), ids(r.evs))
	assert.NotEqual(t, c.Name(leader), nc.ConnectedServerName())

	// A write after the re-election: transient failures only, until it
	// is stored.
	second := events("job1", 10)
	storeEventually(t, ctx, st, second)
	got, err := st.Job(ctx, "job1", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, append(ids(first), ids(second)...), ids(got))
	n, err := st.Count(ctx, event.Filter{})
	require.NoError(t, err)
	assert.Equal(t, 20, n)

	cl, err := st.Cluster(ctx)
	require.NoError(t, err)
	assert.Equal(t, c.Name(newLeader), cl.Leader)
	// The dead node is still a member of the group.
	var names []string
	for _, rep := range cl.Replicas {
		names = append(names, rep.Name)
	}
	assert.Contains(t, names, c.Name(leader))
}
