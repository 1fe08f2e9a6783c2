package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// TestStreamFromNow: a live stream (no history, no Last-Event-ID) delivers
// an event stored right after the response headers arrive, and nothing
// stored before the request, whatever the store's clock says: the start is
// pinned to the store's sequence, not to the app's clock. The memory store's
// clock is off by a minute here, as a NATS server's may be: a start at the
// app's time.Now() replays the minute before the request when the store's
// clock is ahead, and skips what is stored until the store's stream exists
// when it is behind.
func TestStreamFromNow(t *testing.T) {
	memory := func(skew time.Duration) func(t *testing.T) ports.Store {
		return func(t *testing.T) ports.Store {
			st := memstore.New(memstore.WithClock(func() time.Time { return time.Now().Add(skew) }))
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) ports.Store
	}{
		{"memory, store clock a minute ahead", memory(time.Minute)},
		{"memory, store clock a minute behind", memory(-time.Minute)},
		{"jetstream", func(t *testing.T) ports.Store {
			_, nc := natsembedtest.Connect(t)
			st, err := jsstore.New(t.Context(), nc)
			require.NoError(t, err)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.open(t)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			old := event.Enqueued("job-old", "q", 1)
			require.NoError(t, store.Store(ctx, old))
			f := newFixture(t, store)

			s := openStream(t, ctx, f.srv.URL+"/api/v1/stream", "") // returns once the headers arrived
			first := event.Enqueued("job-1", "q", 1)
			require.NoError(t, store.Store(ctx, first))
			got := s.next(t)
			assert.Contains(t, got.Data, first.ID, "the first event after the headers, and not the one before")
			assert.Equal(t, "2", seqOf(got.ID))
		})
	}
}
