package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/subject"
)

// testRollupReadNodeKilled: the rollups' read of an R3 stream goes on when
// the node that holds its consumer is killed in the middle: the read makes
// its consumer again (on a node that is up, after the stream has elected a
// leader if it led it) from the message after the last one delivered, and
// delivers every message of the range exactly once, in order.
func testRollupReadNodeKilled(t *testing.T, c *Cluster) {
	nc, js := c.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	const name, n = "ev", 20000 // several of the read's pull batches (4096)
	var st jetstream.Stream
	err := untilAnswered(ctx, func(ctx context.Context) (err error) {
		st, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject.StreamFilter()}, Replicas: 3, Storage: jetstream.FileStorage})
		return err
	})
	require.NoError(t, err, "create the stream")
	c.WaitStreamHealthy(t, name, 3)
	publishEvents(ctx, t, nc, n)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(n), info.State.Msgs)
	streamLeader := c.StreamLeader(t, name)

	l, err := jsrollup.NewLog(ctx, nc, name)
	require.NoError(t, err)
	var (
		seen     []uint64
		killed   = -1
		killedAt time.Time
	)
	began := time.Now()
	last, err := l.Read(ctx, 1, n, func(m jsrollup.Msg) bool {
		seen = append(seen, m.Seq)
		if m.Seq != 100 {
			return true
		}
		// Kill the node that holds the read's consumer (an R1 consumer
		// of the R3 stream).
		var hosts []string
		for ci := range st.ListConsumers(ctx).Info() {
			if ci.Cluster != nil {
				hosts = append(hosts, ci.Cluster.Leader)
			}
		}
		require.Len(t, hosts, 1, "the read's consumer alone")
		killed = c.Index(hosts[0])
		require.GreaterOrEqual(t, killed, 0, "consumer on %q", hosts[0])
		c.Kill(t, killed)
		killedAt = time.Now()
		return true
	})
	require.NoError(t, err)
	require.Equal(t, uint64(n), last)
	require.GreaterOrEqual(t, killed, 0, "a node was killed")
	require.Len(t, seen, n, "every message once")
	for i, seq := range seen {
		require.Equal(t, uint64(i+1), seq, "in order, none twice")
	}
	t.Logf("read %d messages; killed %s (the stream's leader: %v) at message 100; the read ended %s after the kill, %s after it began",
		n, c.Name(killed), killed == streamLeader, time.Since(killedAt).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// publishEvents stores n events (job-<i>, completed) on the stream of
// subject.StreamFilter, each once: async publishes in rounds, those whose
// acknowledgement failed (a fresh R3 stream can time some out) sent again
// under the same Nats-Msg-Id, which the server de-duplicates.
func publishEvents(ctx context.Context, t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	// Room for every publish in flight: none stalls.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(n))
	require.NoError(t, err)
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	var last error // of the round before
	for round := 0; len(left) > 0; round++ {
		require.Less(t, round, 20, "%d events still not stored after 20 rounds: %v", len(left), last)
		futures := make([]jetstream.PubAckFuture, len(left))
		for k, i := range left {
			job := fmt.Sprintf("job-%d", i)
			ev := event.Completed(job, "w", time.Millisecond, event.WithQueue("q"))
			subj, err := subject.For("dev", "naq", job, ev.Type)
			require.NoError(t, err)
			body, err := ev.AppendJSON(nil)
			require.NoError(t, err)
			futures[k], err = js.PublishAsync(subj, body, jetstream.WithMsgID(job))
			require.NoError(t, err)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatalf("%d publishes not acknowledged: %v", js.PublishAsyncPending(), ctx.Err())
		}
		var again []int
		for k, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				again, last = append(again, left[k]), err
			}
		}
		left = again
	}
}
