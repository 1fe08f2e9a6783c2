package jsstore_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
	"github.com/naq-go/events/ports/storetest"
)

// TestContract runs the storage contract suite on an embedded server. Each
// test of the suite gets a stream of its own (the previous one is deleted
// first, as streams may not share subjects), so that its retention settings
// and message counts start from scratch. A new name rather than the same one
// made again: the server removes a deleted stream's files in the background.
func TestContract(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	// The server removes the account's streams directory in the background
	// when its last stream is deleted, racing the creation of the next one
	// ("could not create storage directory"); a stream that stays keeps it.
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "keep", Subjects: []string{"contract.keep"}})
	require.NoError(t, err)
	var (
		mu     sync.Mutex
		last   string
		stream string
		n      int
	)
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) ports.Store {
		mu.Lock()
		if t.Name() != last {
			if stream != "" {
				if err := js.DeleteStream(t.Context(), stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Fatalf("delete stream: %v", err)
				}
			}
			n++
			last, stream = t.Name(), fmt.Sprintf("contract_%d", n)
		}
		name := stream
		mu.Unlock()
		st, err := jsstore.New(t.Context(), nc,
			jsstore.WithStream(name),
			jsstore.WithEnvironment(cfg.Environment),
			jsstore.WithService(cfg.Service),
			jsstore.WithMaxAge(cfg.MaxAge),
			jsstore.WithMaxMsgs(int64(cfg.MaxEvents)),
		)
		if err != nil {
			t.Fatalf("jsstore.New(%+v): %v", cfg, err)
		}
		return st
	}, storetest.WithBackendName("jetstream"))
}

func TestNewRejectsBadOptions(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	tests := []struct {
		name string
		opt  jsstore.Option
		want string
	}{
		{"environment", jsstore.WithEnvironment("a.b"), `"a.b"`},
		{"service", jsstore.WithService(""), "service"},
		{"stream", jsstore.WithStream("a.b"), `"a.b"`},
		{"max age", jsstore.WithMaxAge(-time.Second), "-1s"},
		{"max msgs", jsstore.WithMaxMsgs(-1), "-1"},
		{"max bytes", jsstore.WithMaxBytes(-1), "-1"},
		{"replicas", jsstore.WithReplicas(0), "WithReplicas(0)"},
		{"duplicates", jsstore.WithDuplicates(0), "WithDuplicates(0s)"},
		{"ack timeout", jsstore.WithAckTimeout(0), "WithAckTimeout(0s)"},
		{"max pending", jsstore.WithMaxPending(0), "WithMaxPending(0)"},
		{"timeout", jsstore.WithTimeout(-1), "WithTimeout"},
		{"clock skew", jsstore.WithClockSkew(-1), "WithClockSkew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsstore.New(t.Context(), nc, tt.opt)
			require.ErrorIs(t, err, ports.ErrInvalid)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := jsstore.New(t.Context(), nil)
	require.ErrorIs(t, err, ports.ErrInvalid)
}

func TestStreamConfig(t *testing.T) {
	f := setup(t, jsstore.WithStream("cfg_test"), jsstore.WithMaxAge(time.Hour), jsstore.WithMaxMsgs(10),
		jsstore.WithMaxBytes(1<<20), jsstore.WithDuplicates(2*time.Hour), jsstore.WithStorage(jetstream.MemoryStorage))
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), "cfg_test")
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	assert.Equal(t, []string{"naq.events.*.*.*.*"}, cfg.Subjects)
	assert.Equal(t, time.Hour, cfg.MaxAge)
	assert.EqualValues(t, 10, cfg.MaxMsgs)
	assert.EqualValues(t, 1<<20, cfg.MaxBytes)
	assert.Equal(t, time.Hour, cfg.Duplicates, "the duplicate window is cut to MaxAge")
	assert.Equal(t, jetstream.MemoryStorage, cfg.Storage)
	assert.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	assert.True(t, cfg.AllowDirect)

	// New on an existing stream updates it.
	newStore(t, f.nc, jsstore.WithStream("cfg_test"), jsstore.WithMaxAge(2*time.Hour), jsstore.WithMaxMsgs(20),
		jsstore.WithMaxBytes(1<<20), jsstore.WithStorage(jetstream.MemoryStorage))
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, info.Config.MaxAge)
	assert.EqualValues(t, 20, info.Config.MaxMsgs)
}

