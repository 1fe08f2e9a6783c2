package jsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/ports"
)

// This file holds what the Store knows about running on a NATS cluster:
// which server the connection is on and the stream's Raft group (Cluster,
// in Health), the JetStream error codes that mean "the cluster is busy, ask
// again" (transientCodes, used by transient in store.go), and the bounded
// retry of reads across a leader election (retryRead).

// Cluster is where the Store's connection and stream are in a NATS
// cluster. On a single server without clustering Name, Leader and Replicas
// are empty.
type Cluster struct {
	// Server is the server the connection is on now.
	Server Server
	// Name is the name of the cluster holding the stream.
	Name string
	// Leader is the server name of the stream's Raft leader; empty while
	// the group elects one.
	Leader string
	// LeaderSince is when Leader was elected (zero when unknown).
	LeaderSince time.Time
	// Replicas are the stream's other peers, as the leader sees them.
	Replicas []Replica
}

// Server is the server a connection is on.
type Server struct {
	Name    string // the server's name (server_name)
	URL     string // its URL, passwords and tokens hidden
	Cluster string // the name of its cluster; empty when not clustered
}

// Replica is a follower of the stream's Raft group.
type Replica struct {
	Name    string        // server name
	Current bool          // up to date with the leader
	Offline bool          // not seen by the group recently
	Active  time.Duration // since the leader last heard from it
	Lag     uint64        // operations behind the leader
}

// ConnectedServer returns the server the Store's connection is on now.
func (s *Store) ConnectedServer() Server {
	return Server{Name: s.nc.ConnectedServerName(), URL: s.nc.ConnectedUrlRedacted(), Cluster: s.nc.ConnectedClusterName()}
}

// Cluster returns the connected server and the stream's Raft group: its
// leader and each replica's state, from one stream info request (answered
// by the stream leader), retried like a read while the group elects a
// leader. The error wraps ports.ErrUnavailable when the cluster did not
// answer in time.
func (s *Store) Cluster(ctx context.Context) (Cluster, error) {
	if err := s.checkOpen(); err != nil {
		return Cluster{}, err
	}
	var info *jetstream.StreamInfo
	err := s.retryRead(ctx, func(ctx context.Context) error {
		var err error
		info, err = s.streamInfo(ctx)
		return err
	})
	if err != nil {
		return Cluster{Server: s.ConnectedServer()}, fmt.Errorf("jsstore: cluster: stream info %q: %w", s.cfg.stream, err)
	}
	return s.clusterOf(info), nil
}

// clusterOf is the Cluster of a stream info answer.
func (s *Store) clusterOf(info *jetstream.StreamInfo) Cluster {
	c := Cluster{Server: s.ConnectedServer()}
	ci := info.Cluster
	if ci == nil {
		return c
	}
	c.Name, c.Leader = ci.Name, ci.Leader
	if ci.LeaderSince != nil {
		c.LeaderSince = *ci.LeaderSince
	}
	for _, p := range ci.Replicas {
		if p == nil {
			continue
		}
		c.Replicas = append(c.Replicas, Replica{Name: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active, Lag: p.Lag})
	}
	return c
}

// detail is c as Health's Detail shows it.
func (c Cluster) detail() map[string]any {
	reps := make([]map[string]any, 0, len(c.Replicas))
	for _, r := range c.Replicas {
		reps = append(reps, map[string]any{
			"name": r.Name, "current": r.Current, "offline": r.Offline,
			"active_ms": r.Active.Milliseconds(), "lag": r.Lag,
		})
	}
	d := map[string]any{"name": c.Name, "leader": c.Leader, "replicas": reps}
	if !c.LeaderSince.IsZero() {
		d["leader_since"] = c.LeaderSince.UTC().Format(time.RFC3339)
	}
	return d
}

// streamInfo is one stream info request with the request timeout.
func (s *Store) streamInfo(ctx context.Context) (*jetstream.StreamInfo, error) {
	ctx, cancel := s.requestTimeout(ctx)
	defer cancel()
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return info, nil
}

