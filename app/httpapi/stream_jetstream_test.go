package httpapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/domain/event"
)

// TestStreamResumeJetStream reads 5 events, disconnects, misses 4 writes and
// reconnects with Last-Event-ID: it gets exactly the 4 it missed, then live
// events again.
func TestStreamResumeJetStream(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := jsstore.New(ctx, nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f := newFixture(t, store, WithNATS(nc))

	batch := func(from, n int) []event.JobEvent {
		evs := make([]event.JobEvent, n)
		for i := range evs {
			evs[i] = event.Enqueued(fmt.Sprintf("job-%d", from+i), "q", 1)
		}
		require.NoError(t, store.StoreBatch(ctx, evs))
		return evs
	}
	first := batch(0, 8)

	streamCtx, stop := context.WithCancel(ctx)
	s := openStream(t, streamCtx, f.srv.URL+"/api/v1/stream?history=true", "")
	var last string
	for i := range 5 {
		got := s.next(t)
		assert.Contains(t, got.Data, first[i].ID)
		last = got.ID
	}
	stop() // disconnect
	assert.Equal(t, "5", last)

	missed := batch(100, 4)
	s2 := openStream(t, ctx, f.srv.URL+"/api/v1/stream", last)
	want := append(first[5:], missed...)
	for i, w := range want {
		got := s2.next(t)
		assert.Equal(t, fmt.Sprint(6+i), got.ID)
		assert.Contains(t, got.Data, w.ID)
	}
	marker := batch(200, 1)
	got := s2.next(t)
	assert.Contains(t, got.Data, marker[0].ID, "nothing but the missed events came before the new one")
	assert.Equal(t, "13", got.ID)

	var h healthBody
	require.Equal(t, 200, f.do(t, "GET", "/healthz", "", &h))
	require.NotNil(t, h.NATS)
	assert.True(t, h.NATS.Connected)
	assert.Equal(t, "jetstream", h.Store.Backend)
}
