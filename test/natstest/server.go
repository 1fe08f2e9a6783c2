package natstest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Ports the image exposes.
const (
	ClientPort  = "4222/tcp"
	MonitorPort = "8222/tcp"
)

// EnvImage names the environment variable that overrides the image; the
// Makefile sets it to the tag `make nats-image` builds.
const EnvImage = "NAQ_NATS_IMAGE"

// ImageRepository is the repository `make nats-image` tags its image with;
// the tag is the pinned nats-server version.
const ImageRepository = "naq-events/nats"

// Sentinel errors of the preflight check; Run fails the test with them.
var (
	// ErrDockerUnavailable: no Docker engine answers.
	ErrDockerUnavailable = errors.New("docker engine unavailable")
	// ErrImageMissing: the NATS image was not built on this machine.
	ErrImageMissing = errors.New("nats image missing")
)

// The settings the issue asks for on these machines: no Ryuk reaper (its image
// cannot be pulled) and ports reached on loopback. Set before testcontainers
// reads its configuration (once, on first use); an explicit value wins.
func init() {
	for k, v := range map[string]string{
		"TESTCONTAINERS_RYUK_DISABLED": "true",
		"TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1",
	} {
		if _, ok := os.LookupEnv(k); !ok {
			_ = os.Setenv(k, v) // cannot fail for these names
		}
	}
}

// Server is a nats-server in a container. Its client URL does not change for
// its lifetime, across Stop and Start.
type Server struct {
	ctr   *testcontainers.DockerContainer
	url   string
	image string
}

// Option configures Run.
type Option func(*config)

type config struct {
	image   string
	timeout time.Duration
}

// WithImage runs image instead of the default, which is $NAQ_NATS_IMAGE or
// else naq-events/nats:<nats-server version of the workspace>.
func WithImage(image string) Option { return func(c *config) { c.image = image } }

// WithStartupTimeout bounds how long Run and Start wait for the server to
// report JetStream healthy. Default 60s; values below one second use the
// default.
func WithStartupTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// StartNATS runs a server for the test and returns its client URL.
func StartNATS(t testing.TB, opts ...Option) string {
	t.Helper()
	return Run(t, opts...).URL()
}

// Run starts a server for the test, waits until JetStream is healthy, and
// registers its removal (with its volume) when the test ends. It fails the
// test, never skips it, when Docker or the image is missing.
func Run(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{timeout: 60 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout < time.Second {
		cfg.timeout = 60 * time.Second
	}
	if cfg.image == "" {
		img, err := DefaultImage()
		if err != nil {
			t.Fatalf("natstest: %v", err)
		}
		cfg.image = img
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout+30*time.Second)
	defer cancel()
	if err := Preflight(ctx, cfg.image); err != nil {
		t.Fatalf("natstest: %v", err)
	}

	// A port picked here can be taken by someone else before Docker binds
	// it; a few attempts make that race harmless.
	var lastErr error
	for range 3 {
		srv, err := start(ctx, t, cfg)
		if err == nil {
			return srv
		}
		lastErr = err
		if !IsPortTaken(err) {
			break
		}
	}
	t.Fatalf("natstest: start %s: %v", cfg.image, lastErr)
	return nil
}

func start(ctx context.Context, t testing.TB, cfg config) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	ctr, err := testcontainers.Run(ctx, cfg.image,
		testcontainers.WithLogger(tclog.TestLogger(t)), // shown with -v or on failure
		testcontainers.WithExposedPorts(ClientPort, MonitorPort),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort(ClientPort):  {{HostIP: loopback, HostPort: strconv.Itoa(port)}},
				network.MustParsePort(MonitorPort): {{HostIP: loopback}},
			}
		}),
		testcontainers.WithWaitStrategyAndDeadline(cfg.timeout,
			wait.ForListeningPort(ClientPort).SkipInternalCheck(), // scratch image: no shell inside
			wait.ForHTTP("/healthz").WithPort(MonitorPort),        // 200 once JetStream is ready
		),
	)
	if ctr != nil {
		t.Cleanup(func() {
			if t.Failed() {
				DumpLogs(t, "nats-server", ctr)
			}
			if err := testcontainers.TerminateContainer(ctr); err != nil {
				t.Errorf("natstest: remove container: %v", err)
			}
		})
	}
	if err != nil {
		return nil, err
	}
	return &Server{ctr: ctr, image: cfg.image, url: "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
}

