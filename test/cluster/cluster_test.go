package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/naq-go/events/test/natstest"
)

// Size is the number of nodes of a Cluster.
const Size = 3

const (
	clusterName = "naq"
	routePort   = 6222
	configPath  = "/nats.conf"
	// How long the harness waits for the cluster to form, a node to come
	// back, a stream to elect a leader or catch up. Generous: -race and two
	// cores shared with other tests.
	settleTimeout = 90 * time.Second
	pollEvery     = 100 * time.Millisecond
)

// Cluster is three nats-server containers on a private Docker network,
// routed to one another, JetStream on each. Every node's client and
// monitoring ports are fixed loopback ports for the cluster's lifetime.
type Cluster struct {
	net   *testcontainers.DockerNetwork
	cli   *testcontainers.DockerClient
	image string
	nodes [Size]*node
}

type node struct {
	name        string
	ctr         *testcontainers.DockerContainer
	clientPort  int
	monitorPort int
	// What the faults did to it and nothing has undone yet, for Reset.
	down, cut bool
}

// StartCluster starts a three-node cluster for the test, waits until
// JetStream has a meta leader every node agrees on, and registers the removal
// of the containers (with their volumes) and of the network when the test
// ends. It fails the test, never skips it, when Docker or the image is
// missing.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	began := time.Now()
	image, err := natstest.DefaultImage()
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if err := natstest.Preflight(ctx, image); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("cluster: docker client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })

	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("cluster: create network: %v", err)
	}
	c := &Cluster{net: nw, cli: cli, image: image}
	// Cleanups run last-registered first: the containers go before the
	// network they are attached to.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := nw.Remove(ctx); err != nil {
			t.Errorf("cluster: remove network %s: %v", nw.Name, err)
		}
	})
	// The three start together: a lone node waits for its peers anyway.
	var wg sync.WaitGroup
	errs := make([]error, Size)
	for i := range Size {
		wg.Go(func() { c.nodes[i], errs[i] = c.runNode(ctx, t, i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	c.waitFormed(t, time.Now().Add(settleTimeout))
	t.Logf("cluster: formed in %s: %s", time.Since(began).Round(time.Millisecond), c.URLs())
	return c
}

// runNode creates and starts node i. A port picked here can be taken by
// someone else before Docker binds it; a few attempts make that race
// harmless.
func (c *Cluster) runNode(ctx context.Context, t testing.TB, i int) (*node, error) {
	var lastErr error
	for range 3 {
		n, err := c.tryRunNode(ctx, t, i)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !natstest.IsPortTaken(err) {
			break
		}
	}
	return nil, fmt.Errorf("start %s from %s: %w", nodeName(i), c.image, lastErr)
}

func (c *Cluster) tryRunNode(ctx context.Context, t testing.TB, i int) (*node, error) {
	n := &node{name: nodeName(i)}
	var err error
	if n.clientPort, err = natstest.FreePort(); err != nil {
		return nil, err
	}
	if n.monitorPort, err = natstest.FreePort(); err != nil {
		return nil, err
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	ctr, err := testcontainers.Run(ctx, c.image,
		testcontainers.WithLogger(tclog.TestLogger(t)),
		testcontainers.WithCmd("-c", configPath),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader:            strings.NewReader(serverConfig(i)),
			ContainerFilePath: configPath,
			FileMode:          0o644,
		}),
		testcontainers.WithExposedPorts(natstest.ClientPort, natstest.MonitorPort),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = mobynet.PortMap{
				mobynet.MustParsePort(natstest.ClientPort):  {{HostIP: loopback, HostPort: strconv.Itoa(n.clientPort)}},
				mobynet.MustParsePort(natstest.MonitorPort): {{HostIP: loopback, HostPort: strconv.Itoa(n.monitorPort)}},
			}
		}),
		network.WithNetwork([]string{n.name}, c.net),
		// No wait strategy: a lone node is not healthy until a quorum
		// has formed; waitFormed waits for all of them together.
	)
	if ctr != nil {
		t.Cleanup(func() {
			if t.Failed() {
				natstest.DumpLogs(t, n.name, ctr)
			}
			if err := testcontainers.TerminateContainer(ctr); err != nil {
				t.Errorf("cluster: remove container %s: %v", n.name, err)
			}
		})
	}
	if err != nil {
		return nil, err
	}
	n.ctr = ctr
	return n, nil
}

