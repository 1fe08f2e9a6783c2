package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchCountsAndPurgesInConstantCalls (issue 10): bench counts and
// purges its own events with a number of JetStream API requests that does
// not grow with --jobs: one purge, and the same requests for 2 jobs as for
// 400 (it used to make one Count and one purge per job). The requests are
// seen by a subscriber on $JS.API.> of the same account.
func TestBenchCountsAndPurgesInConstantCalls(t *testing.T) {
	ts := startServer(t)
	apiCalls := func(jobs int) map[string]int {
		t.Helper()
		sub, err := ts.nc.SubscribeSync("$JS.API.>")
		require.NoError(t, err)
		require.NoError(t, sub.SetPendingLimits(-1, -1))
		require.NoError(t, ts.nc.Flush())
		r := ts.run(t, "", "bench", "--events", "800", "--producers", "2", "--jobs", strconv.Itoa(jobs), "--size", "50")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stderr, "purged the 800 bench events")
		// Every request the server routed before our PONG is in our
		// pending list once Flush returns.
		require.NoError(t, ts.nc.Flush())
		n, _, err := sub.Pending()
		require.NoError(t, err)
		calls := map[string]int{}
		for range n {
			m, err := sub.NextMsg(time.Second)
			require.NoError(t, err)
			calls[apiKind(m.Subject)]++
		}
		require.NoError(t, sub.Unsubscribe())
		t.Logf("--jobs %d: JetStream API requests by kind: %v", jobs, calls)
		return calls
	}
	few, many := apiCalls(2), apiCalls(400)
	assert.Equal(t, 1, few["STREAM.PURGE"], "one purge")
	assert.Equal(t, 1, many["STREAM.PURGE"], "one purge for 400 jobs")
	total := func(m map[string]int) int {
		s := 0
		for _, v := range m {
			s += v
		}
		return s
	}
	// Not per job: 200x the jobs may not add even one request per 10 jobs.
	assert.LessOrEqual(t, total(many), total(few)+40, "API requests for 400 jobs (%v) against 2 jobs (%v)", many, few)
}

// apiKind is the kind of a JetStream API subject without the stream,
// consumer or subject names: $JS.API.STREAM.PURGE.naq_events → STREAM.PURGE.
func apiKind(subject string) string {
	parts := strings.Split(strings.TrimPrefix(subject, "$JS.API."), ".")
	switch {
	case len(parts) >= 2 && (parts[0] == "STREAM" || parts[0] == "CONSUMER" || parts[0] == "DIRECT"):
		return parts[0] + "." + parts[1]
	case len(parts) >= 1:
		return parts[0]
	}
	return subject
}
