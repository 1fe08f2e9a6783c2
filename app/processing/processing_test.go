package processing

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/domain/event"
)

// TestProcessorStop: the stop step of the processor has nothing to do for a
// processor that never started (fx undoing a failed start), and for a
// running one returns once it has stopped, after it handled what was stored.
func TestProcessorStop(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg := config.Default()
	store, err := jsstore.New(ctx, nc, jsstore.WithStream(cfg.Stream.Name))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, store.Close()) })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	never, err := New(ctx, nc, cfg, new(TypeCounts), quiet)
	require.NoError(t, err)
	require.NoError(t, processorStop(never)(ctx), "a processor that never started")

	counts := new(TypeCounts)
	p, err := New(ctx, nc, cfg, counts, quiet)
	require.NoError(t, err)
	require.NoError(t, p.Start(ctx))
	require.NoError(t, store.StoreBatch(ctx, []event.JobEvent{event.Enqueued("j-1", "q", 1), event.Started("j-1", "w", "worker")}))
	require.Eventually(t, func() bool { return counts.Snapshot()[event.TypeStarted] == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, processorStop(p)(ctx))
	select {
	case <-p.Done():
	default:
		t.Fatal("processorStop returned before the processor was done")
	}
	assert.Equal(t, uint64(1), counts.Snapshot()[event.TypeEnqueued])
}
