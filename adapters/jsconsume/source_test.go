package jsconsume_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/ports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// nats-server's and nats.go's own long-lived helpers.
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats.go.(*Conn).processRequestRecvs"))
}

func TestEveryEventHandledOnce(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(10, 500)...)
	p := newProc(t, h.source(h.js))
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)

	more := h.publish(jobEvents(10, 100)...) // live, while consuming
	eventually(t, 20*time.Second, "600 events", func() bool { return s.distinct() == 600 })
	eventually(t, 10*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	assert.Empty(t, s.missing(append(events, more...)))
	s.mu.Lock()
	for id, n := range s.count {
		assert.Equal(t, 1, n, "event %s handled %d times", id, n)
	}
	s.mu.Unlock()
	st := p.Stats()
	assert.Equal(t, uint64(600), st.Handled)
	assert.Zero(t, st.Failed+st.Undecodable+st.DeadLettered)
	assert.Equal(t, uint64(600), st.HandleTime.Count)
}

func TestFailureIsRedeliveredThenDeadLettered(t *testing.T) {
	h := newHarness(t)
	p := newProc(t, h.source(h.js), processor.WithMaxDeliveries(3))
	var badCalls atomic.Int32
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		if e.JobID == "bad" {
			badCalls.Add(1)
			return errors.New("projection db refused: boom")
		}
		s.add("a", e)
		return nil
	})
	require.NoError(t, err)
	run(t, p)
	bad := event.New("bad", event.TypeFailed)
	h.publish(bad, event.New("good", event.TypeCompleted))

	eventually(t, 20*time.Second, "a dead letter", func() bool { return p.Stats().DeadLettered == 1 })
	eventually(t, 10*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	assert.Equal(t, int32(3), badCalls.Load())
	assert.Equal(t, 1, s.distinct())

	dl := h.deadLetters()
	require.Len(t, dl, 1)
	m := dl[0]
	assert.Equal(t, "naq.deadletter.test.svc.bad.failed", m.Subject)
	assert.Equal(t, "handler failed", m.Header.Get(jsconsume.HeaderReason))
	assert.Contains(t, m.Header.Get(jsconsume.HeaderError), "boom")
	assert.Equal(t, "3", m.Header.Get(jsconsume.HeaderDeliveries))
	assert.Equal(t, "naq.events.test.svc.bad.failed", m.Header.Get(jsconsume.HeaderOriginalSubject))
	got, err := event.Decode(m.Data)
	require.NoError(t, err)
	assert.Equal(t, bad.ID, got.ID, "the dead letter carries the original event")
	st := p.Stats()
	assert.Equal(t, uint64(3), st.Failed)
	assert.Equal(t, uint64(2), st.Retried)
}

func TestGarbageIsTerminatedAndCounted(t *testing.T) {
	h := newHarness(t)
	p := newProc(t, h.source(h.js))
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)

	h.publishRaw("naq.events.test.svc.job-g.started", []byte("{not json"))
	x := event.New("job-x", event.TypeStarted)
	other, err := x.AppendJSON(nil)
	require.NoError(t, err)
	h.publishRaw("naq.events.test.svc.job-y.started", other) // subject and body disagree
	good := h.publish(event.New("job-z", event.TypeStarted))

	eventually(t, 20*time.Second, "2 undecodable", func() bool { return p.Stats().Undecodable == 2 })
	eventually(t, 10*time.Second, "good event", func() bool { return s.distinct() == 1 })
	eventually(t, 10*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	assert.Empty(t, s.missing(good))
	st := p.Stats()
	assert.Equal(t, uint64(3), st.Received, "garbage is never redelivered")
	assert.Zero(t, st.Retried)

	dl := h.deadLetters()
	require.Len(t, dl, 2)
	for _, m := range dl {
		assert.Equal(t, "undecodable", m.Header.Get(jsconsume.HeaderReason))
	}
	assert.Equal(t, []byte("{not json"), dl[0].Data)
	assert.Contains(t, dl[1].Header.Get(jsconsume.HeaderError), "job-x")
}