// TestGarbageSkipped: messages on the stream's subjects that are not job
// events are counted and skipped by queries and streams, never fatal.
func TestGarbageSkipped(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	evs := events("job1", 4)
	require.NoError(t, f.st.StoreBatch(ctx, evs[:2]))
	publishRaw(t, f.nc, "naq.events.dev.naq.job1.started", []byte("not json"))
	publishRaw(t, f.nc, "naq.events.dev.naq.job1.bogus_type", []byte(`{"version":"1.0"}`))
	require.NoError(t, f.st.StoreBatch(ctx, evs[2:]))

	got, err := f.st.Job(ctx, "job1", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, ids(evs), ids(got))
	assert.EqualValues(t, 1, f.st.Stats().DecodeErrors, "the literal job subjects see the garbage on .started only")

	recs, err := f.st.List(ctx, event.Filter{}, event.Page{})
	require.NoError(t, err)
	assert.Len(t, recs, 4)
	assert.EqualValues(t, 3, f.st.Stats().DecodeErrors)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var streamed []string
	for rec, err := range f.st.Stream(sctx, event.Filter{}, event.StreamOptions{History: true}) {
		require.NoError(t, err)
		streamed = append(streamed, rec.Event.ID)
		if len(streamed) == len(evs) {
			break
		}
	}
	assert.Equal(t, ids(evs), streamed)
	assert.EqualValues(t, 5, f.st.Stats().DecodeErrors)
}

