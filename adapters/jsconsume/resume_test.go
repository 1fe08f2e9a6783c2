package jsconsume_test

import (
	"context"
	"errors"
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

// n is the index an event of jobEvents carries; published alone into a
// fresh stream, event n is stored at sequence n+1.
func n(e event.JobEvent) int {
	switch v := e.Details["n"].(type) {
	case float64: // decoded
		return int(v)
	case int: // as made by jobEvents
		return v
	}
	return -1
}

// consumerInfo reads the durable's info from the server.
func (h *harness) consumerInfo(durable string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, jsconsume.DefaultStream, durable)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

func (h *harness) deleteConsumer(durable string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(h.t, h.js.DeleteConsumer(ctx, jsconsume.DefaultStream, durable))
}

// TestConsumerLostResumesFromAckFloor is defect 3 of issue 9: the durable
// is deleted mid-run, with event 10 (sequence 11) failing and so unacked,
// the events below it acked (the ack floor is 10) and those above it acked
// too. The consumer is re-created from sequence 11: the events at or below
// the floor are not handled again (the old code re-created it with
// DeliverAllPolicy and handled all 40 again); the unacked event is
// delivered again and handled; the acked events above the floor are
// delivered again, as documented.
func TestConsumerLostResumesFromAckFloor(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(4, 40)...)
	src := h.source(h.js)
	p := newProc(t, src, processor.WithMaxDeliveries(1000), processor.WithBackoff(20*time.Millisecond, 20*time.Millisecond))
	s := newSeen()
	var lostYet atomic.Bool
	var failures atomic.Int32
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
		if n(e) == 10 && !lostYet.Load() {
			failures.Add(1)
			return errors.New("not before the consumer is lost")
		}
		s.add("a", e)
		return nil
	})
	require.NoError(t, err)
	run(t, p)

	eventually(t, 20*time.Second, "39 events handled and the ack floor read at 10", func() bool {
		return s.distinct() == 39 && src.AckFloor() == 10
	})
	require.Positive(t, failures.Load())
	h.deleteConsumer(jsconsume.DefaultDurable)
	eventually(t, 20*time.Second, "the consumer re-created", func() bool { return src.Recreations() == 1 })
	lostYet.Store(true)

	eventually(t, 20*time.Second, "every event handled", func() bool { return len(s.missing(events)) == 0 })
	eventually(t, 20*time.Second, "the replayed events handled again", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, e := range events[11:] {
			if s.count[e.ID] < 2 {
				return false
			}
		}
		return true
	})
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })

	info, err := h.consumerInfo(jsconsume.DefaultDurable)
	require.NoError(t, err)
	assert.Equal(t, jetstream.DeliverByStartSequencePolicy, info.Config.DeliverPolicy)
	assert.Equal(t, uint64(11), info.Config.OptStartSeq)
	assert.Equal(t, uint64(40), info.AckFloor.Stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events[:10] {
		assert.Equal(t, 1, s.count[e.ID], "event %d was acked at or below the floor: handled %d times", n(e), s.count[e.ID])
	}
	assert.Equal(t, 1, s.count[events[10].ID], "the unacked event is handled once it is delivered again")
	for _, e := range events[11:] {
		assert.Equal(t, 2, s.count[e.ID], "event %d, acked above the floor, is delivered again once", n(e))
	}
	assert.Equal(t, uint64(1), src.Recreations())
}

// TestInstancesConvergeOnOneRecreatedConsumer: two instances on one durable
// both lose it at once and both re-create it. The first create wins and
// the other adopts it (a create with another start would be refused, and
// an update may not move the start): both go on consuming from it, and no
// event acked before the loss is handled again.
func TestInstancesConvergeOnOneRecreatedConsumer(t *testing.T) {
	h := newHarness(t)
	first := h.publish(jobEvents(6, 30)...)
	s := newSeen()
	handler := func(name string) processor.Handler {
		return func(_ context.Context, e event.JobEvent) error { s.add(name, e); return nil }
	}
	_, jsA := h.connect()
	srcA := h.source(jsA, jsconsume.WithPullBatch(4))
	pA := newProc(t, srcA, processor.WithMaxConcurrent(2))
	_, err := pA.HandleAll(handler("a"))
	require.NoError(t, err)
	_, jsB := h.connect()
	srcB := h.source(jsB, jsconsume.WithPullBatch(4))
	pB := newProc(t, srcB, processor.WithMaxConcurrent(2))
	_, err = pB.HandleAll(handler("b"))
	require.NoError(t, err)
	run(t, pA)
	run(t, pB)

	eventually(t, 20*time.Second, "the first batch handled and both floors read at 30", func() bool {
		return s.distinct() == 30 && srcA.AckFloor() == 30 && srcB.AckFloor() == 30
	})
	h.deleteConsumer(jsconsume.DefaultDurable)
	eventually(t, 20*time.Second, "both instances consuming again", func() bool {
		return srcA.Restarts() >= 1 && srcB.Restarts() >= 1
	})
	second := h.publish(jobEvents(6, 30)...)
	eventually(t, 20*time.Second, "the second batch handled", func() bool {
		return len(s.missing(append(first, second...))) == 0
	})
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })

	info, err := h.consumerInfo(jsconsume.DefaultDurable)
	require.NoError(t, err)
	assert.Equal(t, jetstream.DeliverByStartSequencePolicy, info.Config.DeliverPolicy)
	assert.Equal(t, uint64(31), info.Config.OptStartSeq)
	s.mu.Lock()
	for id, c := range s.count {
		assert.Equal(t, 1, c, "event %s handled %d times", id, c)
	}
	s.mu.Unlock()
	assert.GreaterOrEqual(t, srcA.Recreations()+srcB.Recreations(), uint64(1))
	assert.Zero(t, pA.Stats().SourceErrors+pB.Stats().SourceErrors)

	// A later instance adopts the re-created consumer as it is rather
	// than failing to move its start back to the configured policy.
	srcC := h.source(h.js, jsconsume.WithPullBatch(4))
	assert.Zero(t, srcC.Recreations())
	info, err = h.consumerInfo(jsconsume.DefaultDurable)
	require.NoError(t, err)
	assert.Equal(t, uint64(31), info.Config.OptStartSeq)
	assert.Equal(t, uint64(60), srcC.AckFloor())
}