// TestServerRestartMidStream stops the server while handlers are in flight
// and events wait, restarts it on the same store and port, and checks that
// every event (before, during and after) is handled.
func TestServerRestartMidStream(t *testing.T) {
	h := newHarness(t)
	before := h.publish(jobEvents(5, 200)...)
	src := h.source(h.js)
	p := newProc(t, src, processor.WithMaxConcurrent(4))
	s := newSeen()
	gate := make(chan struct{})
	var gated atomic.Int32
	_, err := p.HandleAll(func(ctx context.Context, e event.JobEvent) error {
		if n, _ := e.Details["n"].(float64); n >= 100 && n < 104 {
			gated.Add(1)
			select { // held across the restart; acked after it
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s.add("a", e)
		return nil
	})
	require.NoError(t, err)
	run(t, p)

	eventually(t, 20*time.Second, "handlers held mid-stream", func() bool { return gated.Load() == 4 })
	require.Less(t, s.distinct(), 200, "the stream is not finished when the server stops")
	h.srv.Stop()
	require.NoError(t, h.srv.Restart())
	close(gate)
	after := h.publish(jobEvents(5, 100)...)

	all := append(before, after...)
	eventually(t, 30*time.Second, "every event after the restart", func() bool { return len(s.missing(all)) == 0 })
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	t.Logf("restarts=%d stats=%+v", src.Restarts(), p.Stats())
}

// TestConsumerDeletedIsRecreated deletes the durable under a running
// processor: it is created again and consumption goes on.
func TestConsumerDeletedIsRecreated(t *testing.T) {
	h := newHarness(t)
	src := h.source(h.js)
	p := newProc(t, src)
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)
	first := h.publish(jobEvents(3, 30)...)
	eventually(t, 10*time.Second, "first batch", func() bool { return s.distinct() == 30 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.js.DeleteConsumer(ctx, jsconsume.DefaultStream, jsconsume.DefaultDurable))
	eventually(t, 20*time.Second, "consumer re-established", func() bool { return src.Restarts() >= 1 })
	second := h.publish(jobEvents(3, 30)...)
	eventually(t, 20*time.Second, "second batch", func() bool { return len(s.missing(append(first, second...))) == 0 })
}

// TestInstancesShareWorkAndSurviveAKill runs two instances on one durable,
// kills one mid-stream (connection closed, nothing acked), and checks the
// other finishes every event and no event ran on both at once.
func TestInstancesShareWorkAndSurviveAKill(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(8, 400)...)
	s := newSeen()
	var mu sync.Mutex
	active := map[string]string{} // event id -> instance
	var overlap atomic.Bool
	handler := func(name string, hold <-chan struct{}) func(context.Context, event.JobEvent) error {
		return func(ctx context.Context, e event.JobEvent) error {
			if hold != nil && s.instance(name) >= 20 {
				select { // A stalls after 20 events, holding messages unacked
				case <-hold:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			mu.Lock()
			if other, ok := active[e.ID]; ok && other != name {
				overlap.Store(true)
			}
			active[e.ID] = name
			mu.Unlock()
			defer func() { mu.Lock(); delete(active, e.ID); mu.Unlock() }()
			s.add(name, e)
			return nil
		}
	}

	ncA, jsA := h.connect()
	pA := newProc(t, h.source(jsA, jsconsume.WithPullBatch(50)), processor.WithMaxConcurrent(4))
	_, err := pA.HandleAll(handler("a", make(chan struct{})))
	require.NoError(t, err)
	run(t, pA)
	_, jsB := h.connect()
	pB := newProc(t, h.source(jsB, jsconsume.WithPullBatch(50)), processor.WithMaxConcurrent(4))
	_, err = pB.HandleAll(handler("b", nil))
	require.NoError(t, err)
	run(t, pB)

	eventually(t, 20*time.Second, "A stalled with work in hand", func() bool { return pA.Stats().InFlight == 4 })
	eventually(t, 20*time.Second, "B working", func() bool { return s.instance("b") > 0 })
	ncA.Close() // the kill: nothing A holds is acked
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_ = pA.Stop(ctx)

	eventually(t, 30*time.Second, "B finishes every event", func() bool { return len(s.missing(events)) == 0 })
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	assert.False(t, overlap.Load(), "an event was handled by both instances at once")
	assert.Equal(t, 20, s.instance("a"))
	assert.Positive(t, s.instance("b"))
}

// TestJobOrderingOneInstance is the ordering guarantee of
// docs/processor.md: one instance with WithJobOrdering sees each job's
// events in stream order, even with failures retried in place.
func TestJobOrderingOneInstance(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(5, 300)...)
	p := newProc(t, h.source(h.js, jsconsume.WithPullBatch(64)), processor.WithJobOrdering(), processor.WithMaxConcurrent(8))
	s := newSeen()
	var failed sync.Map
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		if n := e.Details["n"].(float64); int(n)%17 == 0 {
			if _, again := failed.LoadOrStore(e.ID, true); !again {
				return errors.New("transient")
			}
		}
		s.add("a", e)
		return nil
	})
	require.NoError(t, err)
	run(t, p)
	eventually(t, 30*time.Second, "all events", func() bool { return len(s.missing(events)) == 0 })
	s.mu.Lock()
	defer s.mu.Unlock()
	for job, order := range s.order {
		assert.True(t, slices.IsSorted(order), "job %s saw %v", job, order)
		assert.Len(t, order, 60)
	}
	assert.Positive(t, p.Stats().Retried)
}

