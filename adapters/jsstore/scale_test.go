package jsstore_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// TestScanBound: a List or Count whose filter the subjects cannot select
// (queue, worker; for Count a time window too) over more messages than
// WithMaxScan is refused before anything is read, with a *ports.ScanError
// saying what to add; narrowed by type, job or window below the bound it
// is answered.
func TestScanBound(t *testing.T) {
	f := setup(t, jsstore.WithMaxScan(10))
	ctx := t.Context()
	var evs []event.JobEvent
	for i := range 20 {
		evs = append(evs, event.Enqueued(fmt.Sprintf("job%d", i), "q", 1))
	}
	evs = append(evs, event.Started("job0", "w", "thread", event.WithQueue("q")))
	require.NoError(t, f.st.StoreBatch(ctx, evs))

	check := func(what string, err error, noWindow bool) {
		t.Helper()
		require.ErrorIs(t, err, ports.ErrScanBound, what)
		se, ok := errors.AsType[*ports.ScanError](err)
		require.True(t, ok, "%s: %v is not a *ports.ScanError", what, err)
		assert.Equal(t, uint64(21), se.Estimate, what)
		assert.Equal(t, 10, se.Bound, what)
		assert.Equal(t, noWindow, se.NoWindow, what)
		assert.Contains(t, se.Fix, "type=", what)
	}
	_, err := f.st.List(ctx, event.Filter{Queue: "q"}, event.Page{Limit: 5})
	check("List by queue", err, true)
	assert.Contains(t, err.Error(), "queue filter over 21 events without a time window (the bound is 10): add since= or type= or job=")
	_, err = f.st.Count(ctx, event.Filter{Worker: "w"})
	check("Count by worker", err, true)
	_, err = f.st.Count(ctx, event.Filter{Since: time.Now().Add(-time.Hour)})
	check("Count of a window holding everything", err, false)

	n, err := f.st.Count(ctx, event.Filter{Queue: "q", Types: []event.JobEventType{event.TypeStarted}})
	require.NoError(t, err, "narrowed by type")
	assert.Equal(t, 1, n)
	n, err = f.st.Count(ctx, event.Filter{Queue: "q", Since: time.Now().Add(time.Hour)})
	require.NoError(t, err, "narrowed by a window after the last event")
	assert.Zero(t, n)
	recs, err := f.st.List(ctx, event.Filter{Environment: "dev", Service: "naq", JobID: "job0", Queue: "q"}, event.Page{})
	require.NoError(t, err, "narrowed by job")
	assert.Len(t, recs, 2)
	n, err = f.st.Count(ctx, event.Filter{})
	require.NoError(t, err, "a count from the subject index is never refused")
	assert.Equal(t, 21, n)

	unbounded := newStore(t, f.nc, jsstore.WithMaxScan(0))
	n, err = unbounded.Count(ctx, event.Filter{Queue: "q"})
	require.NoError(t, err, "WithMaxScan(0): no bound")
	assert.Equal(t, 21, n)
}

// TestMaxLateness: without WithMaxLateness a read bounded by Until reads
// on to the end of the stream and finds an event stored long after its
// time; with it, the read stops at Until plus the skew and the lateness,
// as documented.
func TestMaxLateness(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	late := event.Enqueued("late", "q", 1, event.WithTimestamp(time.Now().Add(-time.Hour)))
	require.NoError(t, f.st.Store(ctx, late))
	window := event.Filter{Until: time.Now().Add(-30 * time.Minute)}

	recs, err := f.st.List(ctx, window, event.Page{})
	require.NoError(t, err)
	require.Len(t, recs, 1, "the late event is found")
	assert.Equal(t, late.ID, recs[0].Event.ID)

	bounded := newStore(t, f.nc, jsstore.WithClockSkew(0), jsstore.WithMaxLateness(time.Second))
	recs, err = bounded.List(ctx, window, event.Page{})
	require.NoError(t, err)
	assert.Empty(t, recs, "stored more than the lateness after Until: not read")
}

// TestKeepIndexWarm: the warm passes run (one right away, then every
// interval) and reads go on meanwhile.
func TestKeepIndexWarm(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	var evs []event.JobEvent
	for i := range 300 {
		evs = append(evs, event.Enqueued(fmt.Sprintf("job%d", i%30), "q", 1, event.WithDetail("pad", fmt.Sprintf("%0500d", i))))
	}
	require.NoError(t, f.st.StoreBatch(ctx, evs))
	f.st.KeepIndexWarm(20 * time.Millisecond)
	f.st.KeepIndexWarm(time.Millisecond) // no second loop
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, took := f.st.IndexWarmups(); n >= 3 {
			assert.Positive(t, took)
			break
		}
		require.True(t, time.Now().Before(deadline), "fewer than 3 warm passes in 10 s")
		runtime.Gosched()
	}
	got, err := f.st.Job(ctx, "job7", event.Page{})
	require.NoError(t, err)
	assert.Len(t, got, 10)
}

// TestDeleteService: one purge removes every event of the store's own
// environment and service, and nothing of another service.
func TestDeleteService(t *testing.T) {
	f := setup(t, jsstore.WithService("bench-x1"))
	other := newStore(t, f.nc, jsstore.WithService("keep"))
	ctx := t.Context()
	var evs []event.JobEvent
	for i := range 50 {
		evs = append(evs, event.Enqueued(fmt.Sprintf("job%d", i), "q", 1))
	}
	require.NoError(t, f.st.StoreBatch(ctx, evs))
	require.NoError(t, other.StoreBatch(ctx, events("job1", 3)))
	n, err := f.st.DeleteService(ctx)
	require.NoError(t, err)
	assert.Equal(t, 50, n)
	left, err := f.st.Count(ctx, event.Filter{Environment: "dev", Service: "bench-x1"})
	require.NoError(t, err)
	assert.Zero(t, left)
	kept, err := f.st.Count(ctx, event.Filter{Service: "keep"})
	require.NoError(t, err)
	assert.Equal(t, 3, kept)
}
