package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

// stallStore never acknowledges: it waits for ctx (a pure-logic stand-in;
// the logger's behaviour against a real server is tested in test/loggerjs).
type stallStore struct{ called chan struct{} }

func (s stallStore) StoreBatch(ctx context.Context, _ []event.JobEvent) error {
	select {
	case s.called <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestLoggerOutcomeUnknownMetric: an event sent and never acknowledged
// when Close gives up is exported as outcome unknown, not as dropped.
func TestLoggerOutcomeUnknownMetric(t *testing.T) {
	s := stallStore{called: make(chan struct{}, 1)}
	l := logger.New(s, logger.WithStoreTimeout(time.Hour))
	m := New()
	m.Logger(l)
	require.NoError(t, l.Log(event.Enqueued("job-1", "q", 0)))
	<-s.called
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Close(ctx), logger.ErrOutcomeUnknown)
	out := scrape(t, m)
	assert.Contains(t, out, "naq_events_logger_outcome_unknown_total 1")
	assert.Contains(t, out, `naq_events_logger_dropped_total{reason="closed"} 0`)
}
