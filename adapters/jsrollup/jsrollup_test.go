package jsrollup_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/domain/subject"
	"github.com/naq-go/events/ports"
)

// stream makes stream "ev" on the subjects of domain/subject and publishes
// n events (job-<i>, completed) plus, at the given positions, a message
// that is not an event.
func stream(t *testing.T, nc *nats.Conn, n int, junkAt ...int) jetstream.Stream {
	t.Helper()
	return streamWith(t, nc, jetstream.StreamConfig{}, n, junkAt...)
}

// streamWith is stream with cfg's other fields (Name and Subjects are
// stream's).
func streamWith(t *testing.T, nc *nats.Conn, cfg jetstream.StreamConfig, n int, junkAt ...int) jetstream.Stream {
	t.Helper()
	ctx := context.Background()
	// Room for every publish in flight: no stall under a loaded machine.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(n, 256)))
	require.NoError(t, err)
	cfg.Name, cfg.Subjects = "ev", []string{subject.StreamFilter()}
	st, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)
	junk := map[int]bool{}
	for _, j := range junkAt {
		junk[j] = true
	}
	for i := range n {
		job := fmt.Sprintf("job-%d", i)
		ev := event.Completed(job, "w", time.Millisecond, event.WithQueue("q"))
		subj, err := subject.For("dev", "naq", job, ev.Type)
		require.NoError(t, err)
		body, err := ev.AppendJSON(nil)
		require.NoError(t, err)
		if junk[i] {
			body = []byte("not json")
		}
		_, err = js.PublishAsync(subj, body)
		require.NoError(t, err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatalf("%d publishes not acknowledged after 30 s", js.PublishAsyncPending())
	}
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(n), info.State.Msgs, "all published, in order (one publisher, one connection)")
	return st
}

func TestLogReadPendingState(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx := context.Background()
	st := stream(t, nc, 100, 10)
	l, err := jsrollup.NewLog(ctx, nc, "ev")
	require.NoError(t, err)

	s, err := l.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, jsrollup.StreamState{First: 1, Last: 100, Msgs: 100}, s)

	var seqs []uint64
	bad := 0
	last, err := l.Read(ctx, 5, 20, func(m jsrollup.Msg) bool {
		seqs = append(seqs, m.Seq)
		if m.Event == nil {
			bad++
		} else {
			assert.Equal(t, fmt.Sprintf("job-%d", m.Seq-1), m.Event.JobID)
			assert.Equal(t, "dev", m.Environment)
		}
		return true
	})
	require.NoError(t, err)
	assert.EqualValues(t, 20, last)
	assert.Len(t, seqs, 16)
	assert.Equal(t, 1, bad, "sequence 11 is not an event")

	// Purge a range: Read skips it, Pending counts without it.
	require.NoError(t, st.Purge(ctx, jetstream.WithPurgeSequence(51)))
	require.NoError(t, st.DeleteMsg(ctx, 60))
	n, err := l.Pending(ctx, 1)
	require.NoError(t, err)
	assert.EqualValues(t, 49, n)
	n, err = l.Pending(ctx, 61)
	require.NoError(t, err)
	assert.EqualValues(t, 40, n)
	seqs = seqs[:0]
	last, err = l.Read(ctx, 1, 60, func(m jsrollup.Msg) bool { seqs = append(seqs, m.Seq); return true })
	require.NoError(t, err)
	assert.EqualValues(t, 59, last)
	assert.Len(t, seqs, 9, "51…59")

	// A range whose messages are all gone ends at once when the stream
	// goes on past it …
	require.NoError(t, st.DeleteMsg(ctx, 70))
	last, err = l.Read(ctx, 70, 70, func(jsrollup.Msg) bool { t.Error("nothing to deliver"); return true })
	require.NoError(t, err)
	assert.Zero(t, last)
	// … and after the idle time at the end of the stream.
	require.NoError(t, st.DeleteMsg(ctx, 100))
	quick, err := jsrollup.NewLog(ctx, nc, "ev", jsrollup.WithIdle(50*time.Millisecond))
	require.NoError(t, err)
	last, err = quick.Read(ctx, 100, 100, func(jsrollup.Msg) bool { t.Error("nothing to deliver"); return true })
	require.NoError(t, err)
	assert.Zero(t, last)

	_, err = jsrollup.NewLog(ctx, nc, "nope")
	assert.ErrorIs(t, err, ports.ErrNotFound)
	_, err = jsrollup.NewLog(ctx, nc, "ev", jsrollup.WithIdle(0))
	assert.ErrorIs(t, err, ports.ErrInvalid)
	_, err = jsrollup.NewLog(ctx, nc, "ev", jsrollup.WithReadRecovery(-time.Second))
	assert.ErrorIs(t, err, ports.ErrInvalid)
	assert.ErrorContains(t, err, "WithReadRecovery(-1s)")
}

