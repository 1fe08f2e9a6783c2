package main

import (
	"time"

	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

func TestTailJSONFollowsNewEvents(t *testing.T) {
	ts := startServer(t)
	// An event stored before tail starts is not shown without --history.
	require.Equal(t, exitOK, ts.run(t, "", "log", "--job", "t1", "--type", "enqueued").code)

	out, _, wait := ts.startCmd(t, "tail", "--json", "--job", "t1", "--type", "started,completed", "--count", "2")
	eventually(t, "tail's consumer", func() bool { return ts.consumers(t) > 0 })

	for _, typ := range []string{"dequeued", "started", "failed", "completed"} {
		r := ts.run(t, "", "log", "--job", "t1", "--type", typ)
		require.Equal(t, exitOK, r.code, r.stderr)
	}
	require.Equal(t, exitOK, ts.run(t, "", "log", "--job", "t2", "--type", "started").code)

	r := wait()
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, out.String())
	var types []event.JobEventType
	for _, l := range lines {
		ev, err := event.Decode([]byte(l))
		require.NoError(t, err, "each line is a v1.0 document")
		assert.Equal(t, "t1", ev.JobID)
		types = append(types, ev.Type)
	}
	assert.Equal(t, []event.JobEventType{event.TypeStarted, event.TypeCompleted}, types)
	// tail deletes its consumer as it ends; should that request be lost
	// (a loaded machine, a reset of the ordered consumer), the server drops
	// it after the store's 30 s inactivity threshold. Either way none stays.
	eventuallyWithin(t, 45*time.Second, "tail's consumer to go", func() bool { return ts.consumers(t) == 0 })
}

func TestTailReadableWithHistory(t *testing.T) {
	ts := startServer(t)
	r := ts.run(t, "", "log", "--job", "t3", "--type", "failed", "--worker", "w-7", "--queue", "emails",
		"--message", "boom", "--duration", "250ms", "--error", "disk full", "--error-type", "OSError")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, exitOK, ts.run(t, "", "log", "--job", "t3", "--type", "retry_scheduled").code)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"all", []string{"--history", "--count", "2"}, []string{"failed", "retry_scheduled"}},
		{"by queue", []string{"--history", "--count", "1", "--queue", "emails"}, []string{"failed"}},
		{"by environment", []string{"--history", "--count", "1", "--environment", "dev", "--type", "retry_scheduled"}, []string{"retry_scheduled"}},
		{"since", []string{"--since", "1h", "--count", "2"}, []string{"failed", "retry_scheduled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.run(t, "", append([]string{"tail", "--job", "t3"}, tt.args...)...)
			require.Equal(t, exitOK, r.code, r.stderr)
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			require.Len(t, lines, len(tt.want), r.stdout)
			for i, l := range lines {
				assert.NotContains(t, l, "\x1b[", "no colors when not on a terminal")
				assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{3}  dev/naq\s+t3\s+`+tt.want[i]+`\s`, l)
			}
			if tt.want[0] == "failed" {
				assert.Contains(t, lines[0], "w-7@emails")
				assert.Regexp(t, `w-7@emails\s+250\.0ms  boom  OSError: disk full$`, lines[0])
				assert.Contains(t, lines[0], "OSError: disk full")
			}
		})
	}
}

func TestTailStopsOnCancel(t *testing.T) {
	ts := startServer(t)
	out, cancel, wait := ts.startCmd(t, "tail")
	eventually(t, "tail's consumer", func() bool { return ts.consumers(t) > 0 })
	cancel()
	r := wait()
	assert.Equal(t, exitOK, r.code, "Ctrl-C is a normal end: %s", r.stderr)
	assert.Empty(t, r.stderr)
	assert.Empty(t, out.String())
	// tail deletes its consumer as it ends; should that request be lost
	// (a loaded machine, a reset of the ordered consumer), the server drops
	// it after the store's 30 s inactivity threshold. Either way none stays.
	eventuallyWithin(t, 45*time.Second, "tail's consumer to go", func() bool { return ts.consumers(t) == 0 })
}
