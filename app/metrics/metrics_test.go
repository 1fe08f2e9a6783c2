package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestObserveBatch(t *testing.T) {
	m := New()
	evs := []event.JobEvent{event.Enqueued("a", "q", 1), event.Started("a", "w", "t"), event.Enqueued("b", "q", 1)}
	m.ObserveBatch(evs, 2*time.Millisecond, nil)
	m.ObserveBatch(evs, time.Second, &logger.BatchError{Errs: []error{nil, errors.New("x"), errors.New("y")}})
	m.ObserveBatch(evs[:1], time.Second, errors.New("down"))
	m.TypeCounts(func() map[event.JobEventType]uint64 { return map[event.JobEventType]uint64{event.TypeCompleted: 4} })

	out := scrape(t, m)
	assert.Contains(t, out, `naq_events_stored_total{type="enqueued"} 3`)
	assert.Contains(t, out, `naq_events_stored_total{type="started"} 1`)
	assert.Contains(t, out, `naq_events_logger_flush_duration_seconds_count{result="ok"} 1`)
	assert.Contains(t, out, `naq_events_logger_flush_duration_seconds_count{result="error"} 2`)
	assert.Contains(t, out, `naq_events_logger_batch_events_sum 7`)
	assert.Contains(t, out, `naq_events_processed_total{type="completed"} 4`)
	assert.Contains(t, out, "go_goroutines")
}
