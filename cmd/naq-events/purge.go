package main

import (
	"context"
	"fmt"

	"github.com/naq-go/events/domain/event"
)

func init() {
	register(command{
		name:    "purge",
		summary: "delete every event of a job (needs --yes)",
		usage:   "--yes [flags] JOB",
		run:     runPurge,
	})
}

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
	n, err := s.store.DeleteJob(ctx, job)
	if err != nil {
		return fmt.Errorf("purge job %s: %w", job, err)
	}
	if _, err := fmt.Fprintf(env.Stdout, "purged %s of job %s in %s\n", plural(n, "event"), job, where); err != nil {
		return fmt.Errorf("purged %s of job %s, but writing the result failed: %w", plural(n, "event"), job, err)
	}
	return nil
}
