package writepath_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/test/internal/streamread"
	"github.com/naq-go/events/test/natstest"
)

const (
	total = 10_000 // events per test
	batch = 2_000  // the logger's default batch size
	jobs  = 50
)

var quiet = slog.New(slog.DiscardHandler)

// connect connects the way the logger's connection should: reconnect
// forever, quickly, and without a reconnect buffer.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func newStore(t testing.TB, nc *nats.Conn, opts ...jsstore.Option) *jsstore.Store {
	t.Helper()
	opts = append([]jsstore.Option{jsstore.WithSlog(quiet), jsstore.WithAckTimeout(2 * time.Second)}, opts...)
	st, err := jsstore.New(context.Background(), nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.Equal(t, jsstore.PublishFast, st.PublishMode(), "the write path under test is the fast-ingest one")
	return st
}

// makeEvents returns n events spread round-robin over jobs jobs, in the
// order they are "logged".
func makeEvents(n int) []event.JobEvent {
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeRetryScheduled}
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.New(fmt.Sprintf("job-%03d", i%jobs), types[(i/jobs)%len(types)],
			event.WithMessage(fmt.Sprintf("%06d %s", i, strings.Repeat("x", 300))), event.WithQueue("q"))
	}
	return out
}

// storeAll stores evs in batches of batch the way the logger does: one
// batch at a time, the failed events of a batch retried, in order, before
// anything newer, until the deadline. It returns how many StoreBatch calls
// failed.
func storeAll(ctx context.Context, t testing.TB, st *jsstore.Store, evs []event.JobEvent) (failedCalls int, err error) {
	for len(evs) > 0 {
		n := min(batch, len(evs))
		todo := evs[:n:n]
		evs = evs[n:]
		for len(todo) > 0 {
			if err := ctx.Err(); err != nil {
				return failedCalls, fmt.Errorf("%d events not stored: %w", len(todo)+len(evs), err)
			}
			start := time.Now()
			err := st.StoreBatch(ctx, todo)
			if err == nil {
				break
			}
			failedCalls++
			t.Logf("StoreBatch of %d failed after %v: %.300v", len(todo), time.Since(start).Round(time.Millisecond), err)
			be, ok := errors.AsType[*logger.BatchError](err)
			if !ok || len(be.Errs) != len(todo) {
				// The whole batch again.
			} else {
				var rest []event.JobEvent
				for i, e := range be.Errs {
					if e != nil {
						if errors.Is(e, event.ErrInvalid) {
							return failedCalls, fmt.Errorf("event %s rejected: %w", todo[i].ID, e)
						}
						rest = append(rest, todo[i])
					}
				}
				todo = rest
			}
			select { // the logger's retry backoff
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return failedCalls, nil
}

// readBack returns the ids of every message of the stream, in stream order.
func readBack(t testing.TB, nc *nats.Conn, stream string) []string {
	t.Helper()
	var ids []string
	streamread.Each(t, nc, stream, func(m jetstream.Msg) {
		var doc struct {
			ID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal(m.Data(), &doc))
		ids = append(ids, doc.ID)
	})
	return ids
}

// checkExactlyOnceInOrder checks the stream against the events given: each
// exactly once, each job's events in the order given, and (one writer, one
// batch at a time) the whole stream in that order too.
func checkExactlyOnceInOrder(t *testing.T, got []string, evs []event.JobEvent) {
	t.Helper()
	count := make(map[string]int, len(got))
	for _, id := range got {
		count[id]++
	}
	var missing, dup int
	for i := range evs {
		switch c := count[evs[i].ID]; {
		case c == 0:
			missing++
		case c > 1:
			dup++
		}
	}
	require.Zero(t, missing, "events missing from the stream")
	require.Zero(t, dup, "events stored more than once")
	require.Len(t, got, len(evs), "messages in the stream")

	pos := make(map[string]int, len(evs))
	for i := range evs {
		pos[evs[i].ID] = i
	}
	last := make(map[string]int, jobs)
	for _, id := range got {
		i := pos[id]
		job := evs[i].JobID
		if p, ok := last[job]; ok {
			require.Less(t, p, i, "job %s: event %d stored after event %d", job, i, p)
		}
		last[job] = i
	}
	for k, id := range got {
		require.Equal(t, k, pos[id], "stream position %d holds event %d", k, pos[id])
	}
}

// runMidBatch stores the events in the background through p, calls fault
// once p has forwarded message seq of the fast batch number nth (from 1), and
// waits for every event to be stored. It returns how many StoreBatch calls
// failed.
func runMidBatch(t *testing.T, st *jsstore.Store, p *proxy, evs []event.JobEvent, nth, seq int, fault func()) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	type result struct {
		failed int
		err    error
	}
	k := 0
	suffix := fmt.Sprintf(".fail.%d.1.$FI", seq)
	seen := p.when(func(reply string) bool {
		if strings.HasSuffix(reply, ".fail.1.0.$FI") {
			k++ // a new batch starts
		}
		return k == nth && strings.HasSuffix(reply, suffix)
	})
	done := make(chan result, 1)
	go func() {
		f, err := storeAll(ctx, t, st, evs)
		done <- result{f, err}
	}()
	select {
	case <-seen:
		fault()
		p.release()
	case r := <-done:
		t.Fatalf("stored everything (%v) before message %d of batch %d went by", r.err, seq, nth)
	}
	r := <-done
	require.NoError(t, r.err)
	t.Logf("failed StoreBatch calls %d, store stats %+v", r.failed, st.Stats())
	return r.failed
}

// proxiedStore starts an embedded server on a store of its own, a proxy in
// front of it, and a Store on a connection through the proxy; all are
// stopped by t.Cleanup. opts go to newStore.
func proxiedStore(t *testing.T, opts ...jsstore.Option) (*natsembed.Server, *proxy, *nats.Conn, *jsstore.Store) {
	t.Helper()
	srv, err := natsembed.Start(natsembed.WithStoreDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	p := startProxy(t, strings.TrimPrefix(srv.ClientURL(), "nats://"))
	nc := connect(t, p.url())
	return srv, p, nc, newStore(t, nc, opts...)
}

// TestServerRestartMidBatch stops the server (gracefully) while a fast
// batch is half stored and starts it again on the same store.
func TestServerRestartMidBatch(t *testing.T) {
	srv, p, _, st := proxiedStore(t)
	watch := connect(t, srv.ClientURL())
	evs := makeEvents(total)

	failed := runMidBatch(t, st, p, evs, 2, batch/2, func() { require.NoError(t, srv.Restart()) })
	require.Positive(t, failed+int(st.Stats().Resent), "the restart should have failed a fast batch")
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
}

// TestConnectionCutMidFastBatch cuts the client's TCP connection while a
// fast batch is on the wire; the server keeps running.
func TestConnectionCutMidFastBatch(t *testing.T) {
	srv, p, nc, st := proxiedStore(t)
	watch := connect(t, srv.ClientURL())
	evs := makeEvents(total)

	failed := runMidBatch(t, st, p, evs, 2, batch/3, p.cut)
	require.Positive(t, failed+int(st.Stats().Resent), "the cut should have failed a fast batch")
	require.Positive(t, nc.Stats().Reconnects, "the client should have reconnected")
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
}

// TestGapForcedByLostMessage drops the 700th message of the first fast batch
// on its way to the server. The server stores the 699 before it, reports
// the gap and commits; StoreBatch sends the rest again and returns nil.
func TestGapForcedByLostMessage(t *testing.T) {
	_, p, nc, st := proxiedStore(t)
	p.dropOnce(func(reply string) bool { return strings.HasSuffix(reply, ".fail.700.1.$FI") })
	evs := makeEvents(batch)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, st.StoreBatch(ctx, evs), "StoreBatch re-sends after the gap itself")
	h, _ := st.Health(ctx) // says why, if the store fell back to asynchronous publishes
	require.EqualValues(t, batch-699, st.Stats().Resent, "events after the stored prefix sent again (publish mode %s, health %v)",
		st.PublishMode(), h.Detail)
	checkExactlyOnceInOrder(t, readBack(t, nc, st.StreamName()), evs)
}

// TestServerKilledMidBatch kills a nats-server process (in a container)
// with SIGKILL while a fast batch is half stored, and starts it again on
// the same volume.
func TestServerKilledMidBatch(t *testing.T) {
	srv := natstest.Run(t)
	p := startProxy(t, strings.TrimPrefix(srv.URL(), "nats://"))
	nc := connect(t, p.url())
	st := newStore(t, nc, jsstore.WithTimeout(10*time.Second))
	watch := connect(t, srv.URL())
	evs := makeEvents(total)

	failed := runMidBatch(t, st, p, evs, 2, batch/2, func() {
		srv.Kill(t)
		srv.Start(t)
	})
	require.Positive(t, failed+int(st.Stats().Resent), "the kill should have failed a fast batch")
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
}
