package metrics

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/naq-go/events/adapters/jsstore"
)

// ClusterSource is what the stream's cluster series are read from at each
// scrape: *jsstore.Store.
type ClusterSource interface {
	// Cluster returns the connected server and the stream's Raft group.
	Cluster(ctx context.Context) (jsstore.Cluster, error)
	// StreamName is the stream's name, the stream label of every series.
	StreamName() string
	// Stats holds the read retries counter.
	Stats() jsstore.Stats
}

// clusterTimeout bounds the stream info request of one scrape.
const clusterTimeout = 2 * time.Second

var (
	natsServerInfo = desc("nats", "server_info", "1 for the server the NATS connection is on: its name, URL (secrets hidden) and cluster.",
		"server", "url", "cluster")
	streamLeader = desc("stream", "leader_info", "1 for the stream's Raft leader (empty while none is elected), with the cluster's name.",
		"stream", "leader", "cluster")
	streamReplicas = desc("stream", "replicas", "Peers of the stream's Raft group, the leader included, as the leader reports them.", "stream")
	replicaCurrent = desc("stream", "replica_current", "1 while the replica is up to date with the stream's leader.", "stream", "replica")
	replicaOffline = desc("stream", "replica_offline", "1 while the stream's group considers the replica offline.", "stream", "replica")
	replicaActive  = desc("stream", "replica_active_seconds", "Time since the stream's leader last heard from the replica.", "stream", "replica")
	replicaLag     = desc("stream", "replica_lag", "Operations the replica is behind the stream's leader.", "stream", "replica")
	clusterErrors  = desc("stream", "cluster_errors_total", "Scrapes that could not read the stream's cluster state (stream info failed).", "stream")
	readRetried    = desc("store", "read_retried_total", "Further tries of store reads after a transient answer (leader election, reconnect).")
)

// Cluster adds the stream's cluster series of src, read at each scrape with
// a 2 s timeout: naq_events_stream_leader_info{stream,leader,cluster},
// naq_events_stream_replicas, and per replica (the leader's followers)
// naq_events_stream_replica_current, _offline, _active_seconds and _lag
// {stream,replica}; a failure is logged to log, counted in
// naq_events_stream_cluster_errors_total and leaves those series out of
// that scrape. Also naq_events_store_read_retried_total. A nil log means
// slog.Default(). On a server without clustering the leader label and the
// replica series are absent.
func (m *Metrics) Cluster(src ClusterSource, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	m.reg.MustRegister(&clusterCollector{src: src, log: log})
}

type clusterCollector struct {
	src    ClusterSource
	log    *slog.Logger
	errors atomic.Uint64
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{streamLeader, streamReplicas, replicaCurrent, replicaOffline, replicaActive,
		replicaLag, clusterErrors, readRetried} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	stream := c.src.StreamName()
	ch <- counter(readRetried, c.src.Stats().Retried)
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	cl, err := c.src.Cluster(ctx)
	if err != nil {
		c.errors.Add(1)
		c.log.Warn("metrics: stream cluster state unavailable", "stream", stream, "err", err)
	} else {
		ch <- gauge(streamLeader, 1, stream, cl.Leader, cl.Name)
		n := len(cl.Replicas)
		if cl.Leader != "" {
			n++
		}
		ch <- gauge(streamReplicas, float64(n), stream)
		for _, r := range cl.Replicas {
			ch <- gauge(replicaCurrent, b2f(r.Current), stream, r.Name)
			ch <- gauge(replicaOffline, b2f(r.Offline), stream, r.Name)
			ch <- gauge(replicaActive, r.Active.Seconds(), stream, r.Name)
			ch <- gauge(replicaLag, float64(r.Lag), stream, r.Name)
		}
	}
	ch <- counter(clusterErrors, c.errors.Load(), stream)
}
