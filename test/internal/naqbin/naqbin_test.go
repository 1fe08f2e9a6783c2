package naqbin

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var env = MinimalEnv("/nonexistent")

func TestRun(t *testing.T) {
	r, err := Run(t.Context(), 10*time.Second, env, strings.NewReader("in"), "sh", "-c", "cat; echo err >&2; exit 3")
	require.NoError(t, err)
	assert.Equal(t, Result{Code: 3, Stdout: "in", Stderr: "err\n", Took: r.Took}, r)
	assert.Positive(t, r.Took)

	_, err = Run(t.Context(), 100*time.Millisecond, env, nil, "sleep", "10")
	require.ErrorIs(t, err, ErrHung)

	_, err = Run(t.Context(), 10*time.Second, env, nil, "/nonexistent/naq-events")
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrHung)
}

func TestProc(t *testing.T) {
	ready := func(b *Buffer) func() error {
		return func() error {
			if !strings.Contains(b.String(), "ready") {
				return errors.New("not yet")
			}
			return nil
		}
	}

	t.Run("stops on SIGTERM", func(t *testing.T) {
		var out Buffer
		p, err := Start("sh", env, &out, &out, "-c", "echo ready; exec sleep 30")
		require.NoError(t, err)
		require.NoError(t, p.WaitReady(10*time.Second, ready(&out)))
		require.NoError(t, p.Stop(10*time.Second))
		<-p.Done()
		assert.NoError(t, p.Stop(time.Second), "a second Stop is a no-op")
	})

	t.Run("killed after the grace period", func(t *testing.T) {
		var out Buffer
		p, err := Start("sh", env, &out, &out, "-c", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
		require.NoError(t, err)
		require.NoError(t, p.WaitReady(10*time.Second, ready(&out)))
		require.ErrorIs(t, p.Stop(200*time.Millisecond), ErrNotStopped)
	})

	t.Run("exits before ready", func(t *testing.T) {
		var out Buffer
		p, err := Start("sh", env, &out, &out, "-c", "exit 2")
		require.NoError(t, err)
		require.ErrorIs(t, p.WaitReady(10*time.Second, ready(&out)), ErrExited)
		assert.Equal(t, 2, p.ExitCode())
	})

	t.Run("not ready in time", func(t *testing.T) {
		var out Buffer
		p, err := Start("sleep", env, &out, &out, "30")
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
		err = p.WaitReady(100*time.Millisecond, ready(&out))
		require.ErrorIs(t, err, ErrNotReady)
		assert.Contains(t, err.Error(), "not yet")
	})
}

func TestFreePortAndEnv(t *testing.T) {
	port, err := FreePort()
	require.NoError(t, err)
	assert.Positive(t, port)
	t.Setenv("NATS_URL", "nats://elsewhere:4222")
	t.Setenv("NAQ_X", "1")
	for _, kv := range CleanEnv("NATS_URL=mine") {
		assert.False(t, strings.HasPrefix(kv, "NAQ_") || kv == "NATS_URL=nats://elsewhere:4222", kv)
	}
	assert.Contains(t, CleanEnv("NATS_URL=mine"), "NATS_URL=mine")
	assert.Equal(t, []string{"HOME=/h", "PATH=" + os.Getenv("PATH"), "NO_COLOR=1", "A=b"}, MinimalEnv("/h", "A=b"))
}
