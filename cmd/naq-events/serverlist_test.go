package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadURL is the URL of a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return "nats://127.0.0.1:" + strconv.Itoa(port)
}

// TestServerList: every client command takes a comma-separated server
// list, from NATS_URL and from --server, and works when the first server
// of the list is dead.
func TestServerList(t *testing.T) {
	ts := startServer(t)
	live := ts.url
	list := deadURL(t) + "," + live
	ts.url = list // NATS_URL
	for _, args := range [][]string{
		{"log", "--job", "sl1", "--type", "enqueued"},
		{"log", "--server", list, "--job", "sl1", "--type", "started"},
		{"history", "sl1"},
		{"history", "--server", list, "sl1"},
		{"stats"},
		{"tail", "--history", "--count", "2", "--job", "sl1"},
		{"bench", "--events", "10"},
		{"purge", "--yes", "sl1"},
	} {
		r := ts.run(t, "", args...)
		require.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		if args[0] == "history" {
			assert.Contains(t, r.stdout, "sl1", "%v", args)
		}
	}
	assert.Empty(t, ts.job(t, "sl1"), "purged")
}
