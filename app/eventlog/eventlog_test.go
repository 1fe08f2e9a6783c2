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
	"github.com/naq-go/events/domain/logger"
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

// pipelining stores every batch and records the order of sends and waits.
type pipelining struct {
	steps []string
}

func (p *pipelining) StoreBatch(context.Context, []event.JobEvent) error { return nil }

func (p *pipelining) SendBatch(_ context.Context, evs []event.JobEvent, chained, _ bool) func() error {
	p.steps = append(p.steps, "send "+evs[0].JobID)
	return func() error {
		p.steps = append(p.steps, "wait "+evs[0].JobID)
		if evs[0].JobID == "bad" {
			return errors.New("lost")
		}
		return nil
	}
}

// TestTimedForwardsPipelining: Timed over a logger.Pipeliner is one too
// (the logger keeps its second call in flight through the decorator), and
// each pipelined batch is observed once, when its wait returns, timed from
// its send; over a plain store it is not a Pipeliner.
func TestTimedForwardsPipelining(t *testing.T) {
	clock := time.Unix(0, 0)
	rec := &recorder{}
	inner := &pipelining{}
	ts := Timed(inner, rec)
	ts.(interface{ setNow(func() time.Time) }).setNow(func() time.Time { clock = clock.Add(time.Millisecond); return clock })
	p, ok := ts.(logger.Pipeliner)
	require.True(t, ok, "Timed over a Pipeliner must forward SendBatch")
	ctx := context.Background()
	w1 := p.SendBatch(ctx, []event.JobEvent{event.Enqueued("a", "q", 1)}, false, true)
	w2 := p.SendBatch(ctx, []event.JobEvent{event.Enqueued("bad", "q", 1), event.Enqueued("b", "q", 1)}, true, false)
	assert.Empty(t, rec.calls, "nothing is observed before its wait")
	require.NoError(t, w1())
	require.EqualError(t, w2(), "lost")
	assert.Equal(t, []string{"send a", "send bad", "wait a", "wait bad"}, inner.steps)
	require.Len(t, rec.calls, 2)
	assert.Equal(t, observed{1, 2 * time.Millisecond, nil}, rec.calls[0]) // send at 1 ms, wait ended at 3 ms
	assert.Equal(t, 2, rec.calls[1].n)
	assert.EqualError(t, rec.calls[1].err, "lost")

	plain := memstore.New()
	t.Cleanup(func() { assert.NoError(t, plain.Close()) })
	_, ok = Timed(plain, rec).(logger.Pipeliner)
	assert.False(t, ok, "over a store that does not pipeline, Timed must not claim to")
}
