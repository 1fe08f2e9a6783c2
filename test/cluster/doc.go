// Package cluster runs naq-events against a three-node NATS JetStream
// cluster in containers and injects the faults a cluster really has.
//
// TestCluster starts one cluster (StartCluster) and runs the harness's check
// and the six fault tests on it as subtests, each on a fresh stream and
// durable (Reset heals the nodes and deletes every stream between them);
// BenchmarkClusterIngest starts its own. A cluster is three nats-server
// containers from the locally built image (`make nats-image`; nothing is
// pulled) on a private Docker network the test creates, server names n1..n3,
// routes between them by their network aliases, JetStream with its store in
// the container's /data volume. Each node's client port (4222) and
// monitoring port (8222) are bound to loopback ports chosen once, so
// Cluster.URLs stays valid across a Kill, Stop or Disconnect of any node and
// clients fail over by that list (no_advertise: the servers gossip no other
// URLs).
//
// Faults:
//
//   - Kill: docker kill (SIGKILL), nothing flushed; the volume stays.
//   - Stop: graceful stop (SIGTERM).
//   - Start: start again and wait until the node serves and has caught up
//     (its /healthz is 200, which in a cluster means meta leader known and
//     every stream and consumer it holds current).
//   - Disconnect: docker network disconnect from the private network. Docker
//     then also drops the container's published ports, so clients connected
//     to that node lose it and new connections to its URL are refused: the
//     node is cut off from the cluster and from every client. Reconnect puts
//     it back on the network under its alias and Docker publishes the same
//     host ports again.
//
// The fault tests (faults_test.go) run the workload (workload_test.go) while
// the fault happens and check, by event id from the stream itself, that
// nothing was lost, doubled or reordered and that the processor and the live
// stream kept up; each prints its figures. RollupReadNodeKilled
// (rollupread_test.go) kills the node holding the rollups' read consumer
// mid-read and checks that the read delivers every message once, in order.
//
// Cost: a cluster forms in 4-7 s; each fault test takes 30-100 s on a 2-core
// machine under -race (the whole cluster down the longest: the spill of the
// outage replays at Stop), and the package about 5-6 minutes, more when the
// machine is busy. The workload's processor is sized (workload_test.go) so
// that it keeps up with the logger instead of catching up at Stop.
// `make test-cluster` runs the suite. Nothing here skips: without Docker or
// the image the tests fail and say which command fixes it.
package cluster
