package jsstore_test

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

// testCluster is a three-node JetStream cluster in the test process: three
// nats-servers on loopback ports, routed to each other, JetStream on each
// with its store in a t.TempDir(). A node can be shut down and started
// again on the same ports and store (Kill, Restart). Every node is shut
// down at cleanup.
type testCluster struct {
	t     testing.TB
	opts  []*server.Options
	nodes []*server.Server // nil while shut down
}

// clusterName is the NATS cluster name of testCluster.
const clusterName = "naq-test"

// startCluster starts a three-node cluster and waits until it has a
// JetStream meta leader that every node follows.
func startCluster(t testing.TB) *testCluster {
	t.Helper()
	const n = 3
	client, routes := freePorts(t, n), freePorts(t, n)
	var routeURLs []*url.URL
	for _, p := range routes {
		routeURLs = append(routeURLs, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", fmt.Sprint(p))})
	}
	c := &testCluster{t: t, nodes: make([]*server.Server, n)}
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       client[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: clusterName, Host: "127.0.0.1", Port: routes[i]},
			Routes:     routeURLs,
		})
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		c.start(i)
	}
	c.waitMetaLeader()
	return c
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		require.NoError(t, l.Close())
	}
	return out
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i]
	o.Routes = append([]*url.URL(nil), c.opts[i].Routes...)
	s, err := server.NewServer(&o)
	require.NoError(c.t, err)
	s.Start()
	require.True(c.t, s.ReadyForConnections(10*time.Second), "node %s not ready", o.ServerName)
	c.nodes[i] = s
}

func (c *testCluster) shutdown() {
	for i, s := range c.nodes {
		if s != nil {
			s.Shutdown()
			s.WaitForShutdown()
			c.nodes[i] = nil
		}
	}
}

// URLs is the client URL list of every node, comma separated.
func (c *testCluster) URLs() string {
	var us []string
	for _, o := range c.opts {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(us, ",")
}

// URL is node i's client URL.
func (c *testCluster) URL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

// Name is node i's server name.
func (c *testCluster) Name(i int) string { return c.opts[i].ServerName }

// Kill shuts node i down and waits until it has stopped.
func (c *testCluster) Kill(i int) {
	c.t.Helper()
	s := c.nodes[i]
	require.NotNil(c.t, s, "node %d is already down", i)
	s.Shutdown()
	s.WaitForShutdown()
	c.nodes[i] = nil
}

// Restart starts node i again on its ports and store.
func (c *testCluster) Restart(i int) {
	c.t.Helper()
	require.Nil(c.t, c.nodes[i], "node %d is running", i)
	c.start(i)
}

// waitMetaLeader waits until a running node is the JetStream meta leader
// and every running node is current with it.
func (c *testCluster) waitMetaLeader() {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		leader := false
		for _, s := range c.nodes {
			if s == nil {
				continue
			}
			if !s.JetStreamIsCurrent() {
				return false
			}
			leader = leader || s.JetStreamIsLeader()
		}
		return leader
	}, 30*time.Second, 10*time.Millisecond, "no JetStream meta leader")
}

// StreamLeader waits until a running node leads stream (in the global
// account) and returns its index.
func (c *testCluster) StreamLeader(stream string) int {
	c.t.Helper()
	at := -1
	require.Eventually(c.t, func() bool {
		for i, s := range c.nodes {
			if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				at = i
				return true
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "stream %s has no leader", stream)
	return at
}
