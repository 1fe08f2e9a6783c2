package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestCluster starts one cluster and runs on it, one after another, the
// harness's own check (Forms) and the five fault tests, each its own subtest
// (`-run 'TestCluster/LeaderKilled'`) with its own stream and durable:
// Reset heals what the test before did and deletes every stream first.
// Forming a cluster and removing its containers costs 7-10 s on two cores;
// shared, it is paid once. The whole cluster down goes last.
func TestCluster(t *testing.T) {
	c := StartCluster(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *Cluster)
	}{
		{"Forms", testClusterForms},
		{"LeaderKilled", testLeaderKilled},
		{"ClientNodeKilled", testClientNodeKilled},
		{"LeaderPartitioned", testLeaderPartitioned},
		{"RollingRestart", testRollingRestart},
		{"RollupReadNodeKilled", testRollupReadNodeKilled},
		{"WholeClusterDown", testWholeClusterDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Reset(t)
			tc.run(t, c)
		})
	}
}

// testClusterForms is the harness's own check: three nodes form a cluster,
// an R3 stream gets a leader and two current replicas, and after the
// leader's container is killed a write through the URL list still lands
// (on the new leader) without losing the earlier ones; the killed node
// comes back and catches up. Then a node is disconnected: a client connected
// to it alone loses it (Docker drops the published ports with the network),
// the other two keep taking writes, and the client is back after Reconnect.
func testClusterForms(t *testing.T, c *Cluster) {
	began := time.Now()
	t.Logf("cluster: %s", c.URLs())

	_, js := c.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const stream = "sanity"
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"sanity.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	c.WaitStreamHealthy(t, stream, 3)
	leader := c.StreamLeader(t, stream)
	t.Logf("stream %s: leader %s", stream, c.Name(leader))

	publish := func(from, to int) {
		for i := from; i < to; i++ {
			id := strconv.Itoa(i)
			require.NoError(t, retryPublish(ctx, js, "sanity.x", id), "publish %d", i)
		}
	}
	publish(0, 100)

	c.Kill(t, leader)
	killed := time.Now()
	publish(100, 101)
	t.Logf("first write after killing the leader stored in %s", time.Since(killed).Round(time.Millisecond))
	publish(101, 200)
	newLeader := c.StreamLeader(t, stream)
	require.NotEqual(t, leader, newLeader, "the killed node cannot still lead")
	t.Logf("new leader %s", c.Name(newLeader))

	c.Start(t, leader)
	c.WaitStreamHealthy(t, stream, 3)
	s, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(200), info.State.Msgs, "every write stored exactly once")

	// Disconnect cuts a node off from its clients too: a connection made to
	// that node alone sees it go, and comes back after Reconnect.
	cut := (newLeader + 1) % Size
	lost, back := make(chan struct{}, 1), make(chan struct{}, 1)
	only, err := nats.Connect(c.URL(cut), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { lost <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { back <- struct{}{} }))
	require.NoError(t, err)
	t.Cleanup(only.Close)
	cutAt := time.Now()
	c.Disconnect(t, cut)
	select {
	case <-lost:
		t.Logf("a client of %s lost it %s after the disconnect", c.Name(cut), time.Since(cutAt).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatalf("a client of %s still connected 30 s after the disconnect", c.Name(cut))
	}
	publish(200, 201) // the other two keep a quorum
	c.Reconnect(t, cut)
	select {
	case <-back:
	case <-time.After(30 * time.Second):
		t.Fatalf("the client of %s did not reconnect within 30 s of Reconnect", c.Name(cut))
	}
	c.WaitStreamHealthy(t, stream, 3)
	t.Logf("%s: 201 messages stored, wall %s", t.Name(), time.Since(began).Round(time.Millisecond))
}