// serverConfig is node i's nats-server configuration. Pings every 2 s (3
// missed close the connection) so a route to a partitioned node is noticed
// in seconds, not the default minutes.
func serverConfig(i int) string {
	var routes []string
	for j := range Size {
		if j != i {
			routes = append(routes, strconv.Quote(fmt.Sprintf("nats-route://%s:%d", nodeName(j), routePort)))
		}
	}
	return fmt.Sprintf(`server_name: %s
listen: "0.0.0.0:4222"
http: "0.0.0.0:8222"
ping_interval: "2s"
ping_max: 3
jetstream {
  store_dir: "/data"
  max_memory_store: 256MB
}
cluster {
  name: %s
  listen: "0.0.0.0:%d"
  no_advertise: true
  ping_interval: "2s"
  ping_max: 3
  routes: [%s]
}
`, nodeName(i), clusterName, routePort, strings.Join(routes, ", "))
}

func nodeName(i int) string { return "n" + strconv.Itoa(i+1) }

func (c *Cluster) node(t testing.TB, i int) *node {
	t.Helper()
	if i < 0 || i >= Size {
		t.Fatalf("cluster: node index %d out of 0..%d", i, Size-1)
	}
	return c.nodes[i]
}

// URLs is the client URL list of every node, comma-separated, in node order.
func (c *Cluster) URLs() string {
	urls := make([]string, Size)
	for i, n := range c.nodes {
		urls[i] = clientURL(n)
	}
	return strings.Join(urls, ",")
}

// URL is node i's client URL (i in 0..2); it stays the same across Kill,
// Stop, Start, Disconnect and Reconnect.
func (c *Cluster) URL(i int) string {
	if i < 0 || i >= Size {
		return ""
	}
	return clientURL(c.nodes[i])
}

func clientURL(n *node) string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.clientPort))
}

// Name is node i's server name, "n1".."n3".
func (c *Cluster) Name(i int) string { return nodeName(i) }

// Index is the index of the node named name ("n1".."n3"), or -1.
func (c *Cluster) Index(name string) int {
	for i := range Size {
		if nodeName(i) == name {
			return i
		}
	}
	return -1
}

// IndexOfURL is the index of the node whose client URL is url (as
// nats.Conn.ConnectedUrl reports it), or -1.
func (c *Cluster) IndexOfURL(url string) int {
	for i, n := range c.nodes {
		if clientURL(n) == url {
			return i
		}
	}
	return -1
}

// Kill ends node i with SIGKILL, as a crash would: nothing is flushed. The
// container and its volume stay; Start brings it back.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	n := c.node(t, i)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.cli.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("cluster: kill %s: %v", n.name, err)
	}
	c.waitExited(ctx, t, n)
	n.down = true
	t.Logf("cluster: %s killed", n.name)
}

// Stop stops node i gracefully (SIGTERM, SIGKILL after 10 s).
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	n := c.node(t, i)
	if err := c.stop(n); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	t.Logf("cluster: %s stopped", n.name)
}

func (c *Cluster) stop(n *node) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	timeout := 10 * time.Second
	n.down = true
	if err := n.ctr.Stop(ctx, &timeout); err != nil {
		return fmt.Errorf("stop %s: %w", n.name, err)
	}
	return c.waitNotRunning(ctx, n)
}

func (c *Cluster) waitExited(ctx context.Context, t testing.TB, n *node) {
	t.Helper()
	if err := c.waitNotRunning(ctx, n); err != nil {
		t.Fatalf("cluster: %v", err)
	}
}

func (c *Cluster) waitNotRunning(ctx context.Context, n *node) error {
	waited := c.cli.ContainerWait(ctx, n.ctr.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-waited.Result:
		return nil
	case err := <-waited.Error:
		return fmt.Errorf("%s: wait for exit: %w", n.name, err)
	}
}

