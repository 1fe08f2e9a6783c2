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

	"github.com/naq-go/events/domain/event"
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
		assert.InDelta(t, 50, *got.Duration.P50, 1e-9)
		assert.InDelta(t, 90, *got.Duration.P90, 1e-9)
		assert.InDelta(t, 100, *got.Duration.P99, 1e-9)
		assert.Equal(t, "1h0m0s", got.Window)
	})
	t.Run("readable, sorted by count", func(t *testing.T) {
		r := ts.run(t, "", "stats", "--queue", "q1")
		require.Equal(t, exitOK, r.code, r.stderr)
		out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, out, 6, r.stdout)
		assert.True(t, strings.HasPrefix(out[0], "18 events in the last 1h0m0s"), out[0])
		assert.Regexp(t, `^  completed\s+10$`, out[1])
		assert.Regexp(t, `^  failed\s+5$`, out[2])
		assert.Regexp(t, `^  enqueued\s+3$`, out[3])
		assert.Equal(t, "failure rate  33.3% (5 failed, 10 completed)", out[4])
		assert.Equal(t, "duration      p50 50.0ms  p90 90.0ms  p99 100.0ms  (10 completed events)", out[5])
	})
	t.Run("narrow window and type filter", func(t *testing.T) {
		r := ts.run(t, "", "stats", "--json", "--window", "5m30s", "--type", "completed")
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
