package jsstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// Refused publishes on the pipelined path: the server drops a publish the
// user may not make, so the fast batch has a gap there and stores nothing
// after it. These tests put refused subjects in both of two chained calls.

// deniedBurst returns n events of jobs ok-0..ok-4 with an event of job
// "locked" (which the producer may not publish) at each position of at,
// each of another type, so each is another refused subject.
func deniedBurst(n int, at ...int) []event.JobEvent {
	types := []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted, event.TypeFailed, event.TypeRetryScheduled, event.TypeCancelled}
	locked := map[int]event.JobEventType{}
	for k, i := range at {
		locked[i] = types[k%len(types)]
	}
	out := make([]event.JobEvent, n)
	for i := range out {
		if t, ok := locked[i]; ok {
			out[i] = event.New("locked", t, event.WithQueue("q"))
			continue
		}
		out[i] = event.New(fmt.Sprintf("ok-%d", i%5), event.TypeEnqueued, event.WithQueue("q"), event.WithMessage(fmt.Sprintf("%05d", i)))
	}
	return out
}

// permProducer returns, on the server at url (startPermServer), the
// admin's store and a producer's store for billing. With record, the
// producer's store knows every refusal (WithPublishDenied, as
// app/natsconn wires it); else only the connection's last error (the
// default).
func permProducer(t *testing.T, url string, record bool) (admin, prod *jsstore.Store) {
	t.Helper()
	admin = newStore(t, connect(t, url, nats.UserInfo("admin", "admin-pw")),
		jsstore.WithEnvironment("prod"), jsstore.WithService("billing"))
	rec := &refusals{at: map[string]time.Time{}}
	opts := []jsstore.Option{jsstore.WithEnvironment("prod"), jsstore.WithService("billing"), jsstore.WithPublishMode(jsstore.PublishFast)}
	if record {
		opts = append(opts, jsstore.WithPublishDenied(rec.denied))
	}
	nc := connect(t, url, nats.UserInfo("producer", "producer-pw"), nats.ErrorHandler(rec.handle))
	return admin, newStore(t, nc, opts...)
}

// TestPipelined_PublishDeniedAcrossChainedCalls: two chained calls of
// 2000, refused subjects at 300 and 1500 of the first and 100 of the
// second. The server stores the 300 events before the first refused one
// and nothing after that gap. Of the rest, each refused event fails either for good, naming the
// subject and the grant, or (when the refusal is not known yet as the
// batch's answer comes) as not stored, to be refused again on retry; no
// allowed event fails for good; the error of each event says truly
// whether it was stored; and nothing of the chained call lands ahead of
// the first call's unstored events.
func TestPipelined_PublishDeniedAcrossChainedCalls(t *testing.T) {
	for _, record := range []bool{true, false} {
		t.Run(fmt.Sprintf("record=%v", record), func(t *testing.T) {
			admin, prod := permProducer(t, startPermServer(t), record)
			first := deniedBurst(2000, 300, 1500)
			second := deniedBurst(2000, 100)
			for i := range second { // other events than first's
				second[i] = event.New(second[i].JobID, second[i].Type, event.WithQueue("q"), event.WithMessage(fmt.Sprintf("second %05d", i)))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			start := time.Now()
			wait1 := prod.SendBatch(ctx, first, false, true)
			wait2 := prod.SendBatch(ctx, second, true, false)
			errs := append(callErrs(t, wait1(), len(first)), callErrs(t, wait2(), len(second))...)
			took := time.Since(start)
			t.Logf("both calls answered after %v", took)
			assert.Less(t, took, jsstore.DefaultAckTimeout, "refusals are noticed well before the ack timeout")

			all := append(append([]event.JobEvent(nil), first...), second...)
			found, err := admin.Stored(ctx, all)
			require.NoError(t, err)
			var stored []string
			denied := 0
			for i, ev := range all {
				e := errs[i]
				if ev.JobID == "locked" {
					require.False(t, found[i], "refused event %d is not in the stream", i)
					require.Error(t, e, "refused event %d", i)
					if errors.Is(e, jsstore.ErrPermission) {
						requireDenied(t, e, "naq.events.prod.billing.locked."+string(ev.Type))
						denied++
					} else {
						require.NotErrorIs(t, e, event.ErrInvalid, "refused event %d: not known refused, so retryable", i)
					}
					continue
				}
				require.Equal(t, e == nil, found[i], "allowed event %d: stored iff its error is nil (%v)", i, e)
				if e != nil {
					require.NotErrorIs(t, e, event.ErrInvalid, "allowed event %d must stay retryable", i)
					require.NotErrorIs(t, e, jsstore.ErrPermission, "allowed event %d", i)
				}
				if found[i] {
					stored = append(stored, ev.ID)
				}
			}
			t.Logf("refused events known refused at once: %d of 3", denied)
			require.Equal(t, ids(first[:300]), stored, "the events before the first gap, and nothing after it")
			require.Equal(t, stored, streamIDs(t, admin), "the stream holds them once each, in order")
		})
	}
}

// callErrs returns the per-event errors of one call's answer.
func callErrs(t *testing.T, err error, n int) []error {
	t.Helper()
	if err == nil {
		return make([]error, n)
	}
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "want a *logger.BatchError, got %v", err)
	require.Len(t, be.Errs, n)
	return be.Errs
}