// TestConsumerLostEdgeCases: the floor is not used where it would be
// wrong. Nothing acked yet (floor 0): the consumer starts by its
// configured policy. The stream purged as well: the consumer starts after
// the floor and the server skips what was purged. The stream deleted and
// created again: its sequences start over, so the consumer starts by its
// configured policy (resuming after the old floor would skip the new
// stream's first events).
func TestConsumerLostEdgeCases(t *testing.T) {
	t.Run("ack floor 0", func(t *testing.T) {
		h := newHarness(t)
		events := h.publish(jobEvents(2, 10)...)
		src := h.source(h.js)
		p := newProc(t, src, processor.WithMaxDeliveries(1000), processor.WithBackoff(20*time.Millisecond, 20*time.Millisecond))
		s := newSeen()
		var lostYet atomic.Bool
		var calls atomic.Int32
		_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error {
			calls.Add(1)
			if !lostYet.Load() {
				return errors.New("nothing acked before the loss")
			}
			s.add("a", e)
			return nil
		})
		require.NoError(t, err)
		run(t, p)
		eventually(t, 20*time.Second, "every event tried", func() bool { return calls.Load() >= 10 })
		require.Zero(t, src.AckFloor())
		h.deleteConsumer(jsconsume.DefaultDurable)
		eventually(t, 20*time.Second, "the consumer re-created", func() bool { return src.Recreations() == 1 })
		lostYet.Store(true)
		eventually(t, 20*time.Second, "every event handled", func() bool { return len(s.missing(events)) == 0 })
		info, err := h.consumerInfo(jsconsume.DefaultDurable)
		require.NoError(t, err)
		assert.Equal(t, jetstream.DeliverAllPolicy, info.Config.DeliverPolicy)
	})

	t.Run("stream purged too", func(t *testing.T) {
		h, src, p, s := consumedTo20(t)
		require.NoError(t, p.Stop(context.Background()))

		// 5 events stored meanwhile (sequences 21..25), then the durable
		// lost and the stream purged while no message is in hand; then 5
		// more events (26..30). The consumer is created at 21, which the
		// server moves to the first stored sequence, 26.
		h.publish(jobEvents(2, 5)...)
		h.deleteConsumer(jsconsume.DefaultDurable)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := h.js.Stream(ctx, jsconsume.DefaultStream)
		require.NoError(t, err)
		require.NoError(t, st.Purge(ctx))
		later := h.publish(jobEvents(2, 5)...)

		p2 := newProc(t, src)
		_, err = p2.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("b", e); return nil })
		require.NoError(t, err)
		run(t, p2)
		eventually(t, 20*time.Second, "the later events handled", func() bool { return len(s.missing(later)) == 0 })
		eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
		assert.Equal(t, 5, s.instance("b"), "only the events stored after the purge are delivered")
		assert.Equal(t, uint64(1), src.Recreations())
		info, err := h.consumerInfo(jsconsume.DefaultDurable)
		require.NoError(t, err)
		assert.Equal(t, uint64(21), info.Config.OptStartSeq)
		assert.Equal(t, uint64(30), info.AckFloor.Stream)
	})

	t.Run("stream re-created", func(t *testing.T) {
		h, src, _, s := consumedTo20(t)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, h.js.DeleteStream(ctx, jsconsume.DefaultStream))
		_, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: jsconsume.DefaultStream,
			Subjects: []string{subject.StreamFilter()}, Storage: jetstream.FileStorage})
		require.NoError(t, err)
		fresh := h.publish(jobEvents(2, 5)...) // sequences 1..5 of the new stream
		eventually(t, 20*time.Second, "the new stream's events handled", func() bool { return len(s.missing(fresh)) == 0 })
		assert.Equal(t, 25, s.distinct())
		info, err := h.consumerInfo(jsconsume.DefaultDurable)
		require.NoError(t, err)
		assert.Equal(t, jetstream.DeliverAllPolicy, info.Config.DeliverPolicy)
		assert.Equal(t, uint64(1), src.Recreations())
	})
}

