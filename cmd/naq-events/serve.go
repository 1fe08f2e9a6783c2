package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/demo"
	"github.com/naq-go/events/app/embedded"
	"github.com/naq-go/events/app/httpapi"
	"github.com/naq-go/events/app/logging"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/app/service"
	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/app/storage"
)

// serveOptions are the flags of serve beyond config.Config.
type serveOptions struct {
	demo     bool
	demoRate float64
}

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("serve")
	cfg := config.Default()
	envErr := cfg.RegisterFlags(fs, env.Getenv)
	var so serveOptions
	fs.BoolVar(&so.demo, "demo", false, "run the demo workload: simulated jobs with retries, failures and schedules")
	fs.Float64Var(&so.demoRate, "demo-rate", 2, "demo: jobs started per second")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q; serve takes only flags (see naq-events serve -h)", fs.Arg(0))
	}
	if err := config.EnvErrors(envErr, fs); err != nil {
		return usageErrorf("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	if so.demo && so.demoRate <= 0 {
		return usageErrorf("--demo-rate %g: want a positive number of jobs per second", so.demoRate)
	}
	return serve(ctx, env, cfg, so)
}

// serve runs the service until ctx ends (SIGINT/SIGTERM) or a module asks
// for shutdown, then stops it within cfg.ShutdownTimeout.
func serve(ctx context.Context, env *Env, cfg config.Config, so serveOptions) error {
	var (
		httpSrv *httpapi.Server
		natsSrv *natsembed.Server
		seq     *shutdown.Sequence
	)
	opts := []fx.Option{
		service.Options(cfg),
		fx.Supply(&logging.Output{Writer: env.Stderr}),
		logging.FxEvents,
		fx.Populate(&httpSrv, &seq),
		fx.StartTimeout(cfg.NATS.ConnectTimeout + 30*time.Second),
		fx.StopTimeout(cfg.ShutdownTimeout),
	}
	if service.UsesNATS(cfg) && cfg.Embedded() {
		opts = append(opts, fx.Populate(&natsSrv))
	}
	if so.demo {
		opts = append(opts, demo.Module, fx.Supply(demo.Config{Rate: so.demoRate}))
	}
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		return explainFx(err)
	}
	startCtx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
		defer cancel()
		// Undo what started; the start error says what is wrong. The
		// sequence runs here, not only from fx's hook: fx skips its stop
		// hooks when the start ctx has ended, and returns from Stop at the
		// deadline without waiting for them.
		_ = seq.Stop(stopCtx)
		_ = app.Stop(stopCtx)
		return explainFx(err)
	}
	printEndpoints(env.Stdout, cfg, so, httpSrv, natsSrv)

	select {
	case <-ctx.Done():
	case sig := <-app.Wait():
		if sig.ExitCode != 0 {
			defer func() {
				printInfo(env.Stderr, "naq-events serve: a module asked to exit with status %d\n", sig.ExitCode)
			}()
		}
	}
	printInfo(env.Stdout, "Stopping: draining the logger and closing NATS …\n")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	// The sequence runs in this goroutine, so every step (store, NATS,
	// embedded server) has run before serve returns, even past the
	// deadline; fx's own hook then finds it stopped.
	if err := errors.Join(seq.Stop(stopCtx), app.Stop(stopCtx)); err != nil {
		return fmt.Errorf("unclean stop within --shutdown-timeout %s: %w", cfg.ShutdownTimeout, explainFx(err))
	}
	printInfo(env.Stdout, "Stopped.\n")
	return nil
}

// explainFx strips fx's and dig's wiring detail from err, keeping the cause,
// which our constructors phrase for the user.
func explainFx(err error) error {
	cause := dig.RootCause(err)
	if cause == nil {
		return err
	}
	return cause
}

func printEndpoints(w io.Writer, cfg config.Config, so serveOptions, httpSrv *httpapi.Server, natsSrv *natsembed.Server) {
	if httpSrv != nil {
		base := httpSrv.URL()
		printInfo(w, "HTTP API on %s  (GET %s/api/v1/events, live: %s/api/v1/stream)\n", base, base, base)
		printInfo(w, "Health on %s/healthz, Prometheus metrics on %s/metrics\n", base, base)
		printInfo(w, "Dashboard on %s/  (press ? there for its shortcuts)\n", base)
	} else {
		printInfo(w, "HTTP API disabled (--http is empty)\n")
	}
	switch {
	case !service.UsesNATS(cfg):
		where := "in memory; nothing is kept after exit"
		if cfg.Storage == config.StorageFile {
			where = "in files under " + storage.EventsDir(cfg)
		}
		printInfo(w, "Storage: %s, %s (no NATS)\n", cfg.Storage, where)
	case natsSrv != nil:
		printInfo(w, "NATS on %s (embedded, data in %s); stream %q\n", natsSrv.ClientURL(), embedded.StoreDir(cfg), cfg.Stream.Name)
	default:
		printInfo(w, "NATS at %s; stream %q\n", redactURL(cfg.NATS.URL), cfg.Stream.Name)
	}
	if so.demo {
		printInfo(w, "Demo workload: %g jobs/s; watch it with `naq-events tail` or curl -N %s\n", so.demoRate, streamHint(httpSrv))
	}
	printInfo(w, "Press Ctrl-C to stop.\n")
}

func streamHint(s *httpapi.Server) string {
	if s == nil {
		return "(HTTP disabled)"
	}
	return s.URL() + "/api/v1/stream"
}

// redactURL hides passwords and tokens in a NATS URL list
// (nats://user:password@host, nats://token@host).
func redactURL(u string) string { return natsconn.Redact(u) }
