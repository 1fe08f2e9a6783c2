package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/processing"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/processor"
)

// TestConsumerRecreationMetrics deletes the service's durable under its
// running processor: the scrape shows the ack floor read before, one
// re-creation and a restart, and the processor handles only the new events
// afterwards (the re-created consumer resumes after the floor).
func TestConsumerRecreationMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sp := newStreamProcessor(ctx, t)
	p, cfg, storeN := sp.p, sp.cfg, sp.storeN
	m := New()
	m.Processor(p, nil, nil)
	storeN(0, 10)
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { _ = p.Stop(context.Background()) })

	out := scrapeUntil(t, m, func(out string) bool { return seriesIs(out, "naq_events_processor_consumer_ack_floor", 10) })
	require.InDelta(t, 10.0, value(t, out, "naq_events_processor_consumer_ack_floor"), 0)
	assert.InDelta(t, 0.0, value(t, out, "naq_events_processor_consumer_recreations_total"), 0)

	js, err := jetstream.New(sp.nc)
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(ctx, cfg.Stream.Name, processing.Durable))
	out = scrapeUntil(t, m, func(out string) bool { return seriesIs(out, "naq_events_processor_consumer_recreations_total", 1) })
	require.InDelta(t, 1.0, value(t, out, "naq_events_processor_consumer_recreations_total"), 0)
	assert.GreaterOrEqual(t, value(t, out, "naq_events_processor_consumer_restarts_total"), 1.0)

	storeN(100, 5)
	out = scrapeUntil(t, m, func(out string) bool { return seriesIs(out, "naq_events_processor_consumer_ack_floor", 15) })
	assert.InDelta(t, 15.0, value(t, out, "naq_events_processor_consumer_ack_floor"), 0)
	assert.InDelta(t, 15.0, value(t, out, "naq_events_processor_handled_total"), 0, "the 10 events acked before the loss are not handled again")
}

// streamProcessor is the service's processor (processing.New, not started)
// on an embedded NATS server holding the service's stream; storeN stores
// n Enqueued events of jobs job-<from> on.
type streamProcessor struct {
	nc     *nats.Conn
	cfg    config.Config
	p      *processor.Processor
	storeN func(from, n int)
}

func newStreamProcessor(ctx context.Context, t *testing.T) streamProcessor {
	t.Helper()
	_, nc := natsembedtest.Connect(t)
	cfg := config.Default()
	store, err := jsstore.New(ctx, nc, jsstore.WithStream(cfg.Stream.Name))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	p, err := processing.New(ctx, nc, cfg, new(processing.TypeCounts), slog.Default())
	require.NoError(t, err)
	storeN := func(from, n int) {
		evs := make([]event.JobEvent, n)
		for i := range evs {
			evs[i] = event.Enqueued(fmt.Sprintf("job-%d", from+i), "q", 1)
		}
		require.NoError(t, store.StoreBatch(ctx, evs))
	}
	return streamProcessor{nc: nc, cfg: cfg, p: p, storeN: storeN}
}
