package main

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

func TestBench(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		name   string
		args   []string
		events int
		kept   int
	}{
		{"purged", []string{"--events", "600", "--producers", "3", "--jobs", "7", "--size", "100"}, 600, 0},
		{"kept", []string{"--events", "250", "--producers", "1", "--jobs", "1", "--keep"}, 250, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.run(t, "", append([]string{"bench"}, tt.args...)...)
			require.Equal(t, exitOK, r.code, r.stderr)
			line := requireOneLine(t, r.stdout)
			n := strconv.Itoa(tt.events)
			assert.Regexp(t, `^bench: `+n+` events of \d+ B padding by \d+ producers in \S+: \d+ events/s; stored `+n+` \(counted in the stream\); logger: logged `+n+` stored `+n+` dropped 0 `, line)
			if tt.kept == 0 {
				assert.Contains(t, r.stderr, "purged the "+n+" bench events")
			}
			stored, err := ts.store.Count(t.Context(), event.Filter{Types: []event.JobEventType{event.TypeStarted, event.TypeEnqueued, event.TypeCompleted}})
			require.NoError(t, err)
			assert.Equal(t, tt.kept, stored)
			if tt.kept > 0 {
				job := regexp.MustCompile(`bench-[0-9a-z]+-00000`)
				evs, err := ts.store.List(t.Context(), event.Filter{Queue: "bench"}, event.Page{Limit: 1})
				require.NoError(t, err)
				require.Len(t, evs, 1)
				assert.Regexp(t, job, evs[0].Event.JobID)
			}
		})
	}
	t.Run("duration", func(t *testing.T) {
		r := ts.run(t, "", "bench", "--duration", "300ms", "--producers", "2")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "dropped 0")
	})
}
