package jsstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

func streamInfo(t *testing.T, f fixture) *jetstream.StreamInfo {
	t.Helper()
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), f.st.StreamName())
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info
}

// TestFastIngestBatch: the default Store sets allow_batched, says so in
// Health, and stores a batch bigger than its flow window in order; an
// invalid event in the middle fails alone.
func TestFastIngestBatch(t *testing.T) {
	f := setup(t)
	require.Equal(t, jsstore.PublishFast, f.st.PublishMode())
	assert.True(t, streamInfo(t, f).Config.AllowBatchPublish, "allow_batched on the stream")

	evs := append(events("job-a", 1500), events("job-b", 1500)...)
	bad := 1700
	evs[bad].ID = "not an id"
	err := f.st.StoreBatch(t.Context(), evs)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "a *logger.BatchError, got %v", err)
	for i, e := range be.Errs {
		if i == bad {
			require.ErrorIs(t, e, event.ErrInvalid)
			continue
		}
		require.NoError(t, e, "event %d", i)
	}
	for _, job := range []string{"job-a", "job-b"} {
		got, err := f.st.Job(t.Context(), job, event.Page{})
		require.NoError(t, err)
		var want []string
		for i := range evs {
			if evs[i].JobID == job && i != bad {
				want = append(want, evs[i].ID)
			}
		}
		require.Equal(t, want, ids(got), "job %s in logged order", job)
	}
	assert.Zero(t, f.st.Stats().Resent, "no batch ended short")

	h, err := f.st.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "fast-ingest", h.Detail["publish"])
	assert.NotContains(t, h.Detail, "publish_fallback")
}

// TestRetriedFastBatchStoresOnce: a batch sent again with the same ids
// (the caller's retry of an unknown outcome) is absorbed by the duplicate
// window, inside a fast batch too.
func TestRetriedFastBatchStoresOnce(t *testing.T) {
	f := setup(t)
	evs := events("job-r", 900)
	require.NoError(t, f.st.StoreBatch(t.Context(), evs[:600]))
	require.NoError(t, f.st.StoreBatch(t.Context(), evs))
	got, err := f.st.Job(t.Context(), "job-r", event.Page{})
	require.NoError(t, err)
	require.Equal(t, ids(evs), ids(got))
}

// TestPublishAsyncMode: PublishAsync publishes one event at a time, says
// why in Health, and leaves an allow_batched the stream has alone.
func TestPublishAsyncMode(t *testing.T) {
	f := setup(t) // creates the stream with allow_batched
	st := newStore(t, f.nc, jsstore.WithPublishMode(jsstore.PublishAsync))
	require.Equal(t, jsstore.PublishAsync, st.PublishMode())
	assert.True(t, streamInfo(t, f).Config.AllowBatchPublish, "allow_batched kept for other clients")

	evs := events("job-async", 10)
	require.NoError(t, st.StoreBatch(t.Context(), evs))
	got, err := st.Job(t.Context(), "job-async", event.Page{})
	require.NoError(t, err)
	require.Equal(t, ids(evs), ids(got))

	h, err := st.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "async", h.Detail["publish"])
	assert.Contains(t, h.Detail["publish_fallback"], "PublishAsync")
}

// TestFallbackWhenStreamRefusesBatches: when the stream's allow_batched is
// turned off behind the Store's back, the next StoreBatch is refused by the
// server (error 10205), falls back to asynchronous publishes for good and
// still stores every event.
func TestFallbackWhenStreamRefusesBatches(t *testing.T) {
	f := setup(t, jsstore.WithSlog(slog.New(slog.DiscardHandler))) // the fallback warns
	cfg := streamInfo(t, f).Config
	cfg.AllowBatchPublish = false
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	_, err = js.UpdateStream(t.Context(), cfg)
	require.NoError(t, err)

	evs := events("job-fb", 50)
	require.NoError(t, f.st.StoreBatch(t.Context(), evs))
	require.Equal(t, jsstore.PublishAsync, f.st.PublishMode())
	got, err := f.st.Job(t.Context(), "job-fb", event.Page{})
	require.NoError(t, err)
	require.Equal(t, ids(evs), ids(got))
	h, err := f.st.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "async", h.Detail["publish"])
	assert.Contains(t, h.Detail["publish_fallback"], "batch publish is disabled")
}

