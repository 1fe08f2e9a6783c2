package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

type benchOpts struct {
	events    int
	duration  time.Duration
	size      int
	producers int
	jobs      int
	keep      bool
}

func runBench(ctx context.Context, env *Env, args []string) error {
	c := newClient("bench", env)
	var o benchOpts
	c.fs.IntVar(&o.events, "events", 100_000, "log `N` events (ignored with --duration)")
	c.fs.DurationVar(&o.duration, "duration", 0, "log for this long instead of a number of events")
	c.fs.IntVar(&o.size, "size", 0, "pad each event with a detail of `BYTES` bytes")
	c.fs.IntVar(&o.producers, "producers", 4, "goroutines logging at once")
	c.fs.IntVar(&o.jobs, "jobs", 100, "distinct job ids the events are spread over")
	c.fs.BoolVar(&o.keep, "keep", false, "keep the bench events instead of purging them at the end")
	if err := c.parse(env, args); err != nil {
		return err
	}
	switch {
	case len(c.fs.Args()) > 0:
		return usageErrorf("unexpected argument %q; bench takes only flags", c.fs.Arg(0))
	case o.duration < 0:
		return usageErrorf("--duration %s: want a positive duration such as 10s", o.duration)
	case o.duration == 0 && o.events < 1:
		return usageErrorf("--events %d: want at least 1", o.events)
	case o.size < 0 || o.size > 512<<10:
		return usageErrorf("--size %d: want 0 to %d bytes (a NATS message holds 1 MiB by default)", o.size, 512<<10)
	case o.producers < 1 || o.producers > 1024:
		return usageErrorf("--producers %d: want 1 to 1024", o.producers)
	case o.jobs < 1 || o.jobs > 100_000:
		return usageErrorf("--jobs %d: want 1 to 100000", o.jobs)
	}

	// Every run writes under a service of its own, so that counting and
	// purging its events are one subject-filtered call each, whatever the
	// number of jobs.
	id := event.NewID()
	runID := strings.ToLower(id[len(id)-6:])
	c.cfg.Service = benchService(c.cfg.Service, runID)
	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	return bench(ctx, env, c, s, o, runID)
}

// benchService is the service token of a bench run's events: the
// configured service with "-bench-" and the run id.
func benchService(svc, runID string) string { return svc + "-bench-" + runID }

func bench(ctx context.Context, env *Env, c *client, s *session, o benchOpts, runID string) error {
	printInfo(env.Stderr, "bench: writing under environment %s, service %s\n", c.cfg.Environment, c.cfg.Service)
	jobIDs := make([]string, o.jobs)
	for i := range jobIDs {
		jobIDs[i] = fmt.Sprintf("bench-%s-%05d", runID, i)
	}
	pad := strings.Repeat("x", o.size)
	lg := c.newLogger(s)

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if o.duration > 0 {
		runCtx, cancelRun = context.WithTimeout(ctx, o.duration)
		defer cancelRun()
	}

	start := time.Now()
	prog := startProgress(env, lg, o, start)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range o.producers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				k := int(next.Add(1)) - 1
				if o.duration == 0 && k >= o.events {
					return
				}
				if err := lg.LogCtx(runCtx, benchEvent(jobIDs[k%len(jobIDs)], k, pad)); err != nil {
					if runCtx.Err() == nil {
						errOnce.Do(func() { firstErr = err; cancelRun() })
					}
					return
				}
			}
		})
	}
	wg.Wait()
	closeErr := closeLogger(ctx, lg)
	elapsed := time.Since(start)
	prog.stop()

	st := lg.Stats()
	stored, countErr := countBench(ctx, s, c)
	rate := float64(st.Stored) / elapsed.Seconds()
	_, outErr := fmt.Fprintf(env.Stdout, "bench: %d events of %d B padding by %d producers in %s: %.0f events/s; stored %s; logger: logged %d stored %d dropped %d retried %d batches %d failed batches %d\n",
		st.Stored, o.size, o.producers, elapsed.Round(time.Millisecond), rate, stored,
		st.Logged, st.Stored, st.Dropped.Total(), st.Retried, st.Batches, st.FailedBatches)

	var problems []error
	if outErr != nil {
		problems = append(problems, fmt.Errorf("write the result: %w", outErr))
	}
	if firstErr != nil {
		problems = append(problems, fmt.Errorf("logging stopped: %w", firstErr))
	}
	if closeErr != nil {
		problems = append(problems, closeErr)
	}
	if d := st.Dropped.Total(); d > 0 {
		problems = append(problems, fmt.Errorf("the logger dropped %d events (%+v); see the log above", d, st.Dropped))
	}
	if st.Stored != st.Logged {
		problems = append(problems, fmt.Errorf("logged %d events but stored %d", st.Logged, st.Stored))
	}
	if countErr != nil {
		problems = append(problems, countErr)
	}
	if !o.keep {
		if n, err := purgeBench(ctx, s, c); err != nil {
			problems = append(problems, err)
		} else {
			printInfo(env.Stderr, "bench: purged the %d bench events (--keep keeps them)\n", n)
		}
	}
	if err := ctx.Err(); err != nil && len(problems) == 0 {
		return fmt.Errorf("bench interrupted: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("bench: %w", errors.Join(problems...))
	}
	return nil
}

