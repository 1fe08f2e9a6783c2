package writepath_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Pipelining: the logger keeps two StoreBatch-sized calls in flight on one
// open fast batch (logger.Pipeliner, jsstore/pipeline.go). These tests put
// a fault in the first call while the second is on the wire behind it and
// read the whole stream back: every event once, each job's events and the
// whole stream in logged order.

// logThrough logs evs through l under the Block policy, as fast as it
// takes them.
func logThrough(l *logger.Logger, evs []event.JobEvent) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range evs {
		if err := l.LogCtx(ctx, evs[i]); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
	}
	return nil
}

// pipelinedStore is proxiedStore with an ack timeout long enough for the
// holds below (logging every event under -race on a loaded machine can
// take seconds), and the logger for it: defaults but pipelining on and a
// store timeout to match.
func pipelinedStore(t *testing.T, opts ...logger.Option) (*natsembed.Server, *proxy, *nats.Conn, *jsstore.Store, *logger.Logger) {
	t.Helper()
	srv, p, nc, st := proxiedStore(t, jsstore.WithAckTimeout(30*time.Second))
	opts = append([]logger.Option{logger.WithSlog(quiet), logger.WithPipelineDepth(2), logger.WithStoreTimeout(time.Minute)}, opts...)
	return srv, p, nc, st, logger.New(st, opts...)
}

// rewatch is when for a proxy that holds a connection now: it sets the
// next watch, then lets the held connection go.
func (p *proxy) rewatch(fn func(reply string) bool) <-chan struct{} {
	p.mu.Lock()
	old := p.hold
	p.watch, p.seen, p.hold = fn, make(chan struct{}), make(chan struct{})
	seen := p.seen
	p.mu.Unlock()
	if old != nil {
		close(old)
	}
	return seen
}

// logHeld logs evs through l in the background (the returned channel
// gets logThrough's error when done) while the proxy holds the first
// fast batch's first message,
// until every event is queued: the logger then has full batches to send,
// back to back, two in flight. The connection stays held; rewatch or
// release lets it go.
func logHeld(t *testing.T, p *proxy, l *logger.Logger, evs []event.JobEvent) <-chan error {
	t.Helper()
	first := p.when(func(reply string) bool {
		return strings.HasSuffix(reply, ".fail.1.0.$FI") || strings.HasSuffix(reply, ".fail.1.2.$FI")
	})
	done := make(chan error, 1)
	go func() { done <- logThrough(l, evs) }()
	<-first
	deadline := time.Now().Add(20 * time.Second)
	for l.Stats().Logged < uint64(len(evs)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
	require.EqualValues(t, len(evs), l.Stats().Logged, "every event queued")
	return done
}

// awaitQuiet polls (with a deadline) until the connection has published
// nothing new for 100 polls in a row: whatever the held connection lets
// the client write (its flow window, its socket) is written.
func awaitQuiet(t *testing.T, nc *nats.Conn) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, same := nc.Stats().OutMsgs, 0
	for same < 100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling, with a deadline
		if n := nc.Stats().OutMsgs; n != last {
			last, same = n, 0
			continue
		}
		same++
	}
}

func closeLogger(t *testing.T, l *logger.Logger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, l.Close(ctx), "every event stored")
}

// withTwoInFlight runs attempt, on a fresh server each time, until one
// gets the logger to two calls in flight (attempt reports it), at most 5
// times. Whether it does is a race in the logger's flusher: on a loaded
// machine its first call can take the events queued so far with nothing
// queued behind it yet, and then nothing is chained behind it (seen once
// in CI: a first call of 1,050, none chained). Such an attempt still
// checks that every event was stored once, in order.
func withTwoInFlight(t *testing.T, attempt func(t *testing.T) (twoInFlight bool)) {
	t.Helper()
	for i := 1; i <= 5; i++ {
		if attempt(t) {
			return
		}
		t.Logf("attempt %d: no call chained behind the logger's first; again on a fresh server", i)
	}
	t.Fatal("no attempt of 5 had two calls in flight")
}

// settleAlone ends an attempt that did not get two calls in flight: the
// connection goes, and every event must still be stored once, in order.
func settleAlone(t *testing.T, p *proxy, done <-chan error, l *logger.Logger, watch *nats.Conn, st *jsstore.Store, evs []event.JobEvent) bool {
	t.Helper()
	p.release()
	require.NoError(t, <-done)
	closeLogger(t, l)
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
	return false
}

// TestPipelinedGapInFirstCall drops message 700 of the first call on its
// way to the server while the second call is sent behind it on the same
// fast batch. The server stores 699, reports the gap and stores nothing
// after it; the logger retries both calls' rest, in order, once.
func TestPipelinedGapInFirstCall(t *testing.T) { withTwoInFlight(t, gapInFirstCall) }

func gapInFirstCall(t *testing.T) bool {
	srv, p, nc, st, l := pipelinedStore(t)
	watch := connect(t, srv.ClientURL())
	p.dropOnce(func(reply string) bool { return strings.HasSuffix(reply, ".fail.700.1.$FI") })
	evs := makeEvents(total)
	done := logHeld(t, p, l, evs)
	base := nc.Stats().OutMsgs
	held := p.rewatch(func(reply string) bool { return strings.HasSuffix(reply, ".fail.699.1.$FI") })
	<-held
	// The server has seen 699 messages of the batch and nothing after them:
	// the rest of the first call and what the flow window allows of the
	// one chained behind it go out before any news of the gap can come back.
	// The chained call may be dispatched a moment after the first (on the
	// flusher's next turn): wait for it, then for its messages.
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().InFlight <= batch && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
	awaitQuiet(t, nc)
	t.Logf("at the hold: published %d more, stats %+v", nc.Stats().OutMsgs-base, l.Stats())
	if l.Stats().InFlight <= batch {
		return settleAlone(t, p, done, l, watch, st, evs)
	}
	p.release()
	require.NoError(t, <-done)
	closeLogger(t, l)
	stats := l.Stats()
	require.Positive(t, stats.FailedBatches, "the gap failed the first call")
	t.Logf("logger stats %+v", stats)
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
	return true
}

