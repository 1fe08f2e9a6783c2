package dashboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/naq-go/events/test/internal/naqbin"
)

// srv is the `naq-events serve` every test of the package uses: the binary
// as it ships, on an embedded NATS server, started by TestMain.
var srv *server

type server struct {
	bin     string
	baseURL string // http://127.0.0.1:port
	natsURL string
	proc    *naqbin.Proc
	out     *naqbin.Buffer
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
	bin, dir, err := naqbin.Build(filepath.Join("..", "..", "cmd"), "naq-dashboard-")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
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

func startServer(bin, dataDir string) (*server, error) {
	natsPort, err := naqbin.FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := naqbin.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{
		bin:     bin,
		baseURL: "http://127.0.0.1:" + strconv.Itoa(httpPort),
		natsURL: "nats://127.0.0.1:" + strconv.Itoa(natsPort),
		out:     &naqbin.Buffer{},
	}
	s.proc, err = naqbin.Start(bin, naqbin.CleanEnv(), s.out, s.out, "serve", "--embedded-port", strconv.Itoa(natsPort),
		"--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--data-dir", dataDir)
	if err != nil {
		return nil, fmt.Errorf("start serve: %w", err)
	}
	client := &http.Client{Timeout: time.Second}
	err = s.proc.WaitReady(30*time.Second, func() error {
		resp, err := client.Get(s.baseURL + "/healthz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz answered %s", resp.Status)
		}
		return nil
	})
	switch {
	case errors.Is(err, naqbin.ErrExited):
		return nil, fmt.Errorf("serve exited before it was healthy; output:\n%s", s.out.String())
	case err != nil:
		_ = s.stop()
		return nil, fmt.Errorf("serve not healthy: %w; output:\n%s", err, s.out.String())
	}
	return s, nil
}

// stop sends SIGTERM and waits up to 20 s for a clean exit.
func (s *server) stop() error {
	if err := s.proc.Stop(20 * time.Second); err != nil {
		return fmt.Errorf("serve did not stop within 20 s of SIGTERM; output:\n%s", s.out.String())
	}
	if code := s.proc.ExitCode(); code != 0 {
		return fmt.Errorf("serve exited with status %d; output:\n%s", code, s.out.String())
	}
	return nil
}

// cli runs a client command of the binary against the server's NATS.
func (s *server) cli(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = naqbin.CleanEnv("NATS_URL=" + s.natsURL)
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