func TestPublishModeInvalid(t *testing.T) {
	srv := startServer(t)
	nc := connect(t, srv.ClientURL())
	_, err := jsstore.New(t.Context(), nc, jsstore.WithPublishMode(jsstore.PublishMode(7)))
	require.ErrorIs(t, err, ports.ErrInvalid)
	assert.Contains(t, err.Error(), "WithPublishMode(7)")
}

// TestStored: found[i] is true exactly for the events stored, whatever
// their job and type share with others; a subject with more messages than
// one direct get request brings is read to its end.
func TestStored(t *testing.T) {
	f := setup(t, jsstore.WithDuplicates(30*time.Second))
	require.Equal(t, 30*time.Second, f.st.DedupWindow())

	stored := events("job-s", 8)
	many := make([]event.JobEvent, 150) // one subject, more than lookupBatch messages
	for i := range many {
		many[i] = event.New("job-many", event.TypeRetryStarted, event.WithMessage(fmt.Sprint(i)))
	}
	require.NoError(t, f.st.StoreBatch(t.Context(), stored))
	require.NoError(t, f.st.StoreBatch(t.Context(), many))

	notStored := events("job-s", 4)                                    // same job and types, other ids
	notStored = append(notStored, events("job-none", 2)...)            // a job without events
	notStored = append(notStored, event.New("a.b", event.TypeStarted)) // no valid subject
	query := []event.JobEvent{many[149], notStored[0], stored[3], many[0]}
	query = append(query, notStored[1:]...)
	query = append(query, stored...)
	want := []bool{true, false, true, true}
	for range notStored[1:] {
		want = append(want, false)
	}
	for range stored {
		want = append(want, true)
	}
	found, err := f.st.Stored(t.Context(), query)
	require.NoError(t, err)
	require.Equal(t, want, found)

	found, err = f.st.Stored(t.Context(), nil)
	require.NoError(t, err)
	require.Empty(t, found)
}

// TestStoredManySubjects: more distinct subjects than requests in flight.
func TestStoredManySubjects(t *testing.T) {
	f := setup(t)
	var evs []event.JobEvent
	for j := range 300 {
		evs = append(evs, event.New(fmt.Sprintf("job-%d", j), event.TypeEnqueued))
	}
	require.NoError(t, f.st.StoreBatch(t.Context(), evs[:200]))
	found, err := f.st.Stored(t.Context(), evs)
	require.NoError(t, err)
	for i, ok := range found {
		require.Equal(t, i < 200, ok, "event %d", i)
	}
}

// TestMsgIDIsTheEventsOwn: on every write path (a fast batch, pipelined
// calls, asynchronous publishes) each stored message carries its own
// event's id as Nats-Msg-Id (the fast paths share one header map among a
// call's publishes), read back message by message.
func TestMsgIDIsTheEventsOwn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []jsstore.Option
		write func(t *testing.T, st *jsstore.Store, evs []event.JobEvent)
	}{
		{"fast StoreBatch", nil, func(t *testing.T, st *jsstore.Store, evs []event.JobEvent) {
			require.NoError(t, st.StoreBatch(t.Context(), evs))
		}},
		{"pipelined SendBatch", nil, func(t *testing.T, st *jsstore.Store, evs []event.JobEvent) {
			w1 := st.SendBatch(t.Context(), evs[:700], false, true)
			w2 := st.SendBatch(t.Context(), evs[700:], true, false)
			require.NoError(t, w1())
			require.NoError(t, w2())
		}},
		{"async StoreBatch", []jsstore.Option{jsstore.WithPublishMode(jsstore.PublishAsync)}, func(t *testing.T, st *jsstore.Store, evs []event.JobEvent) {
			require.NoError(t, st.StoreBatch(t.Context(), evs))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.opts...)
			evs := events("job-id", 1200)
			tc.write(t, f.st, evs)
			requireOwnMsgIDs(t, f, evs)
		})
	}
}

