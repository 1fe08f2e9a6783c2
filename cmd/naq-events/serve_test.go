package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeBadConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad flag", nil, []string{"--bogus"}, "naq-events serve: flag provided but not defined: -bogus"},
		{"bad env", map[string]string{"NAQ_BATCH_SIZE": "lots"}, nil, `naq-events serve: environment NAQ_BATCH_SIZE="lots": want an integer (or give --batch-size)`},
		{"invalid", nil, []string{"--storage", "redis"}, `naq-events serve: --storage "redis": want jetstream, memory or file`},
		{"argument", nil, []string{"extra"}, `naq-events serve: unexpected argument "extra"`},
		{"demo rate", nil, []string{"--demo", "--demo-rate", "0"}, "naq-events serve: --demo-rate 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, errb := testEnv(tt.env)
			assert.Equal(t, 2, run(context.Background(), env, append([]string{"serve"}, tt.args...)))
			assert.True(t, strings.HasPrefix(errb.String(), tt.want), "stderr: %q", errb.String())
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), "exactly one line")
		})
	}
}

func TestServeUnreachableNATS(t *testing.T) {
	env, _, errb := testEnv(nil)
	code := run(context.Background(), env, []string{"serve", "--server", "nats://127.0.0.1:1", "--connect-timeout", "500ms",
		"--data-dir", t.TempDir(), "--http", "127.0.0.1:0"})
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "naq-events serve: NATS unreachable: cannot reach NATS at nats://127.0.0.1:1")
	assert.Contains(t, errb.String(), "NATS_URL/--server")
	assert.Equal(t, 1, strings.Count(errb.String(), "\n"), "exactly one line: %q", errb.String())
}

var httpLine = regexp.MustCompile(`HTTP API on (http://127\.0\.0\.1:\d+)`)

// TestServeEmbedded runs serve with the demo on an embedded server until
// the context is cancelled, as SIGINT does.
func TestServeEmbedded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, out, errb := testEnv(nil)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, env, []string{"serve", "--data-dir", t.TempDir(), "--embedded-port", "-1",
			"--http", "127.0.0.1:0", "--demo", "--demo-rate", "50", "--log-level", "warn"})
	}()
	var base string
	require.Eventually(t, func() bool {
		m := httpLine.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return strings.Contains(out.String(), "Press Ctrl-C to stop.")
	}, 30*time.Second, 5*time.Millisecond, "stdout: %s\nstderr: %s", out, errb)
	assert.Contains(t, out.String(), "(embedded, data in ")
	require.NotEmpty(t, base)

	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/v1/events/count")
		if err != nil {
			return false
		}
		defer func() { assert.NoError(t, resp.Body.Close()) }()
		var body struct{ Count int }
		return json.NewDecoder(resp.Body).Decode(&body) == nil && body.Count > 0
	}, 30*time.Second, 10*time.Millisecond, "the demo's events are stored")

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "stderr: %s", errb)
		assert.Contains(t, out.String(), "Stopped.")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
