package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsstore"
	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/adapters/natsembed/natsembedtest"
	"github.com/naq-go/events/domain/event"
)

// TestCursorPages: each read's next_after, given back as after=, walks
// the whole result once, in list, type and job reads; a short last page
// has no next_after.
func TestCursorPages(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	var evs []event.JobEvent
	for i := range 25 {
		evs = append(evs, event.Enqueued(fmt.Sprintf("job-%d", i%2), "q", 1))
	}
	require.NoError(t, store.StoreBatch(t.Context(), evs))
	f := newFixture(t, store)

	walk := func(path string, page func(after uint64) ([]string, uint64)) []string {
		t.Helper()
		var all []string
		after := uint64(0)
		for range 30 {
			got, next := page(after)
			all = append(all, got...)
			if next == 0 {
				return all
			}
			assert.Len(t, got, 4, "%s: a page with next_after is full", path)
			after = next
		}
		t.Fatalf("%s: the cursor walk does not end", path)
		return nil
	}
	events := func(path string) func(uint64) ([]string, uint64) {
		return func(after uint64) ([]string, uint64) {
			var body pageBody
			require.Equal(t, http.StatusOK, f.do(t, "GET", fmt.Sprintf("%s?limit=4&after=%d", path, after), "", &body))
			assert.Equal(t, after, body.After)
			return ids(body.Events), body.NextAfter
		}
	}
	assert.Equal(t, idsOf(evs...), walk("types", events("/api/v1/types/enqueued/events")))
	var job1 []event.JobEvent
	for _, ev := range evs {
		if ev.JobID == "job-1" {
			job1 = append(job1, ev)
		}
	}
	assert.Equal(t, idsOf(job1...), walk("jobs", events("/api/v1/jobs/job-1/events")))
	list := walk("list", func(after uint64) ([]string, uint64) {
		var body listBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", fmt.Sprintf("/api/v1/events?limit=4&after=%d", after), "", &body))
		var out []string
		for _, r := range body.Records {
			ev, err := event.Decode(r.Event)
			require.NoError(t, err)
			out = append(out, ev.ID)
			assert.Greater(t, r.Seq, after)
		}
		if body.NextAfter != 0 {
			assert.Equal(t, body.Records[len(body.Records)-1].Seq, body.NextAfter)
		}
		return out, body.NextAfter
	})
	assert.Equal(t, idsOf(evs...), list)

	var body listBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events?after=3&before=7", "", &body))
	require.Len(t, body.Records, 3, "after and before are exclusive")
	assert.Equal(t, []uint64{4, 5, 6}, []uint64{body.Records[0].Seq, body.Records[1].Seq, body.Records[2].Seq})

	var e errorBody
	require.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/api/v1/events?after=-1", "", &e))
	assert.Contains(t, e.Error, "parameter after")
}

