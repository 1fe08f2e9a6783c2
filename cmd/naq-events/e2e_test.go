package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

// TestEndToEnd builds the binary, starts `naq-events serve` on an embedded
// NATS server as a subprocess and drives every client command against it
// as a user would, checking exit statuses, output and what was stored.
func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	natsPort, httpPort := freePort(t), freePort(t)
	srv := startServe(t, bin, "serve",
		"--embedded-port", strconv.Itoa(natsPort),
		"--http", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--data-dir", t.TempDir())
	waitHealthy(t, srv, fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort))
	cli := &cliRunner{bin: bin, url: fmt.Sprintf("nats://127.0.0.1:%d", natsPort)}

	t.Run("log from flags", func(t *testing.T) {
		r := cli.run(t, "", "log", "--job", "e2e-1", "--type", "enqueued", "--queue", "emails", "--message", "hello")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "logged enqueued event")
	})

	t.Run("log stdin with a bad line", func(t *testing.T) {
		t0 := time.Now().Add(-time.Minute)
		lines := []string{
			jsonLine(t, event.Started("e2e-1", "w-1", "async", event.WithTimestamp(t0.Add(time.Second)))),
			`{"job_id": "e2e-1", "event_type": "exploded", "timestamp": 1}`,
			jsonLine(t, event.Completed("e2e-1", "w-1", 1500*time.Millisecond, event.WithTimestamp(t0.Add(2500*time.Millisecond)))),
		}
		r := cli.run(t, strings.Join(lines, "\n")+"\n", "log", "--stdin")
		assert.Equal(t, 1, r.code)
		errLines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		require.Len(t, errLines, 2, r.stderr)
		assert.Contains(t, errLines[0], `line 2: invalid event: event_type "exploded"`)
		assert.Equal(t, "naq-events log: logged 2 events, 1 line rejected: line 2 (see the errors above); fix them and send those lines again", errLines[1])
	})

	t.Run("history", func(t *testing.T) {
		r := cli.run(t, "", "history", "e2e-1")
		require.Equal(t, 0, r.code, r.stderr)
		out := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, out, 6, r.stdout)
		assert.Equal(t, "job e2e-1 (dev/naq): 3 events", out[0])
		assert.Contains(t, out[2], "started")
		assert.Regexp(t, `completed\s+\+1\.5s\s+w-1\s+1\.50s`, out[3])
		assert.Contains(t, out[4], "enqueued", "logged last, at the latest time")
		assert.True(t, strings.HasPrefix(out[5], "total span "), out[5])
	})

	t.Run("tail json", func(t *testing.T) {
		r := cli.run(t, "", "tail", "--json", "--history", "--job", "e2e-1", "--count", "3")
		require.Equal(t, 0, r.code, r.stderr)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		require.Len(t, lines, 3)
		var types []event.JobEventType
		for _, l := range lines {
			ev, err := event.Decode([]byte(l))
			require.NoError(t, err)
			types = append(types, ev.Type)
		}
		assert.Equal(t, []event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted}, types, "store order")
	})

	t.Run("stats json", func(t *testing.T) {
		r := cli.run(t, "", "stats", "--json", "--job", "e2e-1")
		require.Equal(t, 0, r.code, r.stderr)
		var got statsResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		assert.Equal(t, 3, got.Total)
		assert.Equal(t, map[string]int{"enqueued": 1, "started": 1, "completed": 1}, got.ByType)
		require.NotNil(t, got.FailureRate)
		assert.Zero(t, *got.FailureRate)
		require.NotNil(t, got.Duration.P50)
		assert.InDelta(t, 1500, *got.Duration.P50, 1e-9)
	})

	t.Run("purge", func(t *testing.T) {
		r := cli.run(t, "", "purge", "e2e-1")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), "add --yes")
		r = cli.run(t, "", "purge", "--yes", "e2e-1")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "purged 3 events of job e2e-1")
		r = cli.run(t, "", "history", "e2e-1")
		assert.Equal(t, 1, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), "no events for job")
	})

	t.Run("bench", func(t *testing.T) {
		r := cli.run(t, "", "bench", "--events", "2000", "--producers", "4")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Regexp(t, `^bench: 2000 events .* events/s; stored 2000 \(counted in the stream\); logger: logged 2000 stored 2000 dropped 0 `, requireOneLine(t, r.stdout))
		assert.Contains(t, r.stderr, "purged the 2000 bench events")
	})

	t.Run("demo", func(t *testing.T) {
		r := cli.run(t, "", "demo", "--jobs", "20", "--rate", "100", "--speed", "100", "--seed", "4", "--every", "10")
		require.Equal(t, 0, r.code, r.stderr)
		assert.Contains(t, r.stdout, "demo: 10 jobs finished")
		assert.Contains(t, r.stdout, "demo: done: 20 jobs finished")

		r = cli.run(t, "", "stats", "--json")
		require.Equal(t, 0, r.code, r.stderr)
		var got statsResult
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
		assert.GreaterOrEqual(t, got.ByType["enqueued"], 15, "the demo's jobs are in the stream")
	})

	t.Run("bad flag", func(t *testing.T) {
		r := cli.run(t, "", "tail", "--no-such-flag")
		assert.Equal(t, 2, r.code)
		assert.Contains(t, requireOneLine(t, r.stderr), "naq-events tail: flag provided but not defined: -no-such-flag")
	})

	t.Run("unreachable server", func(t *testing.T) {
		r := cli.run(t, "", "log", "--server", "nats://127.0.0.1:1", "--job", "x", "--type", "started")
		assert.Equal(t, 1, r.code)
		line := requireOneLine(t, r.stderr)
		assert.Contains(t, line, "naq-events log: ")
		assert.Contains(t, line, "cannot reach NATS at nats://127.0.0.1:1")
		assert.Contains(t, line, "NATS_URL/--server", "says how to fix it")
	})

	t.Run("serve stops on SIGTERM", func(t *testing.T) {
		code := srv.stop(t)
		assert.Equal(t, 0, code, "serve output:\n%s", srv.out.String())
	})
}

// buildBinary builds naq-events once into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the end-to-end test needs the go command")
	bin := filepath.Join(t.TempDir(), "naq-events")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// cleanEnv is the test's environment without NATS and naq-events settings,
// so that a developer's NATS_URL does not leak into the subprocesses.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "NAQ_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// serveProc is a running `naq-events serve`.
type serveProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM, waits up to 20 s for serve to exit (then kills it)
// and returns its exit status.
func (p *serveProc) stop(t *testing.T) int {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("serve did not stop within 20 s of SIGTERM; killed it. Output:\n%s", p.out.String())
		}
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// waitHealthy polls serve's /healthz until it answers 200.
func waitHealthy(t *testing.T, p *serveProc, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			assert.NoError(t, resp.Body.Close())
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			require.FailNow(t, "serve exited before it was healthy", "output:\n%s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "serve not healthy within 30 s", "last error %v; output:\n%s", err, p.out.String())
		}
	}
}

// cliRunner runs client commands as subprocesses against the server.
type cliRunner struct{ bin, url string }

func (c *cliRunner) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = cleanEnv("NATS_URL=" + c.url)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		require.NoError(t, err, "run %v", args)
	}
	require.NoError(t, ctx.Err(), "%v did not finish in 30 s; stderr %s", args, r.stderr)
	return r
}