// URL is the client URL, nats://127.0.0.1:<port>, the same across Stop and
// Start.
func (s *Server) URL() string { return s.url }

// Image is the image the server runs.
func (s *Server) Image() string { return s.image }

// Container is the underlying container, for what this package does not wrap.
func (s *Server) Container() *testcontainers.DockerContainer { return s.ctr }

// MonitorURL is the HTTP monitoring endpoint (/varz, /jsz, /healthz). Its port
// changes on every Start, so ask again after one.
func (s *Server) MonitorURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ep, err := s.ctr.PortEndpoint(ctx, MonitorPort, "http")
	if err != nil {
		t.Fatalf("natstest: monitor endpoint: %v", err)
	}
	return ep
}

// Stop stops the server gracefully (SIGTERM, then SIGKILL after 10s). The
// container and its /data volume stay, so Start brings the same streams back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	timeout := 10 * time.Second
	if err := s.ctr.Stop(ctx, &timeout); err != nil {
		t.Fatalf("natstest: stop: %v", err)
	}
}

// Kill ends the server with SIGKILL, as a crash would: nothing is flushed.
// The container stays; Start brings it back.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Fatalf("natstest: kill: docker client: %v", err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.ContainerKill(ctx, s.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("natstest: kill: %v", err)
	}
	// Wait until Docker reports it stopped, so Start starts it afresh.
	waited := cli.ContainerWait(ctx, s.ctr.GetContainerID(), client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-waited.Result:
	case err := <-waited.Error:
		t.Fatalf("natstest: kill: wait for exit: %v", err)
	}
}

// Start starts a stopped server again on the same client port and waits
// until JetStream is healthy.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.ctr.Start(ctx); err != nil {
		t.Fatalf("natstest: start again: %v", err)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

var defaultImage = sync.OnceValues(func() (string, error) {
	if img := os.Getenv(EnvImage); img != "" {
		return img, nil
	}
	// The workspace's nats-server version: the one adapters/go.mod pins and
	// `make nats-image` builds. The go tool is there: this runs under go test.
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("find nats-server version (set %s to skip this): %w", EnvImage, err)
	}
	return ImageRepository + ":" + strings.TrimSpace(string(out)), nil
})

// DefaultImage is the image Run uses without WithImage: $NAQ_NATS_IMAGE, or
// naq-events/nats:<version> with the nats-server version of the workspace.
func DefaultImage() (string, error) { return defaultImage() }

// Preflight checks that a Docker engine answers and that image exists
// locally. Its errors wrap ErrDockerUnavailable or ErrImageMissing and say
// which command fixes them.
func Preflight(ctx context.Context, image string) (err error) {
	defer func() {
		// testcontainers panics on some broken Docker setups.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v; start the Docker engine (dockerd; CI's .ci/run does)", ErrDockerUnavailable, r)
		}
	}()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w; start the Docker engine (dockerd; CI's .ci/run does)", ErrDockerUnavailable, err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w: %w; start the Docker engine (dockerd; CI's .ci/run does)", ErrDockerUnavailable, err)
	}
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: image %q is not on this machine (no registry can be pulled from): run `make nats-image` at the repository root", ErrImageMissing, image)
		}
		return fmt.Errorf("%w: inspect image %q: %w", ErrDockerUnavailable, image, err)
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// container's published port that must stay the same across restarts.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("pick a free port: unexpected address %v", l.Addr())
	}
	return addr.Port, nil
}

// IsPortTaken reports whether err says a container could not bind its
// published port because something took it meanwhile (then pick another).
func IsPortTaken(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// DumpLogs logs the last 40 lines of the container's log through t, the
// container named name (a failed start says why this way).
func DumpLogs(t testing.TB, name string, ctr *testcontainers.DockerContainer) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := ctr.Logs(ctx)
	if err != nil {
		t.Logf("natstest: %s logs: %v", name, err)
		return
	}
	defer func() { _ = rc.Close() }()
	const keep = 40
	var lines []string
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > keep {
			lines = lines[1:]
		}
	}
	t.Logf("natstest: last %d lines of %s's log:\n%s", len(lines), name, strings.Join(lines, "\n"))
}
