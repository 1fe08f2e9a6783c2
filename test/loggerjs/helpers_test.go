package loggerjs_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/filestore"
	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/test/internal/streamread"
)

// quiet discards the logger's own warnings, which the tests provoke on
// purpose; the assertions read Stats and the stream instead.
var quiet = slog.New(slog.DiscardHandler)

// startServer starts an embedded nats-server whose store directory belongs
// to the test (t.TempDir), so that Stop and Restart keep the stream.
func startServer(t testing.TB) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.WithStoreDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv
}

// connect connects the way a long-lived logger should:
//
//   - MaxReconnects(-1): reconnect forever, whatever the outage length;
//   - ReconnectWait(20ms): find the restarted server quickly;
//   - ReconnectBufSize(-1): no reconnect buffer. A publish while
//     disconnected fails at once (nats.ErrReconnectBufExceeded) instead of
//     sitting in nats.go's buffer until its acknowledgement times out. The
//     buffer is no durability anyway (an event counts as stored only when
//     its acknowledgement arrives), so without it a failed batch goes back
//     to the logger's retry, breaker and spill in microseconds rather than
//     after the ack timeout, and nothing is sent twice from two places.
func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectBufSize(-1),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// newStore makes a JetStream store on nc (unlimited stream), closed at
// cleanup.
func newStore(t testing.TB, nc *nats.Conn, opts ...jsstore.Option) *jsstore.Store {
	t.Helper()
	opts = append([]jsstore.Option{jsstore.WithMaxMsgs(0), jsstore.WithMaxBytes(0)}, opts...)
	st, err := jsstore.New(t.Context(), nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// openSpill opens a file spill in dir, closed at cleanup.
func openSpill(t testing.TB, dir string) *filestore.Store {
	t.Helper()
	sp, err := filestore.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// streamIDs reads the whole stream with an ordered consumer and returns how
// often each event id occurs, checking on the way that every message's
// Nats-Msg-Id header is the event_id of its body.
func streamIDs(t testing.TB, nc *nats.Conn, stream string) map[string]int {
	t.Helper()
	ids := make(map[string]int)
	streamread.Each(t, nc, stream, func(m jetstream.Msg) {
		var ev event.JobEvent
		require.NoError(t, json.Unmarshal(m.Data(), &ev), "message %s", m.Subject())
		require.Equal(t, ev.ID, m.Headers().Get(jetstream.MsgIDHeader), "Nats-Msg-Id of %s", m.Subject())
		ids[ev.ID]++
	})
	return ids
}

// requireExactlyOnce checks that the stream holds each of want exactly
// once and nothing else.
func requireExactlyOnce(t testing.TB, got map[string]int, want []string) {
	t.Helper()
	var dups, missing []string
	for id, n := range got {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for _, id := range want {
		if got[id] == 0 {
			missing = append(missing, id)
		}
	}
	require.Empty(t, dups, "events stored more than once")
	require.Empty(t, missing, "%d of %d events missing from the stream", len(missing), len(want))
	require.Len(t, got, len(want), "the stream holds events nobody logged")
}

// newEvent returns a valid event of job-(i mod 1000).
func newEvent(i int) event.JobEvent {
	return event.New("job-"+strconv.Itoa(i%1000), event.TypeStarted,
		event.WithWorker("w-"+strconv.Itoa(i%16), "async"), event.WithQueue("default"))
}

// paddedEvent returns a template event whose v1.0 document is exactly size
// bytes, the pad in a detail.
func paddedEvent(tb testing.TB, size int) event.JobEvent {
	tb.Helper()
	ev := event.New("job-00000", event.TypeStarted, event.WithWorker("worker-01", "async"),
		event.WithQueue("default"), event.WithDetail("pad", ""))
	doc, err := ev.AppendJSON(nil)
	require.NoError(tb, err)
	require.Less(tb, len(doc), size, "the unpadded event is already %d bytes", len(doc))
	ev.Details = map[string]any{"pad": strings.Repeat("x", size-len(doc))}
	doc, err = ev.AppendJSON(nil)
	require.NoError(tb, err)
	require.Len(tb, doc, size)
	return ev
}
