package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

func TestHistory(t *testing.T) {
	ts := startServer(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	// Stored out of time order: the timeline is in event time.
	evs := []event.JobEvent{
		event.Enqueued("h1", "emails", 3, event.WithTimestamp(t0)),
		event.Completed("h1", "w-2", 1200*time.Millisecond, event.WithTimestamp(t0.Add(2*time.Second))),
		event.Started("h1", "w-2", "async", event.WithTimestamp(t0.Add(500*time.Millisecond))),
		event.Failed("h2", "w-9", nil, time.Second, 0, event.WithTimestamp(t0)),
	}
	var lines []string
	for _, ev := range evs {
		lines = append(lines, jsonLine(t, ev))
	}
	require.Equal(t, exitOK, ts.run(t, strings.Join(lines, "\n"), "log", "-").code)

	t.Run("readable", func(t *testing.T) {
		r := ts.run(t, "", "history", "h1")
		require.Equal(t, exitOK, r.code, r.stderr)
		out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, out, 6, r.stdout)
		assert.Equal(t, "job h1 (dev/naq): 3 events", out[0])
		assert.Regexp(t, `^TIME\s+TYPE\s+\+Δ\s+WORKER\s+DURATION  MESSAGE$`, out[1])
		assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  enqueued\s+Job enqueued to 'emails' with priority 3$`, out[2])
		assert.Regexp(t, `  started\s+\+500ms\s+w-2\s+Job started on async worker w-2$`, out[3])
		assert.Regexp(t, `  completed\s+\+1\.5s\s+w-2\s+1\.20s  Job completed successfully in 1200.00ms$`, out[4])
		assert.Equal(t, "total span 2s, from "+t0.Local().Format("15:04:05.000")+" to "+t0.Add(2*time.Second).Local().Format("15:04:05.000"), out[5])
		assert.NotContains(t, r.stdout, "h2")
	})
	t.Run("json, flags after the job", func(t *testing.T) {
		r := ts.run(t, "", "history", "h1", "--json")
		require.Equal(t, exitOK, r.code, r.stderr)
		out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, out, 3)
		want := []string{evs[0].ID, evs[2].ID, evs[1].ID}
		for i, l := range out {
			ev, err := event.Decode([]byte(l))
			require.NoError(t, err)
			assert.Equal(t, want[i], ev.ID)
		}
	})
	t.Run("error shown", func(t *testing.T) {
		r := ts.run(t, "", "history", "h2")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "w-9")
		assert.Contains(t, r.stdout, "total span 0s")
	})
	t.Run("unknown job", func(t *testing.T) {
		r := ts.run(t, "", "history", "nope")
		assert.Equal(t, exitError, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), `no events for job "nope" in any environment or service; check the job id`)
	})
	t.Run("found in another service", func(t *testing.T) {
		ev := event.Enqueued("py-7", "default", 1)
		require.Equal(t, exitOK, ts.run(t, jsonLine(t, ev), "log", "--service", "myservice", "-").code)
		r := ts.run(t, "", "history", "py-7")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "job py-7 (dev/myservice): 1 event")
		assert.Contains(t, r.stderr, "history: job py-7 found in environment dev, service myservice")
	})
	t.Run("ambiguous", func(t *testing.T) {
		for _, svc := range []string{"alpha", "beta"} {
			ev := event.Enqueued("twin", "default", 1)
			require.Equal(t, exitOK, ts.run(t, jsonLine(t, ev), "log", "--service", svc, "-").code)
		}
		r := ts.run(t, "", "history", "twin")
		assert.Equal(t, exitError, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), `job "twin" has events in 2 places: dev/alpha (1 event), dev/beta (1 event); name one with --environment and --service`)
		r = ts.run(t, "", "history", "--service", "beta", "twin")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stdout, "job twin (dev/beta): 1 event")
	})
	t.Run("other service", func(t *testing.T) {
		r := ts.run(t, "", "history", "--service", "other", "h1")
		assert.Equal(t, exitError, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), `service "other"`)
	})
}