// requireOwnMsgIDs reads the stream's messages 1..len(want) and requires
// message i to be want[i-1] with its own id as its one Nats-Msg-Id, and no
// message after them.
func requireOwnMsgIDs(t *testing.T, f fixture, want []event.JobEvent) {
	t.Helper()
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), f.st.StreamName())
	require.NoError(t, err)
	require.EqualValues(t, len(want), s.CachedInfo().State.Msgs, "messages stored")
	for i := range want {
		m, err := s.GetMsg(t.Context(), uint64(i+1))
		require.NoError(t, err)
		var doc struct {
			ID string `json:"event_id"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &doc))
		require.Equal(t, want[i].ID, doc.ID, "message %d in logged order", i+1)
		require.Equal(t, []string{want[i].ID}, m.Header.Values(jetstream.MsgIDHeader), "Nats-Msg-Id of message %d", i+1)
	}
}

// TestWithoutMsgID: no Nats-Msg-Id on the stored messages, DedupWindow 0,
// and Stored still finds the events by the id in their document.
func TestWithoutMsgID(t *testing.T) {
	f := setup(t, jsstore.WithoutMsgID())
	require.Zero(t, f.st.DedupWindow())
	evs := events("job-n", 5)
	require.NoError(t, f.st.StoreBatch(t.Context(), evs))

	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), f.st.StreamName())
	require.NoError(t, err)
	m, err := s.GetMsg(t.Context(), 1)
	require.NoError(t, err)
	assert.Empty(t, m.Header.Get(jetstream.MsgIDHeader))

	found, err := f.st.Stored(t.Context(), append(evs, events("job-n", 1)...))
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, true, true, false}, found)
}

func TestStoredClosed(t *testing.T) {
	f := setup(t)
	require.NoError(t, f.st.Close())
	_, err := f.st.Stored(t.Context(), events("j", 1))
	require.ErrorIs(t, err, ports.ErrClosed)
}

// TestNotSentMarked: events a fast batch never published fail with
// logger.ErrNotSent (the logger then knows they are certainly not stored).
func TestNotSentMarked(t *testing.T) {
	f := setup(t)
	f.nc.Close()
	err := f.st.StoreBatch(t.Context(), events("job-ns", 3))
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "a *logger.BatchError, got %v", err)
	for i, e := range be.Errs {
		require.ErrorIs(t, e, logger.ErrNotSent, "event %d", i)
		require.ErrorIs(t, e, ports.ErrUnavailable, "event %d", i)
	}
}

// TestFastBatchRefusedMidBatch: a message in the middle of a fast batch
// that the stream refuses (larger than its max_msg_size) fails alone with
// ErrInvalid; the server commits the prefix before it, the rest goes out
// once in a second batch, and nothing is stored twice or out of order.
func TestFastBatchRefusedMidBatch(t *testing.T) {
	f := setup(t)
	cfg := streamInfo(t, f).Config
	cfg.MaxMsgSize = 1024
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	_, err = js.UpdateStream(t.Context(), cfg)
	require.NoError(t, err)

	evs := events("job-big", 1200)
	bad := 700
	evs[bad] = event.New("job-big", event.TypeStarted, event.WithMessage(strings.Repeat("x", 2000)))
	err = f.st.StoreBatch(t.Context(), evs)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "a *logger.BatchError, got %v", err)
	for i, e := range be.Errs {
		if i == bad {
			require.ErrorIs(t, e, ports.ErrInvalid)
			require.NotErrorIs(t, e, ports.ErrUnavailable)
			continue
		}
		require.NoError(t, e, "event %d", i)
	}
	assert.EqualValues(t, len(evs)-bad-1, f.st.Stats().Resent, "one second batch, of the events after the refused one")
	got, err := f.st.Job(t.Context(), "job-big", event.Page{})
	require.NoError(t, err)
	want := append(ids(evs[:bad]), ids(evs[bad+1:])...)
	require.Equal(t, want, ids(got))
	// The second batch's messages carry their own ids too (its publishes
	// share a header map, as the first batch's do).
	requireOwnMsgIDs(t, f, append(append([]event.JobEvent(nil), evs[:bad]...), evs[bad+1:]...))
}

// TestStoredClockSkew: an event whose own time is ahead of the server's
// clock by less than the clock skew margin is still found (the read starts
// at its time minus the margin); one ahead by more is not, as documented.
func TestStoredClockSkew(t *testing.T) {
	f := setup(t, jsstore.WithClockSkew(time.Minute))
	evs := events("job-skew", 2)
	evs[0].Timestamp = time.Now().Add(50 * time.Second).UTC()
	evs[1].Timestamp = time.Now().Add(5 * time.Minute).UTC()
	require.NoError(t, f.st.StoreBatch(t.Context(), evs))
	found, err := f.st.Stored(t.Context(), evs)
	require.NoError(t, err)
	require.Equal(t, []bool{true, false}, found)
}
