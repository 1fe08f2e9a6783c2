package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/jsrollup"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/rollups"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

func TestStats(t *testing.T) {
	ts := startServer(t)
	now := time.Now()
	var lines []string
	add := func(ev event.JobEvent) { lines = append(lines, jsonLine(t, ev)) }
	// Ten completed runs of 10, 20, … 100 ms, five failures, three
	// enqueued, on queue q1 — and outside the window or the filter: an
	// old completed run and one on queue q2.
	for i := 1; i <= 10; i++ {
		add(event.Completed(fmt.Sprintf("s%d", i), "w", time.Duration(i*10)*time.Millisecond,
			event.WithQueue("q1"), event.WithTimestamp(now.Add(-time.Duration(i)*time.Minute))))
	}
	for i := 1; i <= 5; i++ {
		add(event.Failed(fmt.Sprintf("s%d", i), "w", errors.New("x"), time.Second, 0,
			event.WithQueue("q1"), event.WithTimestamp(now.Add(-time.Minute))))
	}
	for i := 1; i <= 3; i++ {
		add(event.Enqueued(fmt.Sprintf("s%d", i), "q1", 0, event.WithTimestamp(now.Add(-30*time.Minute))))
	}
	add(event.Completed("old", "w", time.Hour, event.WithQueue("q1"), event.WithTimestamp(now.Add(-2*time.Hour))))
	add(event.Completed("other", "w", time.Hour, event.WithQueue("q2"), event.WithTimestamp(now.Add(-time.Minute))))
	r := ts.run(t, strings.Join(lines, "\n"), "log", "-")
	require.Equal(t, exitOK, r.code, r.stderr)

	t.Run("json", func(t *testing.T) {
		r := ts.run(t, "", "stats", "--json", "--queue", "q1", "--window", "1h")
		require.Equal(t, exitOK, r.code, r.stderr)
		var got statsResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		assert.Equal(t, 18, got.Total)
		assert.Equal(t, map[string]int{"completed": 10, "failed": 5, "enqueued": 3}, got.ByType)
		assert.Equal(t, 10, got.Completed)
		assert.Equal(t, 5, got.Failed)
		require.NotNil(t, got.FailureRate)
		assert.InDelta(t, 5.0/15, *got.FailureRate, 1e-9)
		assert.Equal(t, 10, got.Duration.Count)
		require.NotNil(t, got.Duration.P50)
		// From the sketch: within its relative error of the exact
		// nearest-rank percentiles 50, 100, 100.
		assert.InEpsilon(t, 50, *got.Duration.P50, 0.01)
		assert.InEpsilon(t, 100, *got.Duration.P95, 0.01)
		assert.InEpsilon(t, 100, *got.Duration.P99, 0.01)
		assert.InDelta(t, 0.01, got.Duration.RelativeError, 1e-12)
		assert.Equal(t, "1h0m0s", got.Window)
		assert.Equal(t, "stream", got.Source, "no serve runs: computed from the stream")
		assert.EqualValues(t, 20, got.Seq)
		assert.Zero(t, got.Since.Second(), "the window is widened to whole minutes")
		assert.Contains(t, r.stderr, "no rollups on this server")
	})
	t.Run("readable, sorted by count", func(t *testing.T) {
		r := ts.run(t, "", "stats", "--queue", "q1")
		require.Equal(t, exitOK, r.code, r.stderr)
		out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, out, 6, r.stdout)
		assert.True(t, strings.HasPrefix(out[0], "18 events in the last 1h0m0s"), out[0])
		assert.True(t, strings.HasSuffix(out[0], "from the stream, through sequence 20"), out[0])
		assert.Regexp(t, `^  completed\s+10$`, out[1])
		assert.Regexp(t, `^  failed\s+5$`, out[2])
		assert.Regexp(t, `^  enqueued\s+3$`, out[3])
		assert.Equal(t, "failure rate  33.3% (5 failed, 10 completed)", out[4])
		assert.Regexp(t, `^duration      p50 (49|50)\.\dms  p95 100\.0ms  p99 100\.0ms  \(10 completed events, ±1%\)$`, out[5])
	})
	t.Run("narrow window and type filter", func(t *testing.T) {
		// 5m from now widened to the minute: s1…s5 are in it, s6 (6
		// minutes ago) is not.
		r := ts.run(t, "", "stats", "--json", "--window", "5m", "--type", "completed")
		require.Equal(t, exitOK, r.code, r.stderr)
		var got statsResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		// s1…s5 (1 to 5 minutes ago) and "other".
		assert.Equal(t, map[string]int{"completed": 6}, got.ByType)
		require.NotNil(t, got.FailureRate)
		assert.Zero(t, *got.FailureRate)
	})
	t.Run("nothing in the window", func(t *testing.T) {
		r := ts.run(t, "", "stats", "--json", "--job", "none")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, `"failure_rate": null`)
		assert.Contains(t, r.stdout, `"p50": null`)
		r = ts.run(t, "", "stats", "--job", "none")
		assert.Contains(t, r.stdout, "failure rate  n/a")
	})
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		values []float64
		p      float64
		want   float64
	}{
		{[]float64{7}, 50, 7},
		{[]float64{7}, 99, 7},
		{[]float64{1, 2}, 50, 1},
		{[]float64{1, 2}, 90, 2},
		{[]float64{1, 2, 3, 4}, 50, 2},
		{[]float64{1, 2, 3, 4}, 99, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.values, tt.p), func(t *testing.T) {
			got := percentile(tt.values, tt.p)
			require.NotNil(t, got)
			assert.InDelta(t, tt.want, *got, 1e-9)
		})
	}
	assert.Nil(t, percentile(nil, 50))
}

