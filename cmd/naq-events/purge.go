package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/naq-go/events/app/natsconn"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

func runPurge(ctx context.Context, env *Env, args []string) error {
	c := newClient("purge", env)
	yes := c.fs.Bool("yes", false, "confirm: delete the job's events for good")
	pos, err := c.parseArgs(env, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("want one job id, got %d arguments; e.g. naq-events purge --yes order-42", len(pos))
	}
	job := pos[0]
	if err := event.CheckToken("job id", job); err != nil {
		return usageErrorf("%v", err)
	}
	where := fmt.Sprintf("environment %q, service %q", c.cfg.Environment, c.cfg.Service)
	if !*yes {
		return usageErrorf("purge deletes every event of job %s in %s for good; add --yes to confirm", job, where)
	}

	s, err := c.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	since := time.Now()
	n, err := s.store.DeleteJob(ctx, job)
	if err != nil {
		return fmt.Errorf("purge job %s: %w", job, natsconn.Explain(s.nc, since, err))
	}
	if n == 0 {
		// Nothing here: say where the job is, if anywhere (purge never
		// deletes anywhere but where it was told).
		if locs, err := ports.FindJob(ctx, s.store, job); err == nil && len(locs) > 0 {
			cands := make([]string, len(locs))
			for i, l := range locs {
				cands[i] = fmt.Sprintf("--environment %s --service %s (%s)", l.Environment, l.Service, plural(l.Events, "event"))
			}
			printInfo(env.Stderr, "purge: job %s has no events in %s, but has some elsewhere; purge them with %s\n", job, where, strings.Join(cands, ", or "))
		}
	}
	if _, err := fmt.Fprintf(env.Stdout, "purged %s of job %s in %s\n", plural(n, "event"), job, where); err != nil {
		return fmt.Errorf("purged %s of job %s, but writing the result failed: %w", plural(n, "event"), job, err)
	}
	return nil
}