// requestTimeout bounds one request-reply round trip (a stream info, a
// count consumer) by the Store's timeout even when ctx allows longer: a
// JetStream API request the server drops while the stream elects a leader
// then ends in a timeout that retryRead can retry within ctx, instead of
// using all of ctx up.
func (s *Store) requestTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.timeout)
}

// transientCodes are the JetStream API error codes (nats-server
// server/errors.json) that mean the cluster cannot answer now but will:
// a leader election, a stream whose peers are all offline, a server whose
// JetStream is not ready yet. The other codes are permanent, among them
// 10059 stream not found (the meta leader answers it only for a stream
// that is really gone, not during an election), 10005 no suitable peers
// (more replicas than servers: a setting), 10023 insufficient resources
// and 10077 store failed (a full or failing disk), 10039 JetStream not
// enabled for the account (an account setting).
var transientCodes = map[jetstream.ErrorCode]string{
	10004: "JSClusterIncompleteErr",                    // 503 incomplete results
	10007: "JSClusterNotAssignedErr",                   // 500 not assigned to this server (placement under way)
	10008: "JSClusterNotAvailErr",                      // 503 JetStream system temporarily unavailable
	10009: "JSClusterNotLeaderErr",                     // 500 JetStream cluster can not handle request
	10076: "JSNotEnabledErr",                           // 503 JetStream not enabled (not ready yet: starting up)
	10118: "JSStreamOfflineErr",                        // 500 stream is offline (all its peers are)
	10163: "JSStreamExpectedLastSeqPerSubjectNotReady", // 503 temporarily unavailable
	10202: "JSClusterServerMemberChangeInflightErr",    // 400 cluster member change in progress
	10208: "JSBatchPublishUnknownBatchIDErr",           // 400 fast batch's state gone (leader change, restart)
	10211: "JSBatchPublishTooManyInflight",             // 429 too many fast batches in flight
}

// transientAPI reports whether a JetStream API error means "ask again":
// a code of transientCodes, or a bare 503 status without a JetStream code
// (no responders).
func transientAPI(e *jetstream.APIError) bool {
	if _, ok := transientCodes[e.ErrorCode]; ok {
		return true
	}
	return e.ErrorCode == 0 && e.Code == 503
}

// Retry of reads: the first pause after a transient answer, and the
// longest.
const (
	retryFirst = 10 * time.Millisecond
	retryMax   = 500 * time.Millisecond
)

// retryRead runs op until it succeeds, fails with an error that does not
// wrap ports.ErrUnavailable, or its time is up: ctx's deadline, or the
// Store's timeout (WithTimeout) from now when ctx has none. It pauses
// between tries with an exponential backoff (10 ms doubling to 500 ms) cut
// short by the deadline, and counts each further try in Stats.Retried. op
// gets a context with that deadline and must be idempotent: each try
// starts from scratch (the caller resets what the try collects). A closed
// connection is not retried.
func (s *Store) retryRead(ctx context.Context, op func(context.Context) error) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.retryUnavailable(ctx, retryMax, op)
}

// retryUnavailable runs op until it succeeds, fails with an error that
// does not wrap ports.ErrUnavailable, ctx ends, or the Store or its
// connection closes; it pauses between tries from retryFirst doubling to
// most and counts each further try in Stats.Retried.
func (s *Store) retryUnavailable(ctx context.Context, most time.Duration, op func(context.Context) error) error {
	wait := retryFirst
	for {
		err := op(ctx)
		if err == nil || !errors.Is(err, ports.ErrUnavailable) || ctx.Err() != nil || s.nc.IsClosed() ||
			errors.Is(err, ports.ErrClosed) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-s.done:
			t.Stop()
			return err
		case <-t.C:
		}
		s.retried.Add(1)
		wait = min(2*wait, most)
	}
}
