package service_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/logging"
	"github.com/naq-go/events/app/service"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/domain/processor"
	"github.com/naq-go/events/ports"
)

// testConfig is a valid config on random ports in a temp dir.
func testConfig(t *testing.T, storage string) config.Config {
	cfg := config.Default()
	cfg.Storage = storage
	cfg.DataDir = t.TempDir()
	cfg.NATS.EmbeddedPort = -1
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Logger.FlushInterval = 10 * time.Millisecond
	cfg.Log.Level = "warn"
	require.NoError(t, cfg.Validate())
	return cfg
}

// graph are the values a test looks at.
type graph struct {
	HTTP   *httpapi.Server
	Store  ports.Store
	Logger *logger.Logger
}

// post logs an event through the HTTP API and waits until the store has it.
func postAndQuery(t *testing.T, g graph) {
	t.Helper()
	ev := event.Enqueued("fx-job-1", "q", 1)
	doc, err := ev.AppendJSON(nil)
	require.NoError(t, err)
	base := "http://" + g.HTTP.Addr()
	resp, err := http.Post(base+"/api/v1/events", "application/json", strings.NewReader(string(doc)))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/v1/events/count?job=fx-job-1")
		if err != nil {
			return false
		}
		defer func() { assert.NoError(t, resp.Body.Close()) }()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)) == `{"count":1}`
	}, 10*time.Second, 5*time.Millisecond)

	resp, err = http.Get(base + "/healthz")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestServeGraphMemory(t *testing.T) {
	cfg := testConfig(t, config.StorageMemory)
	var g graph
	var nc *nats.Conn
	app := fxtest.New(t,
		service.Options(cfg),
		fx.Supply(&logging.Output{Writer: io.Discard}),
		fx.Populate(&g.HTTP, &g.Store, &g.Logger),
		fx.Invoke(func(p struct {
			fx.In
			NC *nats.Conn `optional:"true"`
		}) {
			nc = p.NC
		}),
	)
	app.RequireStart()
	assert.Nil(t, nc, "memory storage runs without NATS")
	postAndQuery(t, g)
	app.RequireStop()
	assert.ErrorIs(t, g.Logger.Log(event.Enqueued("late", "q", 1)), logger.ErrClosed)
}

func TestServeGraphEmbeddedJetStream(t *testing.T) {
	cfg := testConfig(t, config.StorageJetStream)
	var (
		g   graph
		srv *natsembed.Server
		nc  *nats.Conn
	)
	app := fxtest.New(t,
		service.Options(cfg),
		fx.Supply(&logging.Output{Writer: io.Discard}),
		fx.Populate(&g.HTTP, &g.Store, &g.Logger, &srv, &nc),
	)
	app.RequireStart()
	assert.True(t, nc.IsConnected())
	assert.Equal(t, srv.ClientURL(), nc.ConnectedUrl())
	assert.True(t, strings.HasPrefix(srv.StoreDir(), cfg.DataDir), "JetStream data under --data-dir")
	postAndQuery(t, g)

	resp, err := http.Get("http://" + g.HTTP.Addr() + "/metrics")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Contains(t, string(b), "naq_events_nats_connected 1")
	assert.Contains(t, string(b), "naq_events_nats_server_info{", "the server the client is on")
	assert.Contains(t, string(b), `naq_events_stream_leader_info{`, "the stream's cluster")
	assert.Contains(t, string(b), `naq_events_stored_total{type="enqueued"} 1`)
	assert.Contains(t, string(b), "naq_events_logger_flush_duration_seconds_bucket")
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + g.HTTP.Addr() + "/metrics")
		if err != nil {
			return false
		}
		defer func() { assert.NoError(t, resp.Body.Close()) }()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `naq_events_processed_total{type="enqueued"} 1`)
	}, 10*time.Second, 5*time.Millisecond, "the processor counts the event")

	app.RequireStop()
	assert.True(t, nc.IsClosed())
	assert.False(t, srv.Running())
}

// stopRecorder wraps the fx.Lifecycle to record which component each stop
// hook belongs to (by the package of its function) in the order they run.
type stopRecorder struct {
	mu    sync.Mutex
	order []string
}

type recordingLifecycle struct {
	fx.Lifecycle
	rec *stopRecorder
}

func (l recordingLifecycle) Append(h fx.Hook) {
	if h.OnStop != nil {
		stop, name := h.OnStop, component(h.OnStop)
		h.OnStop = func(ctx context.Context) error {
			l.rec.mu.Lock()
			l.rec.order = append(l.rec.order, name)
			l.rec.mu.Unlock()
			return stop(ctx)
		}
	}
	l.Lifecycle.Append(h)
}

