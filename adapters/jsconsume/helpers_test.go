package jsconsume_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/domain/subject"
)

const (
	env = "test"
	svc = "svc"
)

type harness struct {
	t   testing.TB
	srv *natsembed.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// newHarness starts an embedded server and creates the event stream with
// the raw jetstream API (the jsstore adapter is not imported).
func newHarness(t testing.TB) *harness {
	t.Helper()
	srv, err := natsembed.Start(natsembed.WithStoreDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	h := &harness{t: t, srv: srv}
	h.nc, h.js = h.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = h.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       jsconsume.DefaultStream,
		Subjects:   []string{subject.StreamFilter()},
		Storage:    jetstream.FileStorage,
		Duplicates: time.Minute,
	})
	require.NoError(t, err)
	return h
}

// connect opens a connection that reconnects forever.
func (h *harness) connect() (*nats.Conn, jetstream.JetStream) {
	h.t.Helper()
	nc, err := nats.Connect(h.srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0))
	require.NoError(h.t, err)
	h.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(h.t, err)
	return nc, js
}

// publish stores events and returns them.
func (h *harness) publish(events ...event.JobEvent) []event.JobEvent {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	for i := range events {
		subj, err := subject.ForEvent(env, svc, &events[i])
		require.NoError(h.t, err)
		data, err := events[i].AppendJSON(nil)
		require.NoError(h.t, err)
		f, err := h.js.PublishAsync(subj, data, jetstream.WithMsgID(events[i].ID))
		require.NoError(h.t, err)
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			require.NoError(h.t, err)
		case <-ctx.Done():
			h.t.Fatal("publish not acknowledged")
		}
	}
	return events
}

func (h *harness) publishRaw(subj string, data []byte) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.js.Publish(ctx, subj, data)
	require.NoError(h.t, err)
}

// jobEvents returns n events spread round-robin over jobs, each carrying
// its index in details["n"].
func jobEvents(jobs, n int) []event.JobEvent {
	out := make([]event.JobEvent, n)
	for i := range out {
		out[i] = event.New("job-"+strconv.Itoa(i%jobs), event.TypeStarted, event.WithDetail("n", i))
	}
	return out
}

// source creates a Source with test-friendly timings.
func (h *harness) source(js jetstream.JetStream, opts ...jsconsume.Option) *jsconsume.Source {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := []jsconsume.Option{jsconsume.WithAckWait(2 * time.Second), jsconsume.WithPullExpiry(time.Second),
		jsconsume.WithCheckInterval(200 * time.Millisecond), jsconsume.WithSlog(testLogger(h.t))}
	src, err := jsconsume.New(ctx, js, append(base, opts...)...)
	require.NoError(h.t, err)
	return src
}

// start starts a processor on src and stops it at cleanup.
// newProc makes a processor with test-friendly timings; register its
// handlers, then start it with run, so that no event is consumed (and acked
// with no handler to see it) before they are in place.
func newProc(t testing.TB, src processor.Source, opts ...processor.Option) *processor.Processor {
	t.Helper()
	base := []processor.Option{processor.WithBackoff(10*time.Millisecond, 50*time.Millisecond), processor.WithSlog(testLogger(t))}
	return processor.New(src, append(base, opts...)...)
}

// run starts p and stops it when the test ends.
func run(t testing.TB, p *processor.Processor) {
	t.Helper()
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// consumerSettled reports whether the durable has delivered and settled
// everything.
func (h *harness) consumerSettled(durable string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, jsconsume.DefaultStream, durable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// deadLetters returns the messages of the dead-letter stream.
func (h *harness) deadLetters() []*jetstream.RawStreamMsg {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, jsconsume.DefaultDeadLetterStream)
	require.NoError(h.t, err)
	info, err := s.Info(ctx)
	require.NoError(h.t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(h.t, err)
		out = append(out, m)
	}
	return out
}

// seen records which events handlers saw, how often, and by whom.
type seen struct {
	mu    sync.Mutex
	count map[string]int
	by    map[string]int // instance -> events
	order map[string][]int
}

func newSeen() *seen {
	return &seen{count: map[string]int{}, by: map[string]int{}, order: map[string][]int{}}
}

func (s *seen) add(instance string, e event.JobEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count[e.ID]++
	s.by[instance]++
	if n, ok := e.Details["n"].(float64); ok {
		s.order[e.JobID] = append(s.order[e.JobID], int(n))
	}
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

func (s *seen) instance(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[name]
}

// missing returns the ids of events never seen.
func (s *seen) missing(events []event.JobEvent) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range events {
		if s.count[e.ID] == 0 {
			out = append(out, e.ID)
		}
	}
	return out
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}