func TestStateSaveLoad(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx := context.Background()
	_, err := jsrollup.NewState(ctx, nc, false, jsrollup.WithBucket("r"))
	require.ErrorIs(t, err, ports.ErrNotFound, "no bucket yet")
	s, err := jsrollup.NewState(ctx, nc, true, jsrollup.WithBucket("r"))
	require.NoError(t, err)
	r, found, err := s.Load(ctx)
	require.NoError(t, err)
	assert.False(t, found)
	assert.Zero(t, r.Seq())

	at := time.Now().Truncate(time.Minute)
	for i := uint64(1); i <= 9000; i++ {
		ev := event.Completed(fmt.Sprintf("j%d", i), "w", time.Duration(i)*time.Millisecond, event.WithQueue("q"), event.WithTimestamp(at))
		r.Apply(i, "dev", "naq", &ev)
	}
	f, err := r.TakeFlush()
	require.NoError(t, err)
	require.Len(t, f.Chunks, 3)
	require.NoError(t, s.Save(ctx, f))
	want, err := r.Summary(ctx, rollup.Query{})
	require.NoError(t, err)

	back, found, err := s.Load(ctx)
	require.NoError(t, err)
	require.True(t, found)
	assert.EqualValues(t, 9000, back.Seq())
	got, err := back.Summary(ctx, rollup.Query{})
	require.NoError(t, err)
	assert.Equal(t, want.Counts, got.Counts)
	assert.Equal(t, want.Durations, got.Durations)

	// A writer that is behind does not replace the head.
	old := rollup.New()
	ev := event.Started("j1", "w", "async", event.WithTimestamp(at))
	old.Apply(1, "dev", "naq", &ev)
	of, err := old.TakeFlush()
	require.NoError(t, err)
	of.Chunks = nil // only its head
	require.NoError(t, s.Save(ctx, of))
	back, _, err = s.Load(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 9000, back.Seq(), "the head covering more stays")

	// A chunk that does not decode is ErrCorrupt; Reset clears the bucket.
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.KeyValue(ctx, "r")
	require.NoError(t, err)
	_, err = kv.Put(ctx, "chunk.1", []byte("{"))
	require.NoError(t, err)
	_, _, err = s.Load(ctx)
	require.ErrorIs(t, err, rollup.ErrCorrupt)
	require.NoError(t, s.Reset(ctx))
	_, found, err = s.Load(ctx)
	require.NoError(t, err)
	assert.False(t, found)

	_, err = jsrollup.NewState(ctx, nc, true, jsrollup.WithBucket("a.b"))
	assert.ErrorIs(t, err, ports.ErrInvalid)
}