var benchTypes = [...]event.JobEventType{event.TypeEnqueued, event.TypeStarted, event.TypeCompleted}

// benchEvent is the k-th bench event: enqueued, started and completed in
// turn, with the padding as a detail.
func benchEvent(jobID string, k int, pad string) event.JobEvent {
	t := benchTypes[k%len(benchTypes)]
	ev := event.New(jobID, t, event.WithQueue("bench"), event.WithWorker("bench-worker", "bench"),
		event.WithDetail("seq", k))
	if t == event.TypeCompleted {
		event.WithDuration(time.Duration(k%1000) * time.Millisecond)(&ev)
	}
	if pad != "" {
		ev.Details["pad"] = pad
	}
	return ev
}

// countBench counts the bench events the stream holds, as a check that
// the logger's acknowledgements mean what they say: one count of the run's
// own service, answered from the server's subject index.
func countBench(ctx context.Context, s *session, c *client) (string, error) {
	n, err := s.store.Count(ctx, event.Filter{Environment: c.cfg.Environment, Service: c.cfg.Service})
	if err != nil {
		return "?", fmt.Errorf("count the stored bench events: %w", err)
	}
	return fmt.Sprintf("%d (counted in the stream)", n), nil
}

// purgeBench removes the run's events: one purge of its own service.
func purgeBench(ctx context.Context, s *session, c *client) (int, error) {
	ctx = context.WithoutCancel(ctx) // purge what was written even after Ctrl-C
	d, ok := s.store.(ports.ServiceDeleter)
	if !ok {
		return 0, fmt.Errorf("purge the bench events: the %T store cannot delete a service", s.store)
	}
	n, err := d.DeleteService(ctx)
	if err != nil {
		return 0, fmt.Errorf("purge the bench events of service %s: %w; remove them with nats stream purge --subject 'naq.events.%s.%s.>'",
			c.cfg.Service, err, c.cfg.Environment, c.cfg.Service)
	}
	return n, nil
}

// progress reports a running bench on stderr: a bar redrawn in place on a
// terminal, a plain line every few seconds otherwise.
type progress struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startProgress(env *Env, lg *logger.Logger, o benchOpts, start time.Time) *progress {
	ctx, cancel := context.WithCancel(context.Background())
	p := &progress{cancel: cancel, done: make(chan struct{})}
	tty := isTerminal(env.Stderr)
	every := 2 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if tty {
					drawProgress(env.Stderr, tty, lg.Stats().Stored, o, time.Since(start))
					printInfo(env.Stderr, "\n")
				}
				return
			case <-t.C:
				drawProgress(env.Stderr, tty, lg.Stats().Stored, o, time.Since(start))
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	p.cancel()
	<-p.done
}

func drawProgress(w io.Writer, tty bool, stored uint64, o benchOpts, elapsed time.Duration) {
	frac := float64(stored) / float64(o.events)
	if o.duration > 0 {
		frac = elapsed.Seconds() / o.duration.Seconds()
	}
	frac = min(max(frac, 0), 1)
	rate := float64(stored) / elapsed.Seconds()
	if !tty {
		printInfo(w, "bench: %d events stored, %.0f%%, %.0f events/s\n", stored, frac*100, rate)
		return
	}
	const width = 30
	full := int(frac * width)
	bar := strings.Repeat("█", full) + strings.Repeat("░", width-full)
	printInfo(w, "\r%s %3.0f%%  %d stored  %.0f events/s ", bar, frac*100, stored, rate)
}