// Start starts node i again (after Kill or Stop) on the same ports and waits
// until it serves and has rejoined: its /healthz answers 200, which in a
// cluster means it knows the meta leader and every stream and consumer it
// holds is current. It needs a quorum of the other nodes running; after the
// whole cluster went down, use StartAll.
func (c *Cluster) Start(t testing.TB, i int) {
	t.Helper()
	n := c.node(t, i)
	c.startContainer(t, n)
	if err := c.waitServing(i, time.Now().Add(settleTimeout)); err != nil {
		t.Fatalf("cluster: %s started but did not rejoin: %v", n.name, err)
	}
	t.Logf("cluster: %s started and rejoined", n.name)
}

// StopAll stops every node gracefully, all at once, and returns when all
// three have exited.
func (c *Cluster) StopAll(t testing.TB) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, Size)
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = c.stop(n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	t.Logf("cluster: all nodes stopped")
}

// StartAll starts every node and waits until the cluster has formed again
// and every node is healthy.
func (c *Cluster) StartAll(t testing.TB) {
	t.Helper()
	for _, n := range c.nodes {
		c.startContainer(t, n)
	}
	c.waitFormed(t, time.Now().Add(settleTimeout))
	t.Logf("cluster: all nodes started, meta leader elected")
}

func (c *Cluster) startContainer(t testing.TB, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.ctr.Start(ctx); err != nil {
		t.Fatalf("cluster: start %s again: %v", n.name, err)
	}
	n.down = false
}

// Disconnect takes node i off the private network: it loses its routes to
// the other two, and Docker drops its published ports with it, so its
// clients lose their connection and its URL refuses new ones.
func (c *Cluster) Disconnect(t testing.TB, i int) {
	t.Helper()
	n := c.node(t, i)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.cli.NetworkDisconnect(ctx, c.net.ID, client.NetworkDisconnectOptions{Container: n.ctr.GetContainerID(), Force: true}); err != nil {
		t.Fatalf("cluster: disconnect %s: %v", n.name, err)
	}
	n.cut = true
	t.Logf("cluster: %s disconnected from the network", n.name)
}

// Reconnect puts node i back on the private network under its alias (Docker
// publishes its ports again) and waits until it has rejoined and caught up.
func (c *Cluster) Reconnect(t testing.TB, i int) {
	t.Helper()
	n := c.node(t, i)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.cli.NetworkConnect(ctx, c.net.ID, client.NetworkConnectOptions{
		Container:      n.ctr.GetContainerID(),
		EndpointConfig: &mobynet.EndpointSettings{Aliases: []string{n.name}},
	}); err != nil {
		t.Fatalf("cluster: reconnect %s: %v", n.name, err)
	}
	n.cut = false
	if err := c.waitServing(i, time.Now().Add(settleTimeout)); err != nil {
		t.Fatalf("cluster: %s reconnected but did not rejoin: %v", n.name, err)
	}
	t.Logf("cluster: %s reconnected and rejoined", n.name)
}