// retryPublish publishes one message with its id as Nats-Msg-Id, retrying
// (the de-dup window makes a retry safe) while the stream elects a leader,
// until ctx ends.
func retryPublish(ctx context.Context, js jetstream.JetStream, subject, id string) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.Publish(pctx, subject, []byte(id), jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w (last error: %w)", id, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// The fault tests: each runs on the shared cluster (TestCluster), runs the workload at rate events/s,
// waits for a steady flow, injects its fault, measures the failover time
// (from the fault to the next stored event), keeps logging through the
// fault and after the heal, then stops the workload and checks by event id
// from the stream: nothing lost, doubled or reordered, every event
// processed, the live stream without a gap.

// workloadStream is the stream the workload's jsstore creates, with 3
// replicas.
const workloadStream = "naq_events"

// rate is the logger's rate in events/s, the floor.
const rate = 5000

// faultSeconds is how many seconds' worth of events are stored while a
// fault is on, after the failover. The suite's time goes mostly into the
// processor catching up at Stop, so every phase is kept short.
const faultSeconds = 1

// faultRun is one fault test in progress.
type faultRun struct {
	t     *testing.T
	c     *Cluster
	w     *Workload
	began time.Time
}

// startFaultRun starts the workload on c, and waits until the stream is
// healthy and a second's worth of events is stored.
func startFaultRun(t *testing.T, c *Cluster, opts ...WorkloadOption) *faultRun {
	t.Helper()
	r := &faultRun{t: t, c: c, began: time.Now()}
	r.w = StartWorkload(t, r.c.URLs(), append([]WorkloadOption{WithRate(rate), WithReplicas(3)}, opts...)...)
	r.c.WaitStreamHealthy(t, workloadStream, 3)
	r.w.WaitProgress(t, rate)
	t.Logf("workload up in %s", time.Since(r.began).Round(time.Millisecond))
	return r
}

// failover waits for the next stored event after since (the fault, or for
// the whole cluster the restart), and returns how long that took.
func (r *faultRun) failover(since time.Time, what string) time.Duration {
	r.t.Helper()
	r.w.WaitProgress(r.t, 1)
	d := time.Since(since)
	r.t.Logf("first event stored %s after %s", d.Round(time.Millisecond), what)
	return d
}

// logThrough keeps the fault on while seconds' worth of events are stored.
func (r *faultRun) logThrough(seconds int) {
	r.t.Helper()
	took := r.w.WaitProgress(r.t, seconds*rate)
	r.t.Logf("%d events stored in %s (at %s)", seconds*rate, took.Round(time.Millisecond), r.elapsed())
}

// elapsed is the time since the run began, for the log.
func (r *faultRun) elapsed() time.Duration { return time.Since(r.began).Round(time.Millisecond) }

// finish lets the healed cluster take one more second's worth of events,
// stops the workload, checks its report and prints the test's wall time.
func (r *faultRun) finish(failover time.Duration) Report {
	r.t.Helper()
	r.c.WaitStreamHealthy(r.t, workloadStream, 3)
	r.logThrough(1)
	r.c.WaitStreamHealthy(r.t, workloadStream, 3)
	rep := r.w.Stop(r.t)
	r.t.Logf("workload stopped and checked at %s", r.elapsed())
	rep.FailoverTime = failover
	rep.Check(r.t)
	r.t.Logf("%s: wall %s", r.t.Name(), time.Since(r.began).Round(time.Millisecond))
	return rep
}

// testLeaderKilled: the stream leader's container is killed (SIGKILL) while
// the logger writes; a new leader takes over; the old one is started again
// and catches up.
func testLeaderKilled(t *testing.T, c *Cluster) {
	r := startFaultRun(t, c)
	leader := r.c.StreamLeader(t, workloadStream)
	t.Logf("killing the stream leader %s", r.c.Name(leader))
	fault := time.Now()
	r.c.Kill(t, leader)
	failover := r.failover(fault, "the kill")
	r.logThrough(faultSeconds)
	r.c.Start(t, leader)
	r.finish(failover)
}

// testClientNodeKilled: the node the logger's connection is on is killed;
// the client fails over to the others by the URL list.
func testClientNodeKilled(t *testing.T, c *Cluster) {
	r := startFaultRun(t, c)
	on := r.c.Index(r.w.ConnectedServer())
	require.GreaterOrEqual(t, on, 0, "the logger is connected to %q, not a node of the cluster", r.w.ConnectedServer())
	leader := r.c.StreamLeader(t, workloadStream)
	t.Logf("killing %s, the logger's server (stream leader: %s)", r.c.Name(on), r.c.Name(leader))
	fault := time.Now()
	r.c.Kill(t, on)
	failover := r.failover(fault, "the kill")
	require.NotEqual(t, r.c.Name(on), r.w.ConnectedServer(), "the logger still reports the killed server")
	t.Logf("the logger is now on %s", r.w.ConnectedServer())
	r.logThrough(faultSeconds)
	r.c.Start(t, on)
	r.finish(failover)
}

// testLeaderPartitioned: the stream leader is cut off from the other two
// (and from its clients: Docker drops its published ports with the
// network), then healed.
func testLeaderPartitioned(t *testing.T, c *Cluster) {
	r := startFaultRun(t, c)
	leader := r.c.StreamLeader(t, workloadStream)
	t.Logf("partitioning the stream leader %s", r.c.Name(leader))
	fault := time.Now()
	r.c.Disconnect(t, leader)
	failover := r.failover(fault, "the partition")
	newLeader := r.c.StreamLeader(t, workloadStream)
	require.NotEqual(t, leader, newLeader, "the partitioned node still leads")
	t.Logf("new leader %s", r.c.Name(newLeader))
	r.logThrough(faultSeconds)
	r.c.Reconnect(t, leader)
	r.finish(failover)
}

// testRollingRestart: each node in turn is stopped gracefully and started
// again, the stream healthy before the next one goes. The failover time is
// the longest of the three.
func testRollingRestart(t *testing.T, c *Cluster) {
	r := startFaultRun(t, c)
	var worst time.Duration
	for i := range Size {
		leader := r.c.StreamLeader(t, workloadStream)
		t.Logf("restarting %s (stream leader: %s)", r.c.Name(i), r.c.Name(leader))
		fault := time.Now()
		r.c.Stop(t, i)
		worst = max(worst, r.failover(fault, "the stop"))
		r.c.Start(t, i) // the logger keeps writing while the node catches up
		r.c.WaitStreamHealthy(t, workloadStream, 3)
	}
	r.finish(worst)
}

// testWholeClusterDown: all three nodes stopped for longer than the
// logger's retries, with spill on, so events go to the spill; then all
// started again. The spill drains into the stream and the processor resumes
// on its own: no operator action between StartAll and the checks. The
// failover time is from the restart to the next stored event.
func testWholeClusterDown(t *testing.T, c *Cluster) {
	r := startFaultRun(t, c, WithSpill(t.TempDir()))
	t.Log("stopping the whole cluster")
	down := time.Now()
	r.c.StopAll(t)
	r.w.WaitSpilled(t, rate)
	t.Logf("cluster down for %s, the logger spilled", time.Since(down).Round(time.Millisecond))
	restart := time.Now()
	r.c.StartAll(t)
	failover := r.failover(restart, "the restart")
	r.finish(failover)
}