// TestLogReadStopsWhenCancelled: a read whose ctx is cancelled while
// messages keep coming stops at the next message with the ctx's error,
// instead of reading the rest of its range.
func TestLogReadStopsWhenCancelled(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	stream(t, nc, 50)
	l, err := jsrollup.NewLog(context.Background(), nc, "ev")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	last, err := l.Read(ctx, 1, 50, func(jsrollup.Msg) bool {
		calls++
		cancel()
		return true
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, calls, "no message is handed over after the cancel")
	assert.EqualValues(t, 1, last)
}

// readAsync runs l.Read in a goroutine; wait returns what it returned, or
// fails the test if it has not returned within 30 s.
func readAsync(t *testing.T, ctx context.Context, l *jsrollup.Log, from, through uint64, fn func(jsrollup.Msg) bool) (wait func() (uint64, error)) {
	t.Helper()
	type result struct {
		last uint64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		last, err := l.Read(ctx, from, through, fn)
		done <- result{last, err}
	}()
	return func() (uint64, error) {
		t.Helper()
		select {
		case r := <-done:
			return r.last, r.err
		case <-time.After(30 * time.Second):
			t.Fatal("Read has not returned after 30 s")
			return 0, nil
		}
	}
}

// TestLogReadStreamDeleted: a stream deleted in the middle of a read ends
// it with the stream's "not found" error once its consumer cannot be
// re-created, whatever the idle time (nats.go's ordered consumer would
// try for ever, and Next wait with it).
func TestLogReadStreamDeleted(t *testing.T) {
	for _, idle := range []time.Duration{100 * time.Millisecond, time.Hour} {
		t.Run(idle.String(), func(t *testing.T) {
			_, nc := natsembedtest.Connect(t)
			// More than Read's pull batch (4096): the end of the range
			// cannot be buffered before the delete.
			const n = 10000
			stream(t, nc, n)
			js, err := jetstream.New(nc)
			require.NoError(t, err)
			l, err := jsrollup.NewLog(context.Background(), nc, "ev", jsrollup.WithIdle(idle))
			require.NoError(t, err)
			deleted := make(chan error, 1)
			wait := readAsync(t, context.Background(), l, 1, n, func(m jsrollup.Msg) bool {
				if m.Seq == 10 {
					deleted <- js.DeleteStream(context.Background(), "ev")
				}
				return true
			})
			last, err := wait()
			require.NoError(t, <-deleted)
			require.ErrorIs(t, err, jetstream.ErrStreamNotFound)
			assert.ErrorIs(t, err, ports.ErrNotFound)
			assert.ErrorContains(t, err, `stream "ev"`)
			assert.GreaterOrEqual(t, last, uint64(10), "what was read before the delete is reported")
			assert.Less(t, last, uint64(n))
		})
	}
}

// TestLogReadCancelledWhileWaiting: a read waiting for messages that have
// not come (its range starts past the stream's end) ends at once with the
// ctx's error when ctx is cancelled, not after the idle time (an hour).
func TestLogReadCancelledWhileWaiting(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	st := stream(t, nc, 20)
	l, err := jsrollup.NewLog(context.Background(), nc, "ev", jsrollup.WithIdle(time.Hour))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := readAsync(t, ctx, l, 21, 100, func(jsrollup.Msg) bool { return true })
	// Read's consumer has a pull request waiting: Read is in Next (the
	// request is sent from there).
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		waiting := false
		for info := range st.ListConsumers(context.Background()).Info() {
			waiting = waiting || info.NumWaiting > 0
		}
		if waiting {
			break
		}
		require.True(t, time.Now().Before(deadline), "Read has no pull request waiting after 10 s")
		<-tick.C
	}
	cancel()
	last, err := wait()
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, last)
}

// failedCreates counts the server's refusals to create a consumer on
// stream "ev", from its JetStream API audit advisories.
func failedCreates(t *testing.T, nc *nats.Conn) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	sub, err := nc.Subscribe("$JS.EVENT.ADVISORY.API", func(m *nats.Msg) {
		var a struct {
			Subject  string `json:"subject"`
			Response string `json:"response"`
		}
		if json.Unmarshal(m.Data, &a) == nil && strings.HasPrefix(a.Subject, "$JS.API.CONSUMER.CREATE.ev") &&
			strings.Contains(a.Response, `"error"`) {
			n.Add(1)
		}
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return &n
}

// takeSlot deletes Read's consumer (the stream's only one) and fills the
// stream's one consumer slot with a durable of the test's: Read cannot
// make its consumer again until the slot is freed.
func takeSlot(t *testing.T, st jetstream.Stream) error {
	ctx := context.Background()
	var names []string
	for name := range st.ListConsumers(ctx).Info() {
		names = append(names, name.Name)
	}
	if len(names) != 1 {
		return fmt.Errorf("want Read's consumer alone, have %v", names)
	}
	if err := st.DeleteConsumer(ctx, names[0]); err != nil {
		return err
	}
	_, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "blocker", AckPolicy: jetstream.AckNonePolicy})
	return err
}

// readFaulted starts a read of 1..n on l that appends each sequence to
// *seen (unless seen is nil) and runs fault from within the read at
// message 10. It returns, with the read's wait, once fault has returned
// without error; it fails the test if the read has not reached message 10
// within 30 s.
func readFaulted(t *testing.T, l *jsrollup.Log, n uint64, seen *[]uint64, fault func() error) func() (uint64, error) {
	t.Helper()
	faulted := make(chan error, 1)
	wait := readAsync(t, context.Background(), l, 1, n, func(m jsrollup.Msg) bool {
		if seen != nil {
			*seen = append(*seen, m.Seq)
		}
		if m.Seq == 10 {
			select { // never blocks the read, even if the test has given up
			case faulted <- fault():
			default:
			}
		}
		return true
	})
	select {
	case err := <-faulted:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the read did not reach message 10 within 30 s")
	}
	return wait
}

