package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Env is what a command may touch of the process, so tests can run commands
// in-process with buffers and a fake environment.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// command is one subcommand: `naq-events <name> [flags] [args]`.
type command struct {
	name    string // as typed on the command line
	summary string // one line for the command list
	usage   string // e.g. "[flags] JOB"; shown as "naq-events <name> <usage>"
	// run parses args itself (see newFlags and parseFlags) and returns an
	// error whose text is one line saying what is wrong and how to fix it.
	// Wrap bad flags or arguments with usageErrorf (exit status 2).
	run func(ctx context.Context, env *Env, args []string) error
}

// commands indexes the commands by name: those of commandList (main.go),
// and in tests their own.
var commands = map[string]command{}

// register adds c to the index. It panics
// on an empty or duplicate name or a nil run, which is a programming error.
func register(c command) {
	switch {
	case c.name == "" || c.run == nil:
		panic(fmt.Sprintf("register: command %q needs a name and a run function", c.name))
	case commands[c.name].run != nil:
		panic(fmt.Sprintf("register: command %q registered twice", c.name))
	}
	commands[c.name] = c
}

// usageError marks a bad flag or argument: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns an error that makes the command exit with status 2.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// newFlags returns a flag set for the named command that reports problems
// through parseFlags instead of printing them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args into fs. -h or --help prints the command's usage
// and flags to env.Stdout and returns flag.ErrHelp (exit status 0); a bad
// flag returns a usage error naming it (exit status 2).
func parseFlags(fs *flag.FlagSet, env *Env, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if err := printCommandHelp(env.Stdout, fs.Name(), fs); err != nil {
			return fmt.Errorf("write help: %w", err)
		}
		return flag.ErrHelp
	default:
		return usageErrorf("%v (see naq-events %s -h)", err, fs.Name())
	}
}

// printCommandHelp writes the usage of the named command and, if fs is not
// nil, its flags. It returns the first write error.
func printCommandHelp(out io.Writer, name string, fs *flag.FlagSet) error {
	w := bufio.NewWriter(out) // keeps the first write error for Flush
	c := commands[name]
	fmt.Fprintf(w, "Usage: naq-events %s %s\n\n%s\n", name, c.usage, c.summary)
	if fs != nil {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return w.Flush()
}

// printHelp writes the list of commands. It returns the first write error.
func printHelp(out io.Writer) error {
	w := bufio.NewWriter(out) // keeps the first write error for Flush
	fmt.Fprint(w, "naq-events records the lifecycle events of background jobs on NATS JetStream.\n\n")
	fmt.Fprint(w, "Usage: naq-events <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun `naq-events <command> -h` for the flags of a command.\n")
	fmt.Fprint(w, "Start with `naq-events serve --demo`, then `naq-events tail` in another terminal.\n")
	return w.Flush()
}

// printInfo writes a line that is not the command's result: a diagnostic on
// stderr, a progress report, a banner. A failed write there cannot be
// reported anywhere better and changes nothing the command does; the exit
// status still tells the outcome. Results (what a script reads from stdout)
// are written with checked writes instead.
func printInfo(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run dispatches args (without the program name) and returns the exit
// status. Every failure writes exactly one line to env.Stderr:
// "naq-events <cmd>: <what is wrong and how to fix it>".
func run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		_ = printHelp(env.Stderr) // a diagnostic, like printInfo; exit status 2 says it
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if _, ok := commands[rest[0]]; ok {
				// The command's own -h lists its flags.
				return run(ctx, env, []string{rest[0], "-h"})
			}
			printInfo(env.Stderr, "naq-events help: unknown command %q; run `naq-events help` for the list\n", rest[0])
			return exitUsage
		}
		if err := printHelp(env.Stdout); err != nil {
			printInfo(env.Stderr, "naq-events help: write output: %v\n", err)
			return exitError
		}
		return exitOK
	}
	c, ok := commands[name]
	if !ok {
		printInfo(env.Stderr, "naq-events: unknown command %q; run `naq-events help` for the list\n", name)
		return exitUsage
	}
	err := c.run(ctx, env, rest)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// Interrupted by SIGINT/SIGTERM: the user asked for it.
		return exitOK
	case errors.As(err, &ue):
		printInfo(env.Stderr, "naq-events %s: %s\n", name, oneLine(err.Error()))
		return exitUsage
	default:
		printInfo(env.Stderr, "naq-events %s: %s\n", name, oneLine(err.Error()))
		return exitError
	}
}

// oneLine folds a multi-line message (errors.Join) onto one line.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}