// TestStatsFromServiceRollups: with the rollups serve keeps in their
// bucket, stats reads them (source "rollups") instead of the events,
// brings them up to the stream and follows a purge made behind their back.
func TestStatsFromServiceRollups(t *testing.T) {
	ts := startServer(t)
	ctx := t.Context()
	now := time.Now()
	var evs []event.JobEvent
	for i := range 50 {
		job := fmt.Sprintf("r%d", i)
		evs = append(evs,
			event.Enqueued(job, "q1", 0, event.WithTimestamp(now.Add(-10*time.Minute))),
			event.Completed(job, "w", time.Duration(i+1)*time.Millisecond, event.WithQueue("q1"), event.WithTimestamp(now.Add(-9*time.Minute))))
	}
	require.NoError(t, ts.store.StoreBatch(ctx, evs))

	// The service's keeper, as serve runs it, saves the rollups.
	stream := config.Default().Stream.Name
	log, err := jsrollup.NewLog(ctx, ts.nc, stream)
	require.NoError(t, err)
	state, err := jsrollup.NewState(ctx, ts.nc, true, jsrollup.WithBucket(rollups.Bucket(stream)))
	require.NoError(t, err)
	k := rollups.New(log, state, rollups.WithFreshWait(time.Minute))
	require.NoError(t, k.Start(ctx))
	s, err := k.Summary(ctx, rollup.Query{})
	require.NoError(t, err)
	require.EqualValues(t, 100, s.Total)
	require.NoError(t, k.Stop(ctx))

	// Behind the rollups' back: one more job, and a purge.
	require.NoError(t, ts.store.StoreBatch(ctx, []event.JobEvent{event.Enqueued("late", "q1", 0)}))
	n, err := ts.store.DeleteJob(ctx, "r7")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	r := ts.run(t, "", "stats", "--json", "--all")
	require.Equal(t, exitOK, r.code, r.stderr)
	var got statsResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, "rollups", got.Source)
	assert.Equal(t, "all", got.Window)
	assert.Equal(t, 99, got.Total, "100 stored, 1 late, 2 purged")
	assert.Equal(t, map[string]int{"enqueued": 50, "completed": 49}, got.ByType)
	assert.Equal(t, 49, got.Duration.Count)
	assert.Empty(t, r.stderr)

	// Workers are not in the rollups: their events are read.
	r = ts.run(t, "", "stats", "--json", "--all", "--worker", "w")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, "events", got.Source)
	assert.Equal(t, 49, got.Total)
	assert.Zero(t, got.Duration.RelativeError, "percentiles read from events are exact")
}