// TestLogReadConsumerLost: a read whose consumer is deleted and cannot be
// made again for a while (a server restart or leader change looks the
// same to it) goes on from where it was once it can, and delivers every
// message of the range exactly once, in order.
func TestLogReadConsumerLost(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	const n = 10000 // more than Read's pull batch
	st := streamWith(t, nc, jetstream.StreamConfig{MaxConsumers: 1}, n)
	refused := failedCreates(t, nc)
	l, err := jsrollup.NewLog(context.Background(), nc, "ev")
	require.NoError(t, err)
	var seen []uint64
	wait := readFaulted(t, l, n, &seen, func() error { return takeSlot(t, st) })
	// nats.go's one try and at least two of Read's were refused: free
	// the slot.
	require.Eventually(t, func() bool { return refused.Load() >= 3 }, 20*time.Second, 10*time.Millisecond,
		"Read did not try to make its consumer again")
	require.NoError(t, st.DeleteConsumer(context.Background(), "blocker"))
	last, err := wait()
	requireAllOnceInOrder(t, seen, n, last, err)
}

// TestLogReadConsumerLostForGood: a consumer that cannot be made again
// within the recovery time fails the read with the server's refusal,
// naming the stream and the option, and reports what was delivered.
func TestLogReadConsumerLostForGood(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	const n = 10000
	st := streamWith(t, nc, jetstream.StreamConfig{MaxConsumers: 1}, n)
	refused := failedCreates(t, nc)
	l, err := jsrollup.NewLog(context.Background(), nc, "ev", jsrollup.WithReadRecovery(2*time.Second))
	require.NoError(t, err)
	wait := readFaulted(t, l, n, nil, func() error { return takeSlot(t, st) })
	last, err := wait()
	require.Error(t, err)
	var apiErr *jetstream.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, jetstream.ErrorCode(10026), apiErr.ErrorCode, "maximum consumers limit reached: %v", err)
	assert.ErrorContains(t, err, `stream "ev"`)
	assert.ErrorContains(t, err, "WithReadRecovery")
	assert.GreaterOrEqual(t, last, uint64(10))
	assert.Less(t, last, uint64(n))
	assert.GreaterOrEqual(t, refused.Load(), int64(3), "nats.go's try and Read's within 2 s (0.25, 0.75 and 1.75 s after it)")
}

// TestLogReadServerRestarted: a read across a restart of the server (its
// store kept) goes on after the client reconnects and delivers every
// message once, in order.
func TestLogReadServerRestarted(t *testing.T) {
	srv, nc := natsembedtest.Connect(t)
	const n = 10000
	stream(t, nc, n)
	l, err := jsrollup.NewLog(context.Background(), nc, "ev")
	require.NoError(t, err)
	var seen []uint64
	wait := readFaulted(t, l, n, &seen, srv.Restart)
	last, err := wait()
	requireAllOnceInOrder(t, seen, n, last, err)
}

// TestLogReadConnectionClosed: a read whose connection is closed ends at
// once (not after the recovery time) with an error naming the stream.
func TestLogReadConnectionClosed(t *testing.T) {
	srv, nc := natsembedtest.Connect(t)
	const n = 10000
	stream(t, nc, n)
	own, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	l, err := jsrollup.NewLog(context.Background(), own, "ev", jsrollup.WithReadRecovery(time.Hour))
	require.NoError(t, err)
	wait := readAsync(t, context.Background(), l, 1, n, func(m jsrollup.Msg) bool {
		if m.Seq == 10 {
			own.Close()
		}
		return true
	})
	last, err := wait() // within readAsync's 30 s, not the hour
	require.ErrorIs(t, err, nats.ErrConnectionClosed)
	assert.ErrorContains(t, err, `stream "ev"`)
	assert.GreaterOrEqual(t, last, uint64(10))
	assert.Less(t, last, uint64(n))
}

// requireAllOnceInOrder checks a Read of [1, n] that delivered seen and
// returned last and err: no error, and every sequence once, in order.
func requireAllOnceInOrder(t *testing.T, seen []uint64, n int, last uint64, err error) {
	t.Helper()
	require.NoError(t, err)
	assert.Equal(t, uint64(n), last)
	require.Len(t, seen, n, "every message once")
	for i, seq := range seen {
		require.Equal(t, uint64(i+1), seq, "in order, none twice")
	}
}
