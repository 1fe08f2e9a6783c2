// Command naq-events is the naq-events service and CLI: `serve` runs the HTTP
// API, metrics and the event logger on NATS JetStream (an embedded server by
// default); the other commands log, tail, query and purge events.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// commandList is every command of naq-events, in one place. Each run
// function lives in the file named after its command.
func commandList() []command {
	return []command{
		{name: "serve", usage: "[flags]", run: runServe,
			summary: "run the service: HTTP API, live stream, metrics and the event logger (embedded NATS by default)"},
		{name: "log", usage: logUsage, run: logCommand("log"), summary: logSummary},
		{name: "emit", usage: logUsage, run: logCommand("emit"), summary: logSummary},
		{name: "tail", usage: "[flags]", run: runTail,
			summary: "follow events as they are stored, with filters; --json for machines"},
		{name: "history", usage: "[flags] JOB", run: runHistory,
			summary: "show a job's timeline with the time between its events"},
		{name: "stats", usage: "[flags]", run: runStats,
			summary: "counts by type, failure rate and duration percentiles over a window"},
		{name: "purge", usage: "--yes [flags] JOB", run: runPurge,
			summary: "delete every event of a job (needs --yes)"},
		{name: "bench", usage: "[flags]", run: runBench,
			summary: "drive the logger against the store and print events/s"},
		{name: "demo", usage: "[flags]", run: runDemo,
			summary: "simulate a job queue (retries, failures, schedules) logging to a running serve"},
	}
}

// The index is filled from commandList here, not in the declaration of
// commands, because the run functions print their help from the index (a
// package-level initializer would be an initialization cycle).
func init() {
	for _, c := range commandList() {
		register(c)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default behaviour so a second
		// Ctrl-C kills a shutdown that hangs.
		<-ctx.Done()
		stop()
	}()
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}
