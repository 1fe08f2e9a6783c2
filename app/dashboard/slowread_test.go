package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/dashboard"
	"github.com/naq-go/events/app/dashboard/dashboardtest"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// inMemory names memstore.Store so that the embedded field is not called
// Store, which ports.Store's method of that name would clash with.
type inMemory = memstore.Store

// slowStore's List fails as jsstore's does when the server takes longer
// than the store timeout, while its health check is fine.
type slowStore struct{ *inMemory }

func (slowStore) List(context.Context, event.Filter, event.Page) ([]event.Record, error) {
	return nil, fmt.Errorf("jsstore: list: %w: %w", ports.ErrUnavailable, context.DeadlineExceeded)
}

// TestSlowReadPage: a page whose read runs out of time while the store
// answers its health check is a 504 that says the store is up, as the
// API's, not a 503 "store unavailable".
func TestSlowReadPage(t *testing.T) {
	mem := memstore.New()
	require.NoError(t, mem.Store(t.Context(), event.New("job-1", event.TypeEnqueued)))
	store := slowStore{mem}
	d, err := dashboard.New(store, dashboardtest.ScanReader{Store: mem})
	require.NoError(t, err)
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/jobs/job-1")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	assert.Contains(t, string(body), "the store is up but the read did not finish in time")
	assert.NotContains(t, string(body), "store unavailable")
}
