package demo

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx"

	"github.com/naq-go/events/app/shutdown"
	"github.com/naq-go/events/domain/logger"
)

// Config is the demo workload of `naq-events serve --demo`. Zero fields
// take the options' defaults.
type Config struct {
	Rate        float64  // jobs per simulated second; 0: DefaultRate
	Queues      []string // nil: DefaultQueues
	Workers     int      // 0: DefaultWorkers
	Seed        int64    // 0: a random seed
	FailureRate float64  // 0: DefaultFailureRate (use MaxRetries 0 … for none)
	MaxRetries  int      // 0: DefaultMaxRetries
	Speed       float64  // 0: DefaultSpeed (real time)
	Jobs        int      // 0: unlimited
}

// Options returns the options that make a Simulator as c describes.
func (c Config) Options() []Option {
	opts := []Option{
		WithRate(c.Rate),
		WithQueues(c.Queues...),
		WithWorkers(c.Workers),
		WithSpeed(c.Speed),
		WithJobs(c.Jobs),
	}
	if c.Seed != 0 {
		opts = append(opts, WithSeed(c.Seed))
	}
	if c.FailureRate != 0 {
		opts = append(opts, WithFailureRate(c.FailureRate))
	}
	if c.MaxRetries != 0 {
		opts = append(opts, WithMaxRetries(c.MaxRetries))
	}
	return opts
}

// Module runs the demo workload inside an fx application. It needs a
// *logger.Logger and a Config (fx.Supply it), and takes a *slog.Logger if
// the graph has one. On start it runs a Simulator in a goroutine it owns;
// on stop it cancels the run and waits for the goroutine: at step
// shutdown.Demo when the graph has a *shutdown.Sequence (before the logger
// drains, so no event is logged into a closed logger), else in its own
// stop hook.
var Module = fx.Module("demo", fx.Invoke(register))

type params struct {
	fx.In
	Lifecycle fx.Lifecycle
	Logger    *logger.Logger
	Config    Config
	Log       *slog.Logger       `optional:"true"`
	Shutdown  *shutdown.Sequence `optional:"true"`
}

func register(p params) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "demo")
	var (
		cancel context.CancelFunc
		done   chan struct{}
	)
	stop := func(ctx context.Context) error {
		if cancel == nil { // never started
			return nil
		}
		cancel()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	hook := fx.Hook{
		OnStart: func(context.Context) error {
			sim := New(p.Logger, p.Config.Options()...)
			var ctx context.Context
			// The run outlives OnStart's ctx, which ends when start-up does.
			ctx, cancel = context.WithCancel(context.Background())
			done = make(chan struct{})
			go func() {
				defer close(done)
				err := sim.Run(ctx)
				st := sim.Stats()
				switch {
				case err == nil, errors.Is(err, context.Canceled):
					log.Info("demo workload stopped", "jobs", st.JobsStarted, "events", st.Events)
				default:
					log.Error("demo workload failed", "error", err, "jobs", st.JobsStarted, "events", st.Events)
				}
			}()
			log.Info("demo workload started; watch it with `naq-events tail`", "jobs_per_second", sim.cfg.rate)
			return nil
		},
	}
	if p.Shutdown != nil {
		p.Shutdown.Add(shutdown.Demo, stop)
	} else {
		hook.OnStop = stop
	}
	p.Lifecycle.Append(hook)
}
