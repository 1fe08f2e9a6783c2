package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/memstore"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

// statsFixture: a memory store with 30 events, and rollups fed with the
// same 30 events plus 5 the store does not hold, so that an answer says
// where it came from.
func statsFixture(t *testing.T) (*fixture, time.Time) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute)
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	r := rollup.New()
	var evs []event.JobEvent
	for i := range 35 {
		job := fmt.Sprintf("j%d", i)
		at := event.WithTimestamp(t0.Add(time.Duration(i) * time.Minute))
		if i%3 == 0 {
			evs = append(evs, event.Failed(job, "w", fmt.Errorf("timeout after %d ms", i), time.Duration(i)*time.Millisecond, 0, event.WithQueue("q1"), at))
		} else {
			evs = append(evs, event.Completed(job, "w", time.Duration(i)*time.Millisecond, event.WithQueue("q1"), at))
		}
	}
	require.NoError(t, store.StoreBatch(t.Context(), evs[:30]))
	for i := range evs {
		r.Apply(uint64(i+1), "dev", "naq", &evs[i])
	}
	return newFixture(t, store, WithRollups(r)), t0
}

func TestStatsRoute(t *testing.T) {
	f, t0 := statsFixture(t)
	var body statsBody
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/stats?queue=q1", "", &body))
	assert.EqualValues(t, 35, body.Total)
	assert.Equal(t, map[string]int64{"completed": 23, "failed": 12}, body.Counts)
	assert.InDelta(t, 12.0/35, body.FailureRate, 1e-9)
	assert.EqualValues(t, 35, body.Seq)
	assert.True(t, body.Exact)
	require.Len(t, body.Failures, 1)
	assert.Equal(t, "timeout after # ms", body.Failures[0].Message)
	assert.Len(t, body.Failures[0].Spark, len(body.Series))
	assert.EqualValues(t, 35, body.DurationsMS[""].Count)
	assert.Equal(t, body.DurationsMS[""], body.DurationsMS["q1"])

	since := url.QueryEscape(t0.Add(10 * time.Minute).Format(time.RFC3339))
	body = statsBody{}
	require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/stats?type=failed&since="+since, "", &body))
	assert.Equal(t, map[string]int64{"failed": 8}, body.Counts, "failures at minutes 12, 15, … 33")

	var e errorBody
	assert.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/api/v1/stats?job=j1", "", &e))
	assert.Contains(t, e.Error, `unknown parameter "job"`)
	assert.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/api/v1/stats?window=soon", "", &e))
	assert.Contains(t, e.Error, "window")
	assert.Equal(t, http.StatusBadRequest, f.do(t, "GET", "/api/v1/stats?window=1h&since="+since, "", &e))

	bare := newFixture(t, f.store)
	assert.Equal(t, http.StatusServiceUnavailable, bare.do(t, "GET", "/api/v1/stats", "", &e))
	assert.Contains(t, e.Error, "rollups are not enabled")
}

// TestCountFromRollups: a filter the rollups cover is answered by them
// (35: they hold 5 events the store does not); one they do not cover —
// a job, a worker, a bound inside a minute — by the store (30 or fewer).
func TestCountFromRollups(t *testing.T) {
	f, t0 := statsFixture(t)
	count := func(q string) int {
		var body map[string]int
		require.Equal(t, http.StatusOK, f.do(t, "GET", "/api/v1/events/count?"+q, "", &body), q)
		return body["count"]
	}
	assert.Equal(t, 35, count("queue=q1"), "from the rollups")
	assert.Equal(t, 12, count("type=failed"), "from the rollups")
	assert.Equal(t, 30, count("queue=q1&worker=w"), "workers: from the store")
	assert.Equal(t, 1, count("job=j3"), "jobs: from the store")
	inside := url.QueryEscape(t0.Add(90 * time.Second).Format(time.RFC3339))
	assert.Equal(t, 28, count("since="+inside), "a bound inside a minute: from the store")
	aligned := url.QueryEscape(t0.Add(2 * time.Minute).Format(time.RFC3339))
	assert.Equal(t, 33, count("since="+aligned), "a bound on a minute: from the rollups")
}