// component names the module a hook function comes from.
func component(fn any) string {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	for _, c := range []string{"httpapi", "eventlog", "processing", "storage", "natsconn", "embedded", "demo", "shutdown"} {
		if strings.Contains(name, "/"+c+".") {
			return c
		}
	}
	return name
}

// TestShutdownOrder stops the real graph (embedded NATS, JetStream store,
// logger, processor, HTTP) and checks, as each step of the one stop
// sequence begins, that the steps before it are done and the ones after it
// are not: HTTP → logger → processor → store → NATS → embedded server. fx
// itself runs one stop hook, the sequence's.
func TestShutdownOrder(t *testing.T) {
	cfg := testConfig(t, config.StorageJetStream)
	fxHooks := &stopRecorder{}
	var (
		g   graph
		seq *shutdown.Sequence
		srv *natsembed.Server
		nc  *nats.Conn
		p   *processor.Processor
	)
	app := fxtest.New(t,
		service.Options(cfg),
		fx.Supply(&logging.Output{Writer: io.Discard}),
		fx.Decorate(func(lc fx.Lifecycle) fx.Lifecycle { return recordingLifecycle{lc, fxHooks} }),
		fx.Populate(&g.HTTP, &g.Store, &g.Logger, &seq, &srv, &nc, &p),
	)
	app.RequireStart()
	postAndQuery(t, g)
	addr := g.HTTP.Addr()
	ctx := context.Background() // the checks run after the test's ctx may matter
	stopped := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	httpUp := func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			assert.NoError(t, c.Close())
		}
		return err == nil
	}

	var order []string
	seq.Observe(func(step shutdown.Step) {
		order = append(order, string(step))
		switch step {
		case shutdown.HTTP:
			assert.True(t, httpUp(), "HTTP still serves when its step begins")
		case shutdown.Logger:
			assert.False(t, httpUp(), "HTTP intake stopped before the logger drains")
			assert.NoError(t, g.Logger.Log(event.Enqueued("fx-during-stop", "q", 1)), "the logger is still open")
			assert.False(t, stopped(p.Done()), "the processor still consumes while the logger drains")
		case shutdown.Processor:
			assert.ErrorIs(t, g.Logger.Log(event.Enqueued("fx-late", "q", 1)), logger.ErrClosed, "the logger is closed before the processor stops")
			n, err := g.Store.Count(ctx, event.Filter{JobID: "fx-during-stop"})
			assert.NoError(t, err)
			assert.Equal(t, 1, n, "the logger drained its last event into the store")
			assert.False(t, stopped(p.Done()))
		case shutdown.Store:
			assert.True(t, stopped(p.Done()), "the processor has stopped before the store closes")
			_, err := g.Store.Count(ctx, event.Filter{})
			assert.NoError(t, err, "the store is open until its step")
		case shutdown.NATS:
			_, err := g.Store.Count(ctx, event.Filter{})
			assert.ErrorIs(t, err, ports.ErrClosed, "the store is closed before NATS drains")
			assert.True(t, nc.IsConnected(), "NATS is connected until its step")
		case shutdown.Embedded:
			assert.True(t, nc.IsClosed(), "the connection is closed before the server shuts down")
			assert.True(t, srv.Running(), "the server runs until its step")
		}
	})
	app.RequireStop()
	assert.Equal(t, []string{"httpapi", "eventlog", "processing", "rollups", "storage", "natsconn", "embedded"}, order,
		"stop order: %v", order)
	assert.False(t, srv.Running())
	assert.Equal(t, []string{"shutdown"}, fxHooks.order, "fx runs one stop hook, the sequence's")
	var want []string
	for _, s := range shutdown.Order {
		if slices.Contains(order, string(s)) {
			want = append(want, string(s))
		}
	}
	assert.Equal(t, want, order, "the steps ran in shutdown.Order")
}

// TestShutdownOrderWithoutNATS: memory storage has no NATS and no processor;
// the sequence skips their steps.
func TestShutdownOrderWithoutNATS(t *testing.T) {
	cfg := testConfig(t, config.StorageMemory)
	var seq *shutdown.Sequence
	var order []string
	app := fxtest.New(t,
		service.Options(cfg),
		fx.Supply(&logging.Output{Writer: io.Discard}),
		fx.Populate(&seq),
	)
	app.RequireStart()
	seq.Observe(func(s shutdown.Step) { order = append(order, string(s)) })
	app.RequireStop()
	assert.Equal(t, []string{"httpapi", "eventlog", "rollups", "storage"}, order)
}
