package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// slowStore is a memory store whose reads fail as jsstore's do when the
// server takes longer than the store timeout (ErrUnavailable wrapping
// context.DeadlineExceeded), and whose health is down or up as set.
type slowStore struct {
	*inMemory
	down bool
}

// inMemory names memstore.Store so that the embedded field is not called
// Store, which ports.Store's method of that name would clash with.
type inMemory = memstore.Store

var errSlowRead = fmt.Errorf("jsstore: list: %w: %w", ports.ErrUnavailable, context.DeadlineExceeded)

func (s *slowStore) List(context.Context, event.Filter, event.Page) ([]event.Record, error) {
	return nil, errSlowRead
}

func (s *slowStore) Health(ctx context.Context) (ports.Health, error) {
	if s.down {
		return ports.Health{Backend: "jetstream"}, fmt.Errorf("jsstore: health: %w: %w", ports.ErrUnavailable, context.DeadlineExceeded)
	}
	return s.inMemory.Health(ctx)
}

// TestSlowReadIsNotStoreUnavailable: a read that runs out of time while the
// store answers its health check is a 504 that says the store is up and
// how to narrow the read; the same error while the store is down stays a
// 503 "store unavailable".
func TestSlowReadIsNotStoreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		down   bool
		status int
		says   []string
		never  string
	}{
		{name: "store up", status: http.StatusGatewayTimeout,
			says: []string{"the store is up", "since=", "after="}, never: "store unavailable"},
		{name: "store down", down: true, status: http.StatusServiceUnavailable,
			says: []string{"store unavailable"}, never: "the store is up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, &slowStore{inMemory: memstore.New(), down: tc.down})
			var e errorBody
			require.Equal(t, tc.status, f.do(t, "GET", "/api/v1/events?queue=q", "", &e))
			for _, s := range tc.says {
				assert.Contains(t, e.Error, s)
			}
			assert.NotContains(t, e.Error, tc.never)
		})
	}
}