// TestLogger_PipelinedPublishDenied: a pipelined logger (the defaults)
// gets 6000 events in a burst with six refused subjects spread over its
// calls. In the end each refused event is dropped as rejected and every
// allowed one is stored once, in logged order; nothing is outcome
// unknown, spilled or dropped otherwise.
func TestLogger_PipelinedPublishDenied(t *testing.T) {
	for _, record := range []bool{true, false} {
		t.Run(fmt.Sprintf("record=%v", record), func(t *testing.T) {
			admin, prod := permProducer(t, startPermServer(t), record)
			at := []int{10, 1999, 2000, 2500, 4100, 5999}
			evs := deniedBurst(6000, at...)
			lg := logger.New(prod, logger.WithSlog(slog.New(slog.DiscardHandler)), logger.WithOverflow(logger.Block))
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			start := time.Now()
			for i := range evs {
				require.NoError(t, lg.LogCtx(ctx, evs[i]), "event %d", i)
			}
			err := lg.Close(ctx)
			t.Logf("stored after %v: %+v", time.Since(start), lg.Stats())
			if err != nil { // the events rejected after Close began
				ce, ok := errors.AsType[*logger.CloseError](err)
				require.True(t, ok, "Close reports the rejected events: %v", err)
				assert.LessOrEqual(t, ce.Dropped, len(at))
				assert.Equal(t, logger.CloseError{NotStored: ce.Dropped, Dropped: ce.Dropped}, *ce, "only rejected ones")
			}
			st := lg.Stats()
			assert.Equal(t, uint64(len(evs)-len(at)), st.Stored)
			assert.Equal(t, uint64(len(at)), st.Dropped.Rejected)
			assert.Equal(t, st.Dropped.Rejected, st.Dropped.Total())
			assert.Zero(t, st.OutcomeUnknown)
			assert.Zero(t, st.Spilled)
			assert.Positive(t, st.Batches, "calls made")

			var want []string
			for _, ev := range evs {
				if ev.JobID != "locked" {
					want = append(want, ev.ID)
				}
			}
			require.Equal(t, want, streamIDs(t, admin), "every allowed event once, in logged order")
		})
	}
}

// TestPipelined_PublishDeniedAtTheGapOrFirst: one refused subject in a
// pipelined call, with and without a record of refusals (the connection's
// LastError, which nats.go sets as it reads the server's -ERR, before the
// batch's answers that follow it, is consulted either way). Refused at
// 300, the server stores the 300 before it and its commit reports a gap;
// refused first, the server never has the batch and
// answers the next message "batch unknown". Either way the refused event
// fails for good in that call, naming the subject (not as not stored, to
// be retried and refused again), the rest fail as certainly not sent
// (ErrNotSent: no lookup needed before they are sent again), and the
// stream holds exactly the events before the refused one.
func TestPipelined_PublishDeniedAtTheGapOrFirst(t *testing.T) {
	for _, tc := range []struct {
		at     int
		record bool
	}{{300, false}, {0, false}, {300, true}, {0, true}} {
		at := tc.at
		t.Run(fmt.Sprintf("at=%d/record=%v", at, tc.record), func(t *testing.T) {
			admin, prod := permProducer(t, startPermServer(t), tc.record)
			evs := deniedBurst(2000, at)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			errs := callErrs(t, prod.SendBatch(ctx, evs, false, false)(), len(evs))
			for i, e := range errs {
				switch {
				case i < at:
					require.NoError(t, e, "event %d, before the refused one", i)
				case i == at:
					requireDenied(t, e, "naq.events.prod.billing.locked.enqueued")
				default:
					require.ErrorIs(t, e, logger.ErrNotSent, "event %d, after the refused one", i)
				}
			}
			require.Equal(t, ids(evs[:at]), streamIDs(t, admin))
		})
	}
}

// TestStoreBatch_PublishDeniedFirstNeedsNoLookup: StoreBatch's fast batch
// whose first message is refused draws "batch unknown" for the next; the
// batch never existed, so the rest is sent again at once, without asking
// the stream (direct gets) whether any of it is stored. Every other event
// is stored and the refused one fails for good.
func TestStoreBatch_PublishDeniedFirstNeedsNoLookup(t *testing.T) {
	url := startPermServer(t)
	_, prod := permProducer(t, url, false)
	watch := connect(t, url, nats.UserInfo("admin", "admin-pw"))
	sub, err := watch.SubscribeSync("$JS.API.DIRECT.GET.>")
	require.NoError(t, err)
	require.NoError(t, watch.Flush())
	defer func() { _ = sub.Unsubscribe() }()

	evs := deniedBurst(500, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := callErrs(t, prod.StoreBatch(ctx, evs), len(evs))
	requireDenied(t, errs[0], "naq.events.prod.billing.locked.enqueued")
	for i, e := range errs[1:] {
		require.NoError(t, e, "event %d", i+1)
	}
	require.NoError(t, watch.Flush()) // what the server sent before the PONG is queued
	lookups, _, err := sub.Pending()
	require.NoError(t, err)
	assert.Zero(t, lookups, "direct gets to find out what was stored")
	assert.Equal(t, uint64(len(evs)-1), prod.Stats().Resent, "the rest sent again once")
}

// TestStoreBatch_PublishDeniedFirstAndLater: refused at 0 and at 200 (two
// subjects) in one StoreBatch, with only LastError to go by, which may
// name either refusal when the batch's answer comes. Both fail for good
// within the call and every other event is stored, once, in order.
func TestStoreBatch_PublishDeniedFirstAndLater(t *testing.T) {
	admin, prod := permProducer(t, startPermServer(t), false)
	evs := deniedBurst(500, 0, 200)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := callErrs(t, prod.StoreBatch(ctx, evs), len(evs))
	var want []string
	for i, e := range errs {
		if evs[i].JobID == "locked" {
			requireDenied(t, e, "naq.events.prod.billing.locked."+string(evs[i].Type))
			continue
		}
		require.NoError(t, e, "event %d", i)
		want = append(want, evs[i].ID)
	}
	require.Equal(t, want, streamIDs(t, admin))
	t.Logf("resent %d", prod.Stats().Resent)
}