// TestPurgeKeepsOtherConsumersPosition: DeleteJob of one job moves no other
// reader: a durable consumer on another job, a durable consumer on all
// events (like the processor's) positioned between the purged job's events,
// and a running Stream on all events each go on with the next event they
// had not had yet, none delivered again and none skipped.
func TestPurgeKeepsOtherConsumersPosition(t *testing.T) {
	// interleaved stores a0 b0 a1 b1 … a5 b5 and returns a and b.
	interleaved := func(t *testing.T, f fixture) (a, b []event.JobEvent) {
		t.Helper()
		a, b = events("jobA", 6), events("jobB", 6)
		var mixed []event.JobEvent
		for i := range a {
			mixed = append(mixed, a[i], b[i])
		}
		require.NoError(t, f.st.StoreBatch(t.Context(), mixed))
		return a, b
	}
	durable := func(t *testing.T, f fixture, filter string) jetstream.Consumer {
		t.Helper()
		js, err := jetstream.New(f.nc)
		require.NoError(t, err)
		cons, err := js.CreateOrUpdateConsumer(t.Context(), jsstore.DefaultStream, jetstream.ConsumerConfig{
			Durable: "reader", FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy,
		})
		require.NoError(t, err)
		return cons
	}
	// fetch fetches n messages (up to n what is there at once when noWait),
	// acks each and returns their ids.
	fetch := func(t *testing.T, cons jetstream.Consumer, n int, noWait bool) []string {
		t.Helper()
		var batch jetstream.MessageBatch
		var err error
		if noWait {
			batch, err = cons.FetchNoWait(n)
		} else {
			batch, err = cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
		}
		require.NoError(t, err)
		var seen []string
		for m := range batch.Messages() {
			ev, err := event.Decode(m.Data())
			require.NoError(t, err)
			seen = append(seen, ev.ID)
			require.NoError(t, m.DoubleAck(t.Context()))
		}
		require.NoError(t, batch.Error())
		return seen
	}
	purgeJobB := func(t *testing.T, f fixture) {
		t.Helper()
		n, err := f.st.DeleteJob(t.Context(), "jobB")
		require.NoError(t, err)
		require.Equal(t, 6, n)
		left, err := f.st.Job(t.Context(), "jobB", event.Page{})
		require.NoError(t, err)
		require.Empty(t, left)
	}

	t.Run("durable consumer on another job", func(t *testing.T) {
		f := setup(t)
		ctx := t.Context()
		a, _ := interleaved(t, f)
		cons := durable(t, f, "naq.events.dev.naq.jobA.*")
		require.Equal(t, ids(a[:3]), fetch(t, cons, 3, false))
		before, err := cons.Info(ctx)
		require.NoError(t, err)

		purgeJobB(t, f)

		after, err := cons.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, before.Delivered.Stream, after.Delivered.Stream)
		assert.Equal(t, before.AckFloor.Stream, after.AckFloor.Stream)
		assert.EqualValues(t, 3, after.NumPending)
		assert.Equal(t, ids(a[3:]), fetch(t, cons, 3, false), "the rest of jobA")
		assert.Empty(t, fetch(t, cons, 10, true), "nothing more")
		n, err := f.st.DeleteJob(ctx, "jobB")
		require.NoError(t, err)
		assert.Zero(t, n)
	})

	t.Run("durable consumer on all events", func(t *testing.T) {
		f := setup(t)
		ctx := t.Context()
		a, b := interleaved(t, f)
		cons := durable(t, f, "naq.events.>")
		// Its position: after a2 (seq 5); b0, b1 lie before it, b2…b5 after.
		require.Equal(t, []string{a[0].ID, b[0].ID, a[1].ID, b[1].ID, a[2].ID}, fetch(t, cons, 5, false))
		before, err := cons.Info(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 5, before.AckFloor.Stream)

		purgeJobB(t, f)
		c := events("jobC", 2)
		require.NoError(t, f.st.StoreBatch(ctx, c))

		// The server acknowledges c before it counts c into the consumer's
		// pending (seen: 4 once in a full -race run), so poll for the count.
		var after *jetstream.ConsumerInfo
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			info, err := cons.Info(ctx)
			require.NoError(ct, err)
			after = info
			assert.EqualValues(ct, 5, info.NumPending, "a3 a4 a5 c0 c1")
		}, 10*time.Second, 10*time.Millisecond)
		assert.Equal(t, before.Delivered, after.Delivered, "delivered sequences")
		assert.Equal(t, before.AckFloor, after.AckFloor, "ack floor")
		assert.Zero(t, after.NumAckPending)
		assert.Zero(t, after.NumRedelivered)
		want := append(ids(a[3:]), ids(c)...)
		assert.Equal(t, want, fetch(t, cons, len(want), false), "next deliveries: the events after its position that were not purged")
		assert.Empty(t, fetch(t, cons, 10, true), "nothing more, nothing again")
	})

	t.Run("running stream on all events", func(t *testing.T) {
		f := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		a, b := interleaved(t, f)
		next, stop := iter.Pull2(f.st.Stream(ctx, event.Filter{}, event.StreamOptions{History: true}))
		defer stop()
		var got []event.Record
		take := func() event.Record {
			t.Helper()
			rec, err, ok := next()
			require.True(t, ok, "the stream ended")
			require.NoError(t, err)
			got = append(got, rec)
			return rec
		}
		for range 5 { // a0 b0 a1 b1 a2
			take()
		}
		require.Equal(t, []string{a[0].ID, b[0].ID, a[1].ID, b[1].ID, a[2].ID}, recIDs(got))

		purgeJobB(t, f)
		c := events("jobC", 2)
		require.NoError(t, f.st.StoreBatch(ctx, c))

		var rest []string
		for rec := take(); ; rec = take() {
			switch rec.Event.JobID {
			case "jobB":
				// Only one the consumer had already been sent before the
				// purge can come: b2…b5, never b0 or b1 again.
				assert.Contains(t, ids(b[2:]), rec.Event.ID, "a purged event after the position, in flight")
			default:
				rest = append(rest, rec.Event.ID)
			}
			if rec.Event.ID == c[len(c)-1].ID {
				break
			}
		}
		assert.Equal(t, append(ids(a[3:]), ids(c)...), rest)
		for i := 1; i < len(got); i++ {
			assert.Less(t, got[i-1].Seq, got[i].Seq, "in store order, each once")
		}
	})
}