// Client connects a test's client to the cluster by its URL list,
// reconnecting without end (100 ms apart) so that it fails over when its
// node goes; the connection is closed when the test ends.
func (c *Cluster) Client(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("cluster: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	return nc, js
}

// Reset makes the cluster as StartCluster left it, for the next test on it:
// it starts the nodes a fault left down and reconnects those it left cut
// off (a test that failed half-way), waits until the cluster has formed,
// and deletes every stream (with its consumers), so the next test creates
// its own.
func (c *Cluster) Reset(t testing.TB) {
	t.Helper()
	for i, n := range c.nodes {
		if n.cut {
			c.Reconnect(t, i)
		}
	}
	for _, n := range c.nodes {
		if n.down {
			c.startContainer(t, n)
		}
	}
	c.waitFormed(t, time.Now().Add(settleTimeout))
	nc, err := nats.Connect(c.URLs(), nats.Timeout(2*time.Second), nats.Name("cluster-harness"))
	if err != nil {
		t.Fatalf("cluster: reset: connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("cluster: reset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	names := js.StreamNames(ctx)
	var streams []string
	for name := range names.Name() {
		streams = append(streams, name)
	}
	if err := names.Err(); err != nil {
		t.Fatalf("cluster: reset: list streams: %v", err)
	}
	for _, name := range streams {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("cluster: reset: delete stream %s: %v", name, err)
		}
	}
}

// waitFormed waits until every node is healthy and all agree on one meta
// leader that sees the other two as current peers.
func (c *Cluster) waitFormed(t testing.TB, deadline time.Time) {
	t.Helper()
	for _, n := range c.nodes {
		if err := c.waitHealthy(n, deadline); err != nil {
			t.Fatalf("cluster: did not form: %v", err)
		}
	}
	var last error
	for time.Now().Before(deadline) {
		if last = c.metaAgreed(); last == nil {
			break
		}
		time.Sleep(pollEvery)
	}
	if last != nil {
		t.Fatalf("cluster: no meta leader within %s: %v", settleTimeout, last)
	}
	// And the JetStream API answers through every node.
	for i := range Size {
		for time.Now().Before(deadline) {
			if last = c.accountInfo(i); last == nil {
				break
			}
			time.Sleep(pollEvery)
		}
		if last != nil {
			t.Fatalf("cluster: JetStream API via %s: %v", nodeName(i), last)
		}
	}
	// And the meta leader can place an R3 stream: it has heard from every
	// peer (a peer it has no statistics from yet is "offline" to placement).
	for time.Now().Before(deadline) {
		if last = c.probePlacement(); last == nil {
			return
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("cluster: cannot place an R%d stream: %v", Size, last)
}

// harnessJS connects the harness's own short-lived client to urls, without
// reconnects: a probe that cannot reach the cluster fails at once.
func harnessJS(urls string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(urls, nats.Timeout(2*time.Second), nats.NoReconnect(), nats.Name("cluster-harness"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// probePlacement creates and deletes an R3 memory stream.
func (c *Cluster) probePlacement() error {
	nc, js, err := harnessJS(c.URLs())
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const probe = "cluster_harness_probe"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probe, Subjects: []string{"cluster.harness.probe"},
		Replicas: Size, Storage: jetstream.MemoryStorage}); err != nil {
		return fmt.Errorf("create probe stream: %w", err)
	}
	if err := js.DeleteStream(ctx, probe); err != nil {
		return fmt.Errorf("delete probe stream: %w", err)
	}
	return nil
}

// accountInfo asks node i alone for the account's JetStream info.
func (c *Cluster) accountInfo(i int) error {
	nc, js, err := harnessJS(c.URL(i))
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("account info: %w", err)
	}
	return nil
}

func (c *Cluster) metaAgreed() error {
	leader := ""
	for _, n := range c.nodes {
		jsz, err := getJSZ(n)
		if err != nil {
			return err
		}
		if jsz.Meta == nil || jsz.Meta.Leader == "" {
			return fmt.Errorf("%s: no meta leader yet", n.name)
		}
		if leader != "" && jsz.Meta.Leader != leader {
			return fmt.Errorf("%s sees meta leader %s, others %s", n.name, jsz.Meta.Leader, leader)
		}
		leader = jsz.Meta.Leader
		if n.name == leader {
			if len(jsz.Meta.Replicas) != Size-1 {
				return fmt.Errorf("meta leader %s knows %d peers, want %d", leader, len(jsz.Meta.Replicas), Size-1)
			}
			for _, p := range jsz.Meta.Replicas {
				if !p.Current || p.Offline {
					return fmt.Errorf("meta peer %s not current", p.Name)
				}
			}
		}
	}
	return nil
}

type jszReply struct {
	Meta *struct {
		Leader   string `json:"leader"`
		Size     int    `json:"cluster_size"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Offline bool   `json:"offline"`
		} `json:"replicas"`
	} `json:"meta_cluster"`
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func getJSZ(n *node) (jszReply, error) {
	var r jszReply
	body, code, err := monitorGet(n, "/jsz")
	if err != nil {
		return r, err
	}
	if code != http.StatusOK {
		return r, fmt.Errorf("%s /jsz: %d %s", n.name, code, body)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("%s /jsz: %w", n.name, err)
	}
	return r, nil
}

func monitorGet(n *node, path string) ([]byte, int, error) {
	resp, err := httpClient.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.monitorPort)) + path)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", n.name, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", n.name, path, err)
	}
	return body, resp.StatusCode, nil
}

// waitServing waits until node i is healthy and answers JetStream API
// requests itself.
func (c *Cluster) waitServing(i int, deadline time.Time) error {
	if err := c.waitHealthy(c.nodes[i], deadline); err != nil {
		return err
	}
	var last error
	for time.Now().Before(deadline) {
		if last = c.accountInfo(i); last == nil {
			return nil
		}
		time.Sleep(pollEvery)
	}
	return fmt.Errorf("JetStream API not answering by the deadline: %w", last)
}

// waitHealthy polls n's /healthz until it answers 200 (JetStream up, meta
// leader known, every stream and consumer on it current) or deadline.
func (c *Cluster) waitHealthy(n *node, deadline time.Time) error {
	var last error
	for time.Now().Before(deadline) {
		body, code, err := monitorGet(n, "/healthz")
		switch {
		case err != nil:
			last = err
		case code == http.StatusOK:
			return nil
		default:
			last = fmt.Errorf("%s /healthz: %d %s", n.name, code, strings.TrimSpace(string(body)))
		}
		time.Sleep(pollEvery)
	}
	return fmt.Errorf("not healthy by the deadline: %w", last)
}

// StreamLeader is the index of stream's leader, asked of any reachable node;
// it waits (with a deadline) while the stream has no leader.
func (c *Cluster) StreamLeader(t testing.TB, stream string) int {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	var last error
	for time.Now().Before(deadline) {
		info, err := c.streamInfo(stream)
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			if i := c.Index(info.Cluster.Leader); i >= 0 {
				return i
			}
			err = fmt.Errorf("leader %q is not a node of this cluster", info.Cluster.Leader)
		}
		if err == nil {
			err = errors.New("no leader yet")
		}
		last = err
		time.Sleep(pollEvery)
	}
	t.Fatalf("cluster: stream %s: no leader within %s: %v", stream, settleTimeout, last)
	return -1
}

// WaitStreamHealthy waits until stream has a leader and replicas-1 other
// replicas, each current and online, or fails the test at the deadline.
func (c *Cluster) WaitStreamHealthy(t testing.TB, stream string, replicas int) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	var last error
	for time.Now().Before(deadline) {
		if last = c.streamHealthy(stream, replicas); last == nil {
			return
		}
		time.Sleep(pollEvery)
	}
	t.Fatalf("cluster: stream %s not healthy within %s: %v", stream, settleTimeout, last)
}

func (c *Cluster) streamHealthy(stream string, replicas int) error {
	info, err := c.streamInfo(stream)
	if err != nil {
		return err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return errors.New("no leader")
	}
	if len(info.Cluster.Replicas) != replicas-1 {
		return fmt.Errorf("leader %s, %d other replicas, want %d", info.Cluster.Leader, len(info.Cluster.Replicas), replicas-1)
	}
	for _, p := range info.Cluster.Replicas {
		if !p.Current || p.Offline {
			return fmt.Errorf("replica %s not current (offline %v, lag %d)", p.Name, p.Offline, p.Lag)
		}
	}
	return nil
}

// streamInfo asks any reachable node for stream's info, on a connection of
// its own (so it never waits on a reconnecting one).
func (c *Cluster) streamInfo(stream string) (*jetstream.StreamInfo, error) {
	nc, err := nats.Connect(c.URLs(), nats.Timeout(2*time.Second), nats.NoReconnect(), nats.Name("cluster-harness"))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s via %s: %w", stream, nc.ConnectedServerName(), err)
	}
	return s.CachedInfo(), nil
}

// answerTry bounds one try of a request that a cluster just formed or just
// restarted may leave unanswered.
const answerTry = 10 * time.Second

// untilAnswered calls try with at most answerTry of ctx until it returns
// anything but that try's own deadline, and returns its last error. The
// meta or stream leader of a cluster that has just formed sometimes never
// answers one API request (a stream create in 1 of 10 runs, a consumer
// create once in 8: the whole 60 s of the caller's ctx); a request with
// the same config made again is a no-op when the first one did land. It
// ends when ctx does, so ctx must have a deadline.
func untilAnswered(ctx context.Context, try func(ctx context.Context) error) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, answerTry)
		err := try(tctx)
		unanswered := tctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil || !unanswered || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}