// TestHugeOffsetJetStream: an offset near math.MaxInt on the type route
// of a JetStream store is an empty page (it used to overflow offset+limit
// into a negative direct get batch and fail).
func TestHugeOffsetJetStream(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := jsstore.New(ctx, nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	require.NoError(t, store.StoreBatch(ctx, sampleEvents(t0)))
	f := newFixture(t, store)
	for _, q := range []string{
		fmt.Sprintf("offset=%d&limit=10", math.MaxInt),
		fmt.Sprintf("offset=%d&limit=%d", math.MaxInt-5, MaxLimit),
	} {
		var body pageBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/types/enqueued/events?"+q, "", &body), q)
		assert.Empty(t, body.Events, q)
		var list listBody
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events?"+q, "", &list), q)
		assert.Empty(t, list.Records, q)
	}
}

// TestOffsetBeyondBound: an offset past event.MaxOffset over more events
// is a 400 that names the cursor parameter and the sequence to use; that
// cursor gives the page the offset meant.
func TestOffsetBeyondBound(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	evs := make([]event.JobEvent, event.MaxOffset+10)
	for i := range evs {
		evs[i] = event.Enqueued(fmt.Sprintf("job-%d", i), "q", 1)
	}
	require.NoError(t, store.StoreBatch(t.Context(), evs))
	f := newFixture(t, store)

	var e errorBody
	require.Equal(t, http.StatusBadRequest, f.do(t, "GET", fmt.Sprintf("/api/v1/events?offset=%d&limit=2", event.MaxOffset+3), "", &e))
	assert.Contains(t, e.Error, fmt.Sprintf("after=%d", event.MaxOffset))
	assert.Contains(t, e.Error, "offset=3")
	var body listBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", fmt.Sprintf("/api/v1/events?after=%d&offset=3&limit=2", event.MaxOffset), "", &body))
	require.Len(t, body.Records, 2)
	assert.Equal(t, uint64(event.MaxOffset+4), body.Records[0].Seq, "the page offset=%d meant", event.MaxOffset+3)
	require.Equal(t, http.StatusBadRequest, f.do(t, "GET", fmt.Sprintf("/api/v1/types/enqueued/events?offset=%d", event.MaxOffset+1), "", &e))
	assert.Contains(t, e.Error, "after=")
}

// TestScanBound: on a JetStream store, a queue filter over more events
// than the store's scan bound is refused at once with a 422 saying what to
// add, not a 503 after the read timed out; with a type or a time window
// narrowing it below the bound it is answered.
func TestScanBound(t *testing.T) {
	_, nc := natsembedtest.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := jsstore.New(ctx, nc, jsstore.WithMaxScan(20))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	var evs []event.JobEvent
	for i := range 30 {
		evs = append(evs, event.Enqueued(fmt.Sprintf("job-%d", i), "bench", 1))
	}
	evs = append(evs, event.Started("job-0", "w1", "thread", event.WithQueue("bench")))
	require.NoError(t, store.StoreBatch(ctx, evs))
	f := newFixture(t, store)

	for _, path := range []string{"/api/v1/events/count?queue=bench", "/api/v1/events?queue=bench"} {
		var e errorBody
		start := time.Now()
		require.Equal(t, http.StatusUnprocessableEntity, f.do(t, "GET", path, "", &e), path)
		assert.Less(t, time.Since(start), time.Second, "%s: refused at once", path)
		assert.Contains(t, e.Error, "queue filter over 31 events without a time window (the bound is 20): add since=", path)
		assert.Contains(t, e.Error, "add since=", path)
		assert.Contains(t, e.Error, "type=", path)
		assert.NotContains(t, e.Error, "unavailable", path)
	}
	var n map[string]int
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events/count?queue=bench&type=started", "", &n))
	assert.Equal(t, 1, n["count"])
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events/count?queue=bench&since="+time.Now().Add(time.Hour).Format(time.RFC3339), "", &n))
	assert.Equal(t, 0, n["count"])
}

// TestJobAcrossServices: a job read without environment or service finds
// the job wherever it is and says where; a job id under several services
// is a 409 listing them; naming one reads it.
func TestJobAcrossServices(t *testing.T) {
	b := memstore.NewBackend()
	own := memstore.New(memstore.WithBackend(b))
	py := memstore.New(memstore.WithBackend(b), memstore.WithService("myservice"))
	prod := memstore.New(memstore.WithBackend(b), memstore.WithEnvironment("prod"))
	for _, s := range []*memstore.Store{own, py, prod} {
		t.Cleanup(func() { _ = s.Close() })
	}
	ctx := t.Context()
	pyEvents := []event.JobEvent{event.Enqueued("py-1", "default", 1), event.Started("py-1", "w", "process")}
	require.NoError(t, py.StoreBatch(ctx, pyEvents))
	require.NoError(t, own.Store(ctx, event.Enqueued("both", "q", 1)))
	require.NoError(t, prod.Store(ctx, event.Enqueued("both", "q", 1)))
	f := newFixture(t, own)

	var body pageBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/py-1/events", "", &body))
	assert.Equal(t, idsOf(pyEvents...), ids(body.Events))
	assert.Equal(t, "dev", body.Environment)
	assert.Equal(t, "myservice", body.Service)

	var amb ambiguousBody
	require.Equal(t, http.StatusConflict, f.do(t, "GET", "/api/v1/jobs/both/events", "", &amb))
	assert.Contains(t, amb.Error, "environment= and service=")
	assert.Equal(t, []candidateBody{{"dev", "naq", 1}, {"prod", "naq", 1}}, amb.Candidates)

	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/both/events?environment=prod", "", &body))
	assert.Equal(t, "prod", body.Environment)
	assert.Len(t, body.Events, 1)
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/py-1/events?service=naq", "", &body))
	assert.Empty(t, body.Events, "py-1 is not under service naq")
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/jobs/nobody/events", "", &body))
	assert.Empty(t, body.Events)
}
