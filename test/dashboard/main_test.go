package dashboard

import (
	"bytes"
	"context"
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
)

// srv is the `naq-events serve` every test of the package uses: the binary
// as it ships, on an embedded NATS server, started by TestMain.
var srv *server

type server struct {
	bin     string
	baseURL string // http://127.0.0.1:port
	natsURL string
	cmd     *exec.Cmd
	out     *lockedBuffer
	done    chan struct{}
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test/dashboard:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "naq-dashboard-")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "naq-events")
	build := exec.Command("go", "build", "-o", bin, "./naq-events")
	build.Dir = filepath.Join("..", "..", "cmd")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build naq-events: %w\n%s", err, out)
	}
	s, err := startServer(bin, filepath.Join(dir, "data"))
	if err != nil {
		return 0, err
	}
	srv = s
	code := m.Run()
	if err := s.stop(); err != nil {
		return 0, err
	}
	return code, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// cleanEnv is the environment without NATS and naq-events settings and
// without NO_COLOR, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "NAQ_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func startServer(bin, dataDir string) (*server, error) {
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{
		bin:     bin,
		baseURL: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		natsURL: "nats://127.0.0.1:" + strconv.Itoa(natsPort),
		out:     &lockedBuffer{},
		done:    make(chan struct{}),
	}
	s.cmd = exec.Command(bin, "serve", "--embedded-port", strconv.Itoa(natsPort),
		"--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--data-dir", dataDir)
	s.cmd.Env = cleanEnv()
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start serve: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.baseURL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
			err = fmt.Errorf("/healthz answered %s", resp.Status)
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("serve exited before it was healthy; output:\n%s", s.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return nil, fmt.Errorf("serve not healthy within 30 s (last error %w); output:\n%s", err, s.out.String())
		}
	}
}

// stop sends SIGTERM and waits up to 20 s for a clean exit.
func (s *server) stop() error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("serve did not stop within 20 s of SIGTERM; output:\n%s", s.out.String())
		}
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("serve exited with status %d; output:\n%s", code, s.out.String())
	}
	return nil
}

// cli runs a client command of the binary against the server's NATS.
func (s *server) cli(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = cleanEnv("NATS_URL=" + s.natsURL)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("naq-events %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// get reads a URL of the server.
func (s *server) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s: %s", path, resp.Status, b)
	}
	return b, nil
}

// lockedBuffer is a bytes.Buffer safe for the subprocess's writers and
// the test's readers.
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
