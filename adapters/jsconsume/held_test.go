package jsconsume_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsconsume"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/domain/subject"
)

// TestLongHeldJobQueueIsNotRedelivered: with WithJobOrdering, a job's
// later events wait in its queue while the first one runs for three
// AckWaits; they are reported in progress meanwhile, so the server never
// redelivers them: every event is handled once, none is dead-lettered.
func TestLongHeldJobQueueIsNotRedelivered(t *testing.T) {
	const ackWait = time.Second
	h := newHarness(t)
	events := h.publish(jobEvents(1, 5)...)
	p := newProc(t, h.source(h.js, jsconsume.WithAckWait(ackWait)), processor.WithJobOrdering(), processor.WithMaxDeliveries(2))
	s := newSeen()
	_, err := p.HandleAll(func(ctx context.Context, e event.JobEvent) error {
		if e.ID == events[0].ID {
			select { // a slow handler: three ack waits
			case <-time.After(3 * ackWait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s.add("a", e)
		return nil
	})
	require.NoError(t, err)
	run(t, p)
	eventually(t, 20*time.Second, "every event", func() bool { return len(s.missing(events)) == 0 })
	eventually(t, 10*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	s.mu.Lock()
	for id, n := range s.count {
		assert.Equal(t, 1, n, "event %s handled %d times", id, n)
	}
	s.mu.Unlock()
	st := p.Stats()
	assert.Zero(t, st.DeadLettered, "stats %+v", st)
	assert.Zero(t, st.Duplicates, "stats %+v", st)
	assert.Equal(t, uint64(5), st.Received, "no redelivery")
}

// TestRedeliveryWhileHeldIsSettledByTheHeldDelivery: when the server
// redelivers a message the processor still holds (no in-progress report
// within AckWait here), the redelivery is dropped and the ack of the older
// delivery settles the message: it is handled once and the consumer has
// nothing pending afterwards.
func TestRedeliveryWhileHeldIsSettledByTheHeldDelivery(t *testing.T) {
	h := newHarness(t)
	p := newProc(t, h.source(h.js, jsconsume.WithAckWait(300*time.Millisecond)),
		processor.WithInProgressInterval(time.Hour)) // no heartbeat: force the redelivery
	var calls atomic.Int32
	_, err := p.HandleAll(func(ctx context.Context, _ event.JobEvent) error {
		calls.Add(1)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for p.Stats().Duplicates == 0 { // held until the server redelivered
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	require.NoError(t, err)
	run(t, p)
	h.publish(event.New("held", event.TypeStarted))
	eventually(t, 20*time.Second, "handled", func() bool { return p.Stats().Handled == 1 })
	eventually(t, 10*time.Second, "consumer settled by the older delivery's ack",
		func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	assert.Equal(t, int32(1), calls.Load())
	st := p.Stats()
	assert.Positive(t, st.Duplicates)
	assert.Zero(t, st.DeadLettered+st.Failed, "stats %+v", st)
}

// TestPrefetchIsBoundedByCapacity: a processor with all its slots busy
// holds only about two rounds of work from the server (the pull batch is
// twice MaxConcurrent), not the whole backlog, so nothing waits unreported
// long enough to be redelivered.
func TestPrefetchIsBoundedByCapacity(t *testing.T) {
	const slots = 2
	h := newHarness(t)
	h.publish(jobEvents(10, 50)...)
	src := h.source(h.js)
	p := newProc(t, src, processor.WithMaxConcurrent(slots))
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	_, err := p.HandleAll(func(ctx context.Context, _ event.JobEvent) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	require.NoError(t, err)
	run(t, p)
	eventually(t, 10*time.Second, "every slot busy", func() bool { return p.Stats().InFlight == slots })
	assert.Equal(t, 2*slots, src.PullBatch())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, jsconsume.DefaultStream, jsconsume.DefaultDurable)
	require.NoError(t, err)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, info.NumAckPending, 2*slots, "messages delivered to the client while its slots are busy")
	once.Do(func() { close(release) })
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
}

// TestDeadLettersOfTwoDurables: two consumers (different durables) giving
// up on the same event both store their dead letter; a retried write of
// one consumer's letter is stored once and reported as success.
func TestDeadLettersOfTwoDurables(t *testing.T) {
	h := newHarness(t)
	bad := h.publish(event.New("bad", event.TypeFailed))[0]
	fail := func(context.Context, event.JobEvent) error { return fmt.Errorf("projection refused") }
	srcs := map[string]*jsconsume.Source{}
	for _, durable := range []string{"billing", "audit"} {
		srcs[durable] = h.source(h.js, jsconsume.WithDurable(durable))
		p := newProc(t, srcs[durable], processor.WithMaxDeliveries(1))
		_, err := p.HandleAll(fail)
		require.NoError(t, err)
		run(t, p)
		eventually(t, 20*time.Second, durable+" dead-lettered", func() bool { return p.Stats().DeadLettered == 1 })
	}
	dl := h.deadLetters()
	require.Len(t, dl, 2, "one dead letter per consumer")
	got := map[string]string{}
	for _, m := range dl {
		got[m.Header.Get(jsconsume.HeaderDurable)] = m.Header.Get(jetstream.MsgIDHeader)
	}
	assert.Equal(t, map[string]string{"billing": "naq_events:billing:1", "audit": "naq_events:audit:1"}, got)

	subj, err := subject.ForEvent(env, svc, &bad)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srcs["billing"].DeadLetter(ctx, processor.Letter{Subject: subj, Data: []byte("{}"),
		Delivery: processor.Delivery{Seq: 1, NumDelivered: 2}, Reason: processor.ReasonFailed}), "a duplicate is success")
	assert.Len(t, h.deadLetters(), 2, "the retried letter is stored once")
}

// TestStopReturnsByItsDeadline: Stop with a 200 ms ctx returns within it
// (plus a little) while a pull is outstanding, connected or not, and the
// processor's goroutines have then all ended.
func TestStopReturnsByItsDeadline(t *testing.T) {
	for _, disconnected := range []bool{false, true} {
		t.Run(fmt.Sprintf("disconnected=%v", disconnected), func(t *testing.T) {
			h := newHarness(t)
			h.publish(jobEvents(1, 3)...)
			p := processor.New(h.source(h.js), processor.WithSlog(testLogger(t)))
			var handled atomic.Int32
			_, err := p.HandleAll(func(context.Context, event.JobEvent) error { handled.Add(1); return nil })
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background()))
			eventually(t, 10*time.Second, "backlog handled, a pull waiting", func() bool { return handled.Load() == 3 })
			if disconnected {
				h.srv.Stop()
				eventually(t, 10*time.Second, "client disconnected", func() bool { return !h.nc.IsConnected() })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			began := time.Now()
			err = p.Stop(ctx)
			took := time.Since(began)
			assert.Less(t, took, 200*time.Millisecond+processor.StopGrace+time.Second, "Stop took %s (err %v)", took, err)
			select {
			case <-p.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the processor's goroutines did not end")
			}
		})
	}
}
