package security

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bin is the naq-events binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "naq-security-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "naq-events")
	build := exec.Command("go", "build", "-o", bin, "./naq-events")
	build.Dir = filepath.Join("..", "..", "cmd")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build naq-events: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// outputs collects every output of the binary in a test, for the secrets
// check.
type outputs struct {
	mu  sync.Mutex
	all []string
}

func (o *outputs) add(what, s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all = append(o.all, what+":\n"+s)
}

// requireNoSecret fails if any collected output holds one of secrets.
func (o *outputs) requireNoSecret(t *testing.T, secrets ...string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.all)
	for _, s := range secrets {
		require.NotEmpty(t, s)
		for _, out := range o.all {
			require.NotContains(t, out, s, "a secret shows in an output")
		}
	}
}

// env is the environment of a run: only what the test gives, plus a HOME
// of its own, so the machine's NATS_* variables never leak in.
func baseEnv(t *testing.T, kv ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, kv...)
}

// run runs the binary with env and stdin and waits at most 40 s: a hang
// fails the test.
func run(t *testing.T, out *outputs, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String(), took: time.Since(start)}
	require.NoError(t, ctx.Err(), "naq-events %v hung; stderr: %s", args, r.stderr)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		require.NoError(t, err)
	}
	if out != nil {
		out.add(strings.Join(args, " "), r.stdout+r.stderr)
	}
	return r
}

// requireOneLineError checks a failed run: exit status 1, one line on
// stderr naming the command, no Go stack, and each of want in it.
func requireOneLineError(t *testing.T, r result, want ...string) {
	t.Helper()
	require.Equal(t, 1, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	t.Logf("exit %d after %s: %s", r.code, r.took.Round(time.Millisecond), strings.TrimSpace(r.stderr))
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 1, "want one line on stderr, got:\n%s", r.stderr)
	require.True(t, strings.HasPrefix(lines[0], "naq-events "), lines[0])
	require.NotContains(t, r.stderr, "goroutine ")
	require.NotContains(t, r.stderr, "panic")
	for _, w := range want {
		require.Contains(t, lines[0], w)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveProc is a running `naq-events serve`.
type serveProc struct {
	cmd    *exec.Cmd
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	base   string // http(s)://127.0.0.1:port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts serve with args and waits until it prints its banner
// (it is listening) or exits. scheme is http or https.
func startServe(t *testing.T, out *outputs, env []string, scheme string, args ...string) *serveProc {
	t.Helper()
	return startServeAt(t, out, env, scheme, "127.0.0.1:"+strconv.Itoa(freePort(t)), args...)
}

// startServeAt is startServe on the HTTP address addr.
func startServeAt(t *testing.T, out *outputs, env []string, scheme, addr string, args ...string) *serveProc {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	args = append([]string{"serve", "--http", addr, "--data-dir", t.TempDir()}, args...)
	p := &serveProc{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{}),
		base: scheme + "://127.0.0.1:" + port}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("serve did not stop within 20 s of SIGTERM")
		}
		if out != nil {
			out.add("serve", p.stdout.String()+p.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stdout.String(), "Press Ctrl-C to stop.") {
		select {
		case <-p.done:
			t.Fatalf("serve exited early: %s%s", p.stdout.String(), p.stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve did not start: %s%s", p.stdout.String(), p.stderr.String())
		time.Sleep(20 * time.Millisecond) // polling the output with a deadline
	}
	return p
}

// get fetches url with client and optional bearer token, returning status
// and body.
func get(t *testing.T, client *http.Client, method, url, token string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}
