package security

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/test/internal/naqbin"
)

// bin is the naq-events binary built by TestMain (beside natsServer).
var bin string

func TestMain(m *testing.M) {
	var dir string
	var err error
	bin, dir, err = naqbin.Build(filepath.Join("..", "..", "cmd"), "naq-security-")
	if err == nil {
		natsServer, err = buildNATSServer(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
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
	return naqbin.MinimalEnv(t.TempDir(), kv...)
}

// run runs the binary with env and stdin and waits at most 40 s: a hang
// fails the test.
func run(t *testing.T, out *outputs, env []string, stdin string, args ...string) result {
	t.Helper()
	res, err := naqbin.Run(t.Context(), 40*time.Second, env, strings.NewReader(stdin), bin, args...)
	r := result{code: res.Code, stdout: res.Stdout, stderr: res.Stderr, took: res.Took}
	require.NoError(t, err, "naq-events %v hung; stderr: %s", args, r.stderr)
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
	port, err := naqbin.FreePort()
	require.NoError(t, err)
	return port
}

// serveProc is a running `naq-events serve`.
type serveProc struct {
	proc   *naqbin.Proc
	stdout *naqbin.Buffer
	stderr *naqbin.Buffer
	base   string // http(s)://127.0.0.1:port
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
	p := &serveProc{stdout: &naqbin.Buffer{}, stderr: &naqbin.Buffer{}, base: scheme + "://127.0.0.1:" + port}
	proc, err := naqbin.Start(bin, env, p.stdout, p.stderr, args...)
	require.NoError(t, err)
	p.proc = proc
	t.Cleanup(func() {
		if err := proc.Stop(20 * time.Second); err != nil {
			t.Errorf("serve did not stop within 20 s of SIGTERM")
		}
		if out != nil {
			out.add("serve", p.stdout.String()+p.stderr.String())
		}
	})
	err = proc.WaitReady(30*time.Second, func() error {
		if !strings.Contains(p.stdout.String(), "Press Ctrl-C to stop.") {
			return errors.New("no banner yet")
		}
		return nil
	})
	if errors.Is(err, naqbin.ErrExited) {
		t.Fatalf("serve exited early: %s%s", p.stdout.String(), p.stderr.String())
	}
	require.NoError(t, err, "serve did not start: %s%s", p.stdout.String(), p.stderr.String())
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
