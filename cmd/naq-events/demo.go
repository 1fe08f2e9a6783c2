package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/naq-go/events/app/demo"
	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
)

func runDemo(ctx context.Context, env *Env, args []string) error {
	c := newClient("demo", env)
	var (
		cfg    demo.Config
		queues listFlag
		every  int
	)
	c.fs.Float64Var(&cfg.Rate, "rate", demo.DefaultRate, "jobs per second")
	c.fs.IntVar(&cfg.Jobs, "jobs", 0, "stop after `N` jobs have finished; 0 runs until Ctrl-C")
	c.fs.Int64Var(&cfg.Seed, "seed", 0, "random seed for a repeatable run; 0 picks one")
	c.fs.Float64Var(&cfg.FailureRate, "failure-rate", demo.DefaultFailureRate, "chance that one run of a job fails, 0 to 1")
	c.fs.IntVar(&cfg.MaxRetries, "max-retries", demo.DefaultMaxRetries, "retries of a failed job")
	c.fs.IntVar(&cfg.Workers, "workers", demo.DefaultWorkers, "number of simulated workers")
	c.fs.Var(&queues, "queues", "queue names, comma separated (default "+strings.Join(demo.DefaultQueues, ",")+")")
	c.fs.Float64Var(&cfg.Speed, "speed", demo.DefaultSpeed, "simulated seconds per real second; 10 runs lifecycles ten times faster")
	c.fs.IntVar(&every, "every", 100, "print a progress line every `N` finished jobs")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usageErrorf("unexpected argument %q; demo takes only flags", c.fs.Arg(0))
	case !(cfg.Rate > 0) || cfg.Rate > 100_000:
		return usageErrorf("--rate %v: want more than 0 and at most 100000 jobs per second", cfg.Rate)
	case cfg.Jobs < 0:
		return usageErrorf("--jobs %d: want 0 (no limit) or more", cfg.Jobs)
	case !(cfg.FailureRate >= 0 && cfg.FailureRate <= 1):
		return usageErrorf("--failure-rate %v: want a chance from 0 to 1", cfg.FailureRate)
	case cfg.MaxRetries < 0:
		return usageErrorf("--max-retries %d: want 0 or more", cfg.MaxRetries)
	case cfg.Workers < 1:
		return usageErrorf("--workers %d: want at least 1", cfg.Workers)
	case !(cfg.Speed > 0):
		return usageErrorf("--speed %v: want more than 0", cfg.Speed)
	case every < 1:
		return usageErrorf("--every %d: want at least 1", every)
	}
	cfg.Queues = queues

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	lg := c.newLogger(s)

	opts := []demo.Option{
		demo.WithRate(cfg.Rate), demo.WithJobs(cfg.Jobs), demo.WithFailureRate(cfg.FailureRate),
		demo.WithMaxRetries(cfg.MaxRetries), demo.WithWorkers(cfg.Workers), demo.WithQueues(cfg.Queues...),
		demo.WithSpeed(cfg.Speed),
		demo.WithProgress(func(st demo.Stats) {
			if st.JobsFinished%every == 0 {
				printInfo(env.Stdout, "demo: %s\n", demoSummary(st))
			}
		}),
	}
	if cfg.Seed != 0 {
		opts = append(opts, demo.WithSeed(cfg.Seed))
	}
	sim := demo.New(&blockingLogger{ctx: ctx, lg: lg}, opts...)
	printInfo(env.Stdout, "demo: %g jobs/s into %s (environment %s, service %s); watch them with `naq-events tail`, stop with Ctrl-C\n",
		cfg.Rate, natsconn.Redact(natsconn.ClientURL(c.cfg.NATS)), c.cfg.Environment, c.cfg.Service)
	runErr := sim.Run(ctx)
	closeErr := closeLogger(ctx, lg)
	st, ls := sim.Stats(), lg.Stats()
	_, outErr := fmt.Fprintf(env.Stdout, "demo: done: %s; stored %d\n", demoSummary(st), ls.Stored)

	switch {
	case runErr != nil && !errors.Is(runErr, context.Canceled):
		return runErr
	case closeErr != nil:
		return fmt.Errorf("not every demo event was stored: %w", closeErr)
	case ls.Dropped.Total() > 0:
		return fmt.Errorf("the logger dropped %d demo events (%+v)", ls.Dropped.Total(), ls.Dropped)
	case outErr != nil:
		return fmt.Errorf("write the result: %w", outErr)
	}
	return runErr // nil, or the interruption (exit status 0)
}

func demoSummary(st demo.Stats) string {
	return fmt.Sprintf("%d jobs finished (%d completed, %d failed, %d cancelled, %d expired), %d events",
		st.JobsFinished, st.Completed, st.Failed, st.Cancelled, st.Expired, st.Events)
}

// blockingLogger makes the simulator wait for room in the logger's buffer
// (the Block policy) instead of failing, until ctx ends.
type blockingLogger struct {
	ctx context.Context
	lg  *logger.Logger
}

func (b *blockingLogger) Log(ev event.JobEvent) error { return b.lg.LogCtx(b.ctx, ev) }

var _ demo.EventLogger = (*blockingLogger)(nil)
