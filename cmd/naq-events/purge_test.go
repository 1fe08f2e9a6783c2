package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPurge(t *testing.T) {
	ts := startServer(t)
	for _, typ := range []string{"enqueued", "started", "completed"} {
		require.Equal(t, exitOK, ts.run(t, "", "log", "--job", "p1", "--type", typ).code)
	}
	require.Equal(t, exitOK, ts.run(t, "", "log", "--job", "p2", "--type", "started").code)

	r := ts.run(t, "", "purge", "p1")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, requireOneLine(t, r.stderr), "add --yes to confirm")
	assert.Len(t, ts.job(t, "p1"), 3, "nothing deleted without --yes")

	r = ts.run(t, "", "purge", "--yes", "p1")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "purged 3 events of job p1 in environment \"dev\", service \"naq\"\n", r.stdout)
	assert.Empty(t, ts.job(t, "p1"))
	assert.Len(t, ts.job(t, "p2"), 1, "other jobs stay")

	r = ts.run(t, "", "purge", "p1", "--yes")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "purged 0 events")
	assert.Empty(t, r.stderr)

	require.Equal(t, exitOK, ts.run(t, "", "log", "--service", "myservice", "--job", "p3", "--type", "started").code)
	r = ts.run(t, "", "purge", "--yes", "p3")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "purged 0 events")
	assert.Contains(t, r.stderr, "purge them with --environment dev --service myservice (1 event)")
	r = ts.run(t, "", "purge", "--yes", "--service", "myservice", "p3")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "purged 1 event of job p3")
}
