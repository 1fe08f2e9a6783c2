package jsstore_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
)

// runStream ranges over st.Stream(f, opts) in a goroutine: records on the first
// channel, the error it ends with (nil: it ended without one) on the
// second. The range stops when the test ends.
func runStream(t *testing.T, ctx context.Context, st *jsstore.Store, f event.Filter, opts event.StreamOptions) (<-chan event.Record, <-chan error) {
	t.Helper()
	recs := make(chan event.Record, 100)
	end := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for rec, err := range st.Stream(ctx, f, opts) {
			if err != nil {
				end <- err
				return
			}
			recs <- rec
		}
		end <- nil
	}()
	return recs, end
}

// waitFirst waits for a Stream's first record, which must be seq 1.
func waitFirst(t *testing.T, recs <-chan event.Record, end <-chan error) {
	t.Helper()
	select {
	case rec := <-recs:
		require.Equal(t, uint64(1), rec.Seq)
	case err := <-end:
		t.Fatalf("stream ended with %v before its first record", err)
	case <-time.After(time.Minute):
		t.Fatal("no first record within a minute")
	}
}

// waitEnd returns the error a Stream ended with, failing the test when it
// does not end within a minute or yields a record first.
func waitEnd(t *testing.T, recs <-chan event.Record, end <-chan error) error {
	t.Helper()
	select {
	case err := <-end:
		return err
	case rec := <-recs:
		t.Fatalf("stream yielded seq %d (%s), want it to end", rec.Seq, rec.Event.ID)
	case <-time.After(time.Minute):
		t.Fatal("stream still runs a minute later, want it ended")
	}
	return nil
}

// TestStream_EndsWhenTheStreamIsDeleted: a Stream whose JetStream stream
// is deleted under it ends with ErrStreamReplaced naming the stream, where
// it used to wait for ever (nats.go retries the consumer's re-create
// without end), whether it had delivered something or not.
func TestStream_EndsWhenTheStreamIsDeleted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opts  event.StreamOptions
		first bool // the Stream delivers the stored event before the deletion
	}{
		{"live", event.StreamOptions{}, false},
		{"history", event.StreamOptions{History: true}, true},
		{"from seq", event.StreamOptions{FromSeq: 1}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			ctx := t.Context()
			require.NoError(t, f.st.Store(ctx, event.New("job1", event.TypeEnqueued)))
			recs, end := runStream(t, ctx, f.st, event.Filter{}, tt.opts)
			if tt.first {
				waitFirst(t, recs, end)
			}
			require.Eventually(t, func() bool {
				h, err := f.st.Health(ctx)
				return err == nil && h.Detail["consumers"] == 1
			}, time.Minute, 5*time.Millisecond)

			js, err := jetstream.New(connect(t, f.srv.ClientURL()))
			require.NoError(t, err)
			require.NoError(t, js.DeleteStream(ctx, jsstore.DefaultStream))

			err = waitEnd(t, recs, end)
			require.ErrorIs(t, err, jsstore.ErrStreamReplaced)
			require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
			require.ErrorContains(t, err, "the stream naq_events was deleted while this stream ran")
		})
	}
}

// TestStream_EndsWhenTheStreamIsRecreated: a stream deleted and created
// again while a Stream's connection was away (here: a server restart, the
// connection held back until the new stream has events). nats.go's
// re-created consumer starts after the last sequence delivered, which on
// the new stream names other events: it would skip the new stream's first
// event and deliver the next ones as if they followed. The Stream ends
// with ErrStreamReplaced instead, before it yields any event of the new
// stream.
func TestStream_EndsWhenTheStreamIsRecreated(t *testing.T) {
	srv := startServer(t)
	dialer := &gatedDialer{}
	nc := connect(t, srv.ClientURL(), nats.SetCustomDialer(dialer))
	t.Cleanup(dialer.open) // runs before nc.Close: never leave a dial waiting
	st := newStore(t, nc)
	ctx := t.Context()
	require.NoError(t, st.Store(ctx, event.New("job1", event.TypeEnqueued)))
	recs, end := runStream(t, ctx, st, event.Filter{}, event.StreamOptions{History: true})
	waitFirst(t, recs, end)

	dialer.close()
	srv.Stop()
	require.NoError(t, srv.Restart())
	onc := connect(t, srv.ClientURL())
	js, err := jetstream.New(onc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteStream(ctx, jsstore.DefaultStream))
	other := newStore(t, onc) // creates the stream again
	for i := range 3 {
		require.NoError(t, other.Store(ctx, event.New("job2", event.TypeEnqueued, event.WithMessage(string(rune('a'+i))))))
	}
	dialer.open()

	err = waitEnd(t, recs, end)
	require.ErrorIs(t, err, jsstore.ErrStreamReplaced)
	require.ErrorContains(t, err, "the stream naq_events was deleted and created again while this stream ran")
}

// TestStream_CancelEndsAConsumerReset: a Stream whose consumer nats.go is
// re-creating, and fails to, ends when its context does. Here the create
// fails because a consumer of the name nats.go picks exists with another
// deliver policy, which cannot be updated; after a quorum loss each try
// would wait for its answer instead. The Stream used to stay in the
// re-create for as long as the create failed: the SSE handler that waits
// for its Stream to end after the client left hung with it.
func TestStream_CancelEndsAConsumerReset(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	recs, end := runStream(t, ctx, f.st, event.Filter{JobID: "job1"}, event.StreamOptions{})

	js, err := jetstream.New(connect(t, f.srv.ClientURL()))
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), jsstore.DefaultStream)
	require.NoError(t, err)
	// The Stream's consumer, once its pull request waits on the server
	// (which then answers "consumer deleted" at once).
	var cons *jetstream.ConsumerInfo
	require.Eventually(t, func() bool {
		for c := range s.ListConsumers(t.Context()).Info() {
			if c.NumWaiting > 0 {
				cons = c
				return true
			}
		}
		return false
	}, time.Minute, 5*time.Millisecond)
	prefix, serial, ok := strings.Cut(cons.Name, "_")
	require.True(t, ok && serial == "1", "consumer name %s", cons.Name)
	_, err = s.CreateConsumer(t.Context(), jetstream.ConsumerConfig{
		Durable:       prefix + "_2", // the name of nats.go's re-create; durable: the server keeps it
		DeliverPolicy: jetstream.DeliverLastPolicy,
		AckPolicy:     jetstream.AckNonePolicy,
		FilterSubject: cons.Config.FilterSubject,
	})
	require.NoError(t, err)
	require.NoError(t, s.DeleteConsumer(t.Context(), cons.Name))
	// nats.go re-creates the consumer and retries while the create fails.
	require.Eventually(t, func() bool {
		var b bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		return bytes.Contains(b.Bytes(), []byte("jetstream.retryWithBackoff")) &&
			bytes.Contains(b.Bytes(), []byte("jetstream.(*orderedConsumer).reset"))
	}, time.Minute, 20*time.Millisecond, "the consumer's re-create never started")
	cancel()

	err = waitEnd(t, recs, end)
	require.ErrorIs(t, err, context.Canceled)
}