// consumedTo20 publishes 20 events and runs a processor on a new Source
// until it has handled them all (as instance "a") and read the ack floor
// at 20.
func consumedTo20(t *testing.T) (*harness, *jsconsume.Source, *processor.Processor, *seen) {
	t.Helper()
	h := newHarness(t)
	h.publish(jobEvents(2, 20)...)
	src := h.source(h.js)
	p := newProc(t, src)
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)
	eventually(t, 20*time.Second, "floor 20", func() bool { return s.distinct() == 20 && src.AckFloor() == 20 })
	return h, src, p, s
}

// racingJS is a real JetStream whose first consumer create is overtaken:
// just before it, race runs — another instance creating the durable first.
type racingJS struct {
	jetstream.JetStream
	once sync.Once
	race func(ctx context.Context)
}

func (r *racingJS) CreateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	r.once.Do(func() { r.race(ctx) })
	return r.JetStream.CreateConsumer(ctx, stream, cfg)
}

func (r *racingJS) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	r.once.Do(func() { r.race(ctx) })
	return r.JetStream.CreateOrUpdateConsumer(ctx, stream, cfg)
}

// TestRecreateRaceAdoptsTheWinner: between the Source finding its durable
// gone and creating it again, another instance creates it from an older
// floor (sequence 8). The Source's create is refused (another start), and
// it adopts the winner's consumer as it is instead of fighting it (the old
// code's create-or-update failed on every retry: the server may not move
// a consumer's start). Events from sequence 8 on are delivered again, the
// ones below are not.
func TestRecreateRaceAdoptsTheWinner(t *testing.T) {
	h := newHarness(t)
	events := h.publish(jobEvents(2, 10)...)
	rjs := &racingJS{JetStream: h.js, race: func(ctx context.Context) {
		_, err := h.js.CreateConsumer(ctx, jsconsume.DefaultStream, jetstream.ConsumerConfig{
			Durable: jsconsume.DefaultDurable, AckPolicy: jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 8})
		assert.NoError(t, err)
	}}
	h.source(h.js)        // creates the durable, so that the race comes with the re-creation
	src2 := h.source(rjs) // the same durable, through the racing connection
	require.Zero(t, src2.Recreations())
	p := newProc(t, src2)
	s := newSeen()
	_, err := p.HandleAll(func(_ context.Context, e event.JobEvent) error { s.add("a", e); return nil })
	require.NoError(t, err)
	run(t, p)
	eventually(t, 20*time.Second, "floor 10", func() bool { return s.distinct() == 10 && src2.AckFloor() == 10 })

	h.deleteConsumer(jsconsume.DefaultDurable)
	eventually(t, 20*time.Second, "events from sequence 8 delivered again", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.count[events[7].ID] == 2 && s.count[events[8].ID] == 2 && s.count[events[9].ID] == 2
	})
	more := h.publish(jobEvents(2, 5)...)
	eventually(t, 20*time.Second, "later events handled", func() bool { return len(s.missing(more)) == 0 })
	eventually(t, 20*time.Second, "consumer settled", func() bool { return h.consumerSettled(jsconsume.DefaultDurable) })
	info, err := h.consumerInfo(jsconsume.DefaultDurable)
	require.NoError(t, err)
	assert.Equal(t, uint64(8), info.Config.OptStartSeq, "the winner's start is kept")
	assert.Equal(t, "naq-events processor", info.Config.Description, "and the adopter's configuration applied")
	s.mu.Lock()
	for _, e := range events[:7] {
		assert.Equal(t, 1, s.count[e.ID], "event %d below the winner's start handled %d times", n(e), s.count[e.ID])
	}
	s.mu.Unlock()
	assert.Zero(t, src2.Recreations(), "the create lost the race: nothing was re-created by this Source")
	assert.Zero(t, p.Stats().SourceErrors)
}

// TestDeadLetterStreamDeletedIsCreatedAgain: a dead letter written after
// an operator deleted the dead-letter stream creates it again and is
// stored (the old code failed every write until someone created it).
func TestDeadLetterStreamDeletedIsCreatedAgain(t *testing.T) {
	h := newHarness(t)
	src := h.source(h.js)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.js.DeleteStream(ctx, jsconsume.DefaultDeadLetterStream))
	l := processor.Letter{Subject: "naq.events.test.svc.j.failed", Data: []byte("{}"),
		Delivery: processor.Delivery{Seq: 7, NumDelivered: 3}, Reason: processor.ReasonFailed, Err: errors.New("boom")}
	require.NoError(t, src.DeadLetter(ctx, l))
	dl := h.deadLetters()
	require.Len(t, dl, 1)
	assert.Equal(t, "naq.deadletter.test.svc.j.failed", dl[0].Subject)
	assert.Equal(t, "7", dl[0].Header.Get(jsconsume.HeaderOriginalSeq))
}