// TestPipelinedConnectionCutInFirstCall holds the connection once message
// 1500 of a call is on its way, waits until the logger has the
// second call in flight too, and cuts the connection: the first call's
// tail and the second call are of unknown outcome or not sent; the logger
// sends them again in order with the same ids.
func TestPipelinedConnectionCutInFirstCall(t *testing.T) {
	withTwoInFlight(t, connectionCutInFirstCall)
}

func connectionCutInFirstCall(t *testing.T) bool {
	srv, p, nc, st, l := pipelinedStore(t)
	watch := connect(t, srv.ClientURL())
	evs := makeEvents(total)
	done := logHeld(t, p, l, evs)
	held := p.rewatch(func(reply string) bool { return strings.HasSuffix(reply, ".fail.1500.1.$FI") })
	<-held
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().InFlight <= batch && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling, with a deadline
	}
	if l.Stats().InFlight <= batch {
		return settleAlone(t, p, done, l, watch, st, evs)
	}
	p.cut()
	p.release()
	require.NoError(t, <-done)
	closeLogger(t, l)
	require.Positive(t, nc.Stats().Reconnects, "the client reconnected")
	stats := l.Stats()
	require.Positive(t, stats.FailedBatches, "the cut failed the calls in flight")
	t.Logf("logger stats %+v", stats)
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
	return true
}

// TestPipelinedOffStillInOrder: WithPipelineDepth(1) over the same fault
// (a lost message in the first call) keeps exactly once and order too.
func TestPipelinedOffStillInOrder(t *testing.T) {
	srv, p, _, st := proxiedStore(t)
	watch := connect(t, srv.ClientURL())
	p.dropOnce(func(reply string) bool { return strings.HasSuffix(reply, ".fail.700.1.$FI") })
	l := logger.New(st, logger.WithSlog(quiet), logger.WithPipelineDepth(1))
	evs := makeEvents(total)
	require.NoError(t, logThrough(l, evs))
	closeLogger(t, l)
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs)
}

// TestPipelinedCallStoppedMidSendRefusesTheChainedCall: the server stores
// what it gets, but its answers are muted from the first message of the
// batch on, so a pipelined call of 6000 events runs out of flow window
// after 4000 (8 windows of 500) and its ctx ends while it waits for room.
// It commits what it sent and ends short. Once the answers flow again,
// the server has confirmed every message sent: only the short mark tells
// that the call's last 2000 events were never sent. The call chained
// behind it must not be sent (they would land before those 2000 are
// retried): the stream holds exactly the first 4000, in order.
func TestPipelinedCallStoppedMidSendRefusesTheChainedCall(t *testing.T) {
	// An ack timeout well beyond the mute: the batch must not end on silence.
	srv, p, _, st := proxiedStore(t, jsstore.WithAckTimeout(30*time.Second))
	watch := connect(t, srv.ClientURL())
	const head, sent = 6000, 4000
	evs := makeEvents(head + batch)
	p.muteWhen(func(reply string) bool { return strings.HasSuffix(reply, ".fail.1.0.$FI") })
	committed := p.when(func(reply string) bool { return strings.HasSuffix(reply, fmt.Sprintf(".fail.%d.3.$FI", sent+1)) })

	ctx1, cancel1 := context.WithTimeout(context.Background(), time.Second)
	defer cancel1()
	start := time.Now()
	wait1 := st.SendBatch(ctx1, evs[:head], false, true)
	t.Logf("the head call returned after %v", time.Since(start).Round(time.Millisecond))
	select {
	case <-committed: // the end-of-batch commit at 4001 is on its way
	case <-time.After(30 * time.Second):
		t.Fatal("the head call sent no end-of-batch commit after message 4000")
	}
	p.release()
	p.unmute()

	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	err2 := st.SendBatch(ctx2, evs[head:], true, false)()
	be, ok := errors.AsType[*logger.BatchError](err2)
	require.True(t, ok, "the chained call fails per event: %v", err2)
	require.Len(t, be.Errs, batch)
	for i, e := range be.Errs {
		require.ErrorIs(t, e, logger.ErrNotSent, "chained event %d", i)
	}
	require.ErrorContains(t, err2, "ended short, not sending the batch chained behind it")

	err1 := wait1()
	be, ok = errors.AsType[*logger.BatchError](err1)
	require.True(t, ok, "the head call fails per event: %v", err1)
	require.Len(t, be.Errs, head)
	for i := sent; i < head; i++ {
		require.ErrorIs(t, be.Errs[i], logger.ErrNotSent, "head event %d", i)
	}
	for i := range sent {
		require.NoError(t, be.Errs[i], "head event %d: sent, and confirmed once the answers flowed", i)
	}
	checkExactlyOnceInOrder(t, readBack(t, watch, st.StreamName()), evs[:sent])
}
