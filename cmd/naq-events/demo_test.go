package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

func TestDemo(t *testing.T) {
	ts := startServer(t)
	r := ts.run(t, "", "demo", "--jobs", "30", "--rate", "1000", "--speed", "1000", "--seed", "9", "--every", "10")
	require.Equal(t, exitOK, r.code, r.stderr)
	out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	require.Len(t, out, 5, r.stdout)
	assert.Contains(t, out[0], "watch them with `naq-events tail`")
	assert.Contains(t, out[1], "demo: 10 jobs finished")
	assert.Contains(t, out[3], "demo: 30 jobs finished")
	assert.Contains(t, out[4], "demo: done: 30 jobs finished")

	n, err := ts.store.Count(t.Context(), event.Filter{})
	require.NoError(t, err)
	assert.Contains(t, out[4], "stored "+strconv.Itoa(n), "every simulated event is in the stream")
	assert.Greater(t, n, 30*4, "several events per job")
}

func TestDemoInterrupted(t *testing.T) {
	ts := startServer(t)
	out, cancel, wait := ts.startCmd(t, "demo", "--rate", "50", "--speed", "10")
	eventually(t, "demo events", func() bool {
		n, err := ts.store.Count(t.Context(), event.Filter{})
		return err == nil && n > 10
	})
	cancel()
	r := wait()
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, out.String(), "demo: done: ")
	n, err := ts.store.Count(t.Context(), event.Filter{})
	require.NoError(t, err)
	assert.Contains(t, out.String(), "stored "+strconv.Itoa(n), "what was logged before Ctrl-C is stored")
}