func TestNewRejectsBadConfig(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tests := []struct {
		name string
		opts []jsconsume.Option
		is   error
		want string
	}{
		{"durable with dot", []jsconsume.Option{jsconsume.WithDurable("a.b")}, event.ErrInvalid, "durable"},
		{"queue filter", []jsconsume.Option{jsconsume.WithFilter(event.Filter{Queue: "q"})}, event.ErrInvalid, "Queue"},
		{"bad environment", []jsconsume.Option{jsconsume.WithFilter(event.Filter{Environment: "a*"})}, event.ErrInvalid, "a*"},
		{"missing stream", []jsconsume.Option{jsconsume.WithStream("nope")}, ports.ErrNotFound, "nope"},
		{"backoff longer than max deliver", []jsconsume.Option{jsconsume.WithMaxDeliver(2), jsconsume.WithBackoff(time.Second, time.Second)}, event.ErrInvalid, "backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsconsume.New(ctx, h.js, tt.opts...)
			require.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestFilterSelectsTypes(t *testing.T) {
	h := newHarness(t)
	src := h.source(h.js, jsconsume.WithDurable("completed-only"),
		jsconsume.WithFilter(event.Filter{Environment: env, Types: []event.JobEventType{event.TypeCompleted, event.TypeFailed}}))
	p := newProc(t, src)
	s := newSeen()
	var types sync.Map
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { types.Store(e.Type, true); s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)
	h.publish(event.New("j", event.TypeStarted), event.New("j", event.TypeCompleted), event.New("k", event.TypeFailed))
	eventually(t, 10*time.Second, "2 events", func() bool { return s.distinct() == 2 })
	eventually(t, 10*time.Second, "consumer settled", func() bool { return h.consumerSettled("completed-only") })
	_, sawStarted := types.Load(event.TypeStarted)
	assert.False(t, sawStarted)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, jsconsume.DefaultStream, "completed-only")
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"naq.events.test.*.*.completed", "naq.events.test.*.*.failed"}, info.Config.FilterSubjects)
	assert.Equal(t, "completed-only", info.Config.Durable)
	assert.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
}
