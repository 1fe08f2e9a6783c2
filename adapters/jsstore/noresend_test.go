package jsstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// TestAsyncNoRespondersIsNotResent: an asynchronous publish answered "no
// responders" (the stream is gone) is published once and fails at once
// with ports.ErrUnavailable. nats.go would otherwise re-publish it twice,
// 250 ms apart, each from a timer goroutine of its own: re-sends that race
// each other and the batches after them, so a job's events could be stored
// out of order once the stream is back. The connection's count of
// messages sent covers every publish made before StoreBatch returned (with
// nats.go's re-sends 3 per event: the long ack timeout lets StoreBatch
// wait for the last one). (A subscriber to the subjects would count them
// too, but would be a responder.) The logger's re-send, in order, stores
// each once.
func TestAsyncNoRespondersIsNotResent(t *testing.T) {
	f := setup(t, jsstore.WithPublishMode(jsstore.PublishAsync), jsstore.WithAckTimeout(30*time.Second))
	js, err := jetstream.New(f.nc)
	require.NoError(t, err)
	stream, err := js.Stream(t.Context(), f.st.StreamName())
	require.NoError(t, err)
	cfg := stream.CachedInfo().Config
	require.NoError(t, js.DeleteStream(t.Context(), cfg.Name))

	evs := events("job-nr", 20)
	before := f.nc.Stats().OutMsgs
	err = f.st.StoreBatch(t.Context(), evs)
	be, ok := errors.AsType[*logger.BatchError](err)
	require.True(t, ok, "a *logger.BatchError, got %v", err)
	require.Len(t, be.Errs, len(evs))
	for i, e := range be.Errs {
		require.ErrorIs(t, e, ports.ErrUnavailable, "event %d", i)
		require.ErrorIs(t, e, jetstream.ErrNoStreamResponse, "event %d", i)
	}

	assert.Equal(t, uint64(len(evs)), f.nc.Stats().OutMsgs-before, "one publish per event, none re-sent by nats.go")

	// The server may still be removing the deleted stream's files ("error
	// creating store for stream", seen under a full -race run): try again.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := js.CreateStream(t.Context(), cfg)
		assert.NoError(c, err)
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, f.st.StoreBatch(t.Context(), evs), "the logger's re-send, in order")
	assert.Equal(t, ids(evs), streamIDs(t, f.st), "each event once, in logged order")
}
