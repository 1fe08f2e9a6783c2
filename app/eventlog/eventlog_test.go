package eventlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
)

type observed struct {
	n    int
	took time.Duration
	err  error
}

type recorder struct{ calls []observed }

func (r *recorder) ObserveBatch(evs []event.JobEvent, took time.Duration, err error) {
	r.calls = append(r.calls, observed{len(evs), took, err})
}

// failing fails every batch.
type failing struct{}

func (failing) StoreBatch(context.Context, []event.JobEvent) error { return errors.New("down") }

func TestTimedStore(t *testing.T) {
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(3 * time.Millisecond); return clock }
	rec := &recorder{}
	store := memstore.New()
	t.Cleanup(func() { assert.NoError(t, store.Close()) })

	ts := &TimedStore{Store: store, Observer: rec, now: now}
	require.NoError(t, ts.StoreBatch(context.Background(), []event.JobEvent{event.Enqueued("a", "q", 1), event.Enqueued("b", "q", 1)}))
	bad := &TimedStore{Store: failing{}, Observer: rec, now: now}
	assert.EqualError(t, bad.StoreBatch(context.Background(), []event.JobEvent{event.Enqueued("c", "q", 1)}), "down")

	require.Len(t, rec.calls, 2)
	assert.Equal(t, observed{2, 3 * time.Millisecond, nil}, rec.calls[0])
	assert.Equal(t, 1, rec.calls[1].n)
	assert.EqualError(t, rec.calls[1].err, "down")
	n, err := store.Count(context.Background(), event.Filter{})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the decorator stores through")
}