// TestMaxPayload: an event larger than the server's max payload fails alone
// with ErrInvalid naming its size and the limit.
func TestMaxPayload(t *testing.T) {
	srv := startServer(t, natsembed.WithMaxPayload(2048))
	nc := connect(t, srv.ClientURL())
	st := newStore(t, nc)
	ctx := t.Context()
	evs := events("job1", 3)
	evs[1].Message = strings.Repeat("x", 4096)
	err := st.StoreBatch(ctx, evs)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "want a *logger.BatchError, got %v", err)
	require.Len(t, be.Errs, 3)
	assert.NoError(t, be.Errs[0])
	assert.NoError(t, be.Errs[2])
	require.ErrorIs(t, be.Errs[1], ports.ErrInvalid)
	assert.Contains(t, be.Errs[1].Error(), "max payload is 2048")
	assert.Contains(t, be.Errs[1].Error(), evs[1].ID)
	got, err := st.Job(ctx, "job1", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, []string{evs[0].ID, evs[2].ID}, ids(got))

	err = st.Store(ctx, evs[1])
	require.ErrorIs(t, err, ports.ErrInvalid)
	_, isBatch := errors.AsType[*logger.BatchError](err)
	assert.False(t, isBatch, "Store returns the event's own error")
}

// TestLowMaxPending: a batch far larger than the pending-ack limit is
// stored whole and in order.
func TestLowMaxPending(t *testing.T) {
	f := setup(t, jsstore.WithMaxPending(2))
	ctx := t.Context()
	evs := events("job1", 300)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for g := range errs {
		wg.Go(func() { errs[g] = f.st.StoreBatch(ctx, evs[g*100:(g+1)*100]) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	n, err := f.st.Count(ctx, event.Filter{JobID: "job1"})
	require.NoError(t, err)
	assert.Equal(t, 300, n)
	got, err := f.st.Job(ctx, "job1", event.Page{})
	require.NoError(t, err)
	pos := make(map[string]int, len(got))
	for i, ev := range got {
		pos[ev.ID] = i
	}
	for g := range 3 {
		for i := g * 100; i < (g+1)*100-1; i++ {
			require.Less(t, pos[evs[i].ID], pos[evs[i+1].ID], "batch order kept")
		}
	}
}

// TestDuplicates: a batch stored twice, and an id repeated in one batch,
// store each event once and report success.
func TestDuplicates(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	evs := events("job1", 10)
	require.NoError(t, f.st.StoreBatch(ctx, evs))
	require.NoError(t, f.st.StoreBatch(ctx, evs))
	require.NoError(t, f.st.StoreBatch(ctx, append([]event.JobEvent{evs[0]}, evs[:3]...)))
	got, err := f.st.Job(ctx, "job1", event.Page{})
	require.NoError(t, err)
	assert.Equal(t, ids(evs), ids(got))
}

// TestUnavailable: with the server down, StoreBatch fails with
// ErrUnavailable by its deadline and nothing counts as stored.
func TestUnavailable(t *testing.T) {
	f := setup(t, jsstore.WithAckTimeout(300*time.Millisecond))
	f.srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := f.st.StoreBatch(ctx, events("job1", 5))
	require.ErrorIs(t, err, ports.ErrUnavailable)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok)
	for i, e := range be.Errs {
		assert.Error(t, e, "event %d must not count as stored", i)
	}
	h, err := f.st.Health(ctx)
	require.ErrorIs(t, err, ports.ErrUnavailable)
	assert.False(t, h.OK)
	_, err = f.st.Job(ctx, "job1", event.Page{})
	require.ErrorIs(t, err, ports.ErrUnavailable)
}

// TestRestartMidBatch: a writer that retries failed batches with the same
// ids loses nothing and stores nothing twice while the server is stopped and
// restarted on the same store dir and port.
func TestRestartMidBatch(t *testing.T) {
	f := setup(t, jsstore.WithAckTimeout(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const batches, size = 40, 50
	all := make([]event.JobEvent, 0, batches*size)
	acked := make(chan int, batches)
	var wg sync.WaitGroup
	for b := range batches {
		all = append(all, events("job"+string(rune('a'+b%26)), size)...)
	}
	var retries int
	wg.Go(func() {
		defer close(acked)
		for b := range batches {
			batch := all[b*size : (b+1)*size]
			for {
				err := f.st.StoreBatch(ctx, batch)
				if err == nil {
					break
				}
				if ctx.Err() != nil || !errors.Is(err, ports.ErrUnavailable) {
					t.Errorf("batch %d: %v", b, err)
					return
				}
				retries++
			}
			acked <- b
		}
	})
	// Stop the server once a few batches are in, while the writer runs.
	for b := range acked {
		if b == 5 {
			break
		}
	}
	f.srv.Stop()
	require.NoError(t, f.srv.Restart())
	for range acked {
	}
	wg.Wait()
	require.NoError(t, ctx.Err())

	recs, err := f.st.List(ctx, event.Filter{}, event.Page{})
	require.NoError(t, err)
	seen := make(map[string]int, len(recs))
	for _, r := range recs {
		seen[r.Event.ID]++
	}
	for _, ev := range all {
		assert.Equal(t, 1, seen[ev.ID], "event %s stored once", ev.ID)
	}
	assert.Len(t, recs, len(all))
	t.Logf("retried batches: %d", retries)
}

// TestStreamResume: a stream resumed with FromSeq = last Seq + 1 after a
// server restart continues without gap or duplicate, and Close ends a
// running stream with ErrClosed.
func TestStreamResume(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	evs := events("job1", 10)
	require.NoError(t, f.st.StoreBatch(ctx, evs[:5]))

	var got []event.Record
	for rec, err := range f.st.Stream(ctx, event.Filter{JobID: "job1"}, event.StreamOptions{History: true}) {
		require.NoError(t, err)
		got = append(got, rec)
		if len(got) == 3 {
			break
		}
	}
	f.srv.Stop()
	require.NoError(t, f.srv.Restart())
	// The client may not have noticed the restart yet: retry as the logger
	// does, with the same ids.
	deadline := time.Now().Add(20 * time.Second)
	for err := f.st.StoreBatch(ctx, evs[5:]); err != nil; err = f.st.StoreBatch(ctx, evs[5:]) {
		require.ErrorIs(t, err, ports.ErrUnavailable)
		require.True(t, time.Now().Before(deadline), "store after restart: %v", err)
	}

	var errAtEnd error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for rec, err := range f.st.Stream(ctx, event.Filter{JobID: "job1"}, event.StreamOptions{FromSeq: got[len(got)-1].Seq + 1}) {
			if err != nil {
				errAtEnd = err
				return
			}
			got = append(got, rec)
			if len(got) == len(evs) {
				_ = f.st.Close() // ends this stream with ErrClosed
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end after Close")
	}
	require.ErrorIs(t, errAtEnd, ports.ErrClosed)
	var gotIDs []string
	for _, r := range got {
		gotIDs = append(gotIDs, r.Event.ID)
		assert.Equal(t, "dev", r.Environment)
		assert.Equal(t, "naq", r.Service)
	}
	assert.Equal(t, ids(evs), gotIDs)
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Seq, got[i].Seq)
	}
}

func TestHealth(t *testing.T) {
	f := setup(t)
	require.NoError(t, f.st.StoreBatch(t.Context(), events("job1", 3)))
	h, err := f.st.Health(t.Context())
	require.NoError(t, err)
	assert.True(t, h.OK)
	assert.Equal(t, "jetstream", h.Backend)
	assert.Positive(t, h.RTT)
	assert.EqualValues(t, 3, h.Detail["messages"])
	assert.EqualValues(t, 3, h.Detail["last_seq"])
	assert.Equal(t, nats.CONNECTED.String(), h.Detail["status"])
}

func TestCleanup(t *testing.T) {
	t.Run("unlimited age", func(t *testing.T) {
		f := setup(t, jsstore.WithMaxAge(0))
		require.NoError(t, f.st.StoreBatch(t.Context(), events("job1", 3)))
		n, err := f.st.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)
	})
	t.Run("nothing expired", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.st.StoreBatch(t.Context(), events("job1", 3)))
		n, err := f.st.Cleanup(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)
		c, err := f.st.Count(t.Context(), event.Filter{})
		require.NoError(t, err)
		assert.Equal(t, 3, c)
	})
}
