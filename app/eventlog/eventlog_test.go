package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/shutdown"
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

// pipeStore is a memstore that pipelines (each SendBatch stores at once)
// and counts its SendBatch calls. (The alias names the embedded field
// mem: a field named Store would hide ports.Store's method of that name.)
type pipeStore struct {
	*mem
	sends   atomic.Int64
	calls   atomic.Int64
	started chan struct{} // closed when the first StoreBatch starts
	hold    chan struct{} // the first StoreBatch waits for it
}

func (p *pipeStore) StoreBatch(ctx context.Context, evs []event.JobEvent) error {
	if p.calls.Add(1) == 1 {
		close(p.started)
		<-p.hold
	}
	return p.mem.StoreBatch(ctx, evs)
}

type mem = memstore.Store

func (p *pipeStore) SendBatch(ctx context.Context, evs []event.JobEvent, _, _ bool) func() error {
	p.sends.Add(1)
	err := p.mem.StoreBatch(ctx, evs)
	return func() error { return err }
}

type countObserver struct{ batches atomic.Int64 }

func (o *countObserver) ObserveBatch([]event.JobEvent, time.Duration, error) { o.batches.Add(1) }

// TestNewPipelinesThroughTheObserver: the service's logger (New, with a
// BatchObserver in the graph, as the metrics module puts one) pipelines
// over a store that can, by default, and keeps one call in flight with
// --pipeline-depth 1; every batch is observed either way.
func TestNewPipelinesThroughTheObserver(t *testing.T) {
	for _, tc := range []struct {
		depth     int
		pipelined bool
	}{{config.Default().Logger.PipelineDepth, true}, {1, false}} {
		t.Run(fmt.Sprint("depth ", tc.depth), func(t *testing.T) {
			cfg := config.Default()
			cfg.Storage = config.StorageMemory
			cfg.Logger.PipelineDepth = tc.depth
			st := &pipeStore{mem: memstore.New(), started: make(chan struct{}), hold: make(chan struct{})}
			t.Cleanup(func() { assert.NoError(t, st.Close()) })
			obs := &countObserver{}
			seq := shutdown.New(shutdown.Order, slog.New(slog.DiscardHandler))
			l, err := New(Params{Shutdown: seq, Config: cfg, Log: slog.New(slog.DiscardHandler), Store: st, Observer: obs})
			require.NoError(t, err)
			// A lone event goes out plain and holds the store; the burst
			// logged meanwhile is one batch of 5, pipelined by default.
			require.NoError(t, l.Log(event.Enqueued("job-lone", "q", 1)))
			<-st.started
			for i := range 5 {
				require.NoError(t, l.Log(event.Enqueued(fmt.Sprint("job-", i), "q", 1)))
			}
			close(st.hold)
			require.NoError(t, l.Close(t.Context()))
			assert.Equal(t, tc.pipelined, st.sends.Load() > 0, "SendBatch calls: %d", st.sends.Load())
			assert.EqualValues(t, 2, obs.batches.Load(), "every batch observed once")
			n, err := st.Count(t.Context(), event.Filter{})
			require.NoError(t, err)
			assert.Equal(t, 6, n)
		})
	}
}
