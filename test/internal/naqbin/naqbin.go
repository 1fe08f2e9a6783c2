// Package naqbin builds the naq-events binary for a test package and runs
// it as a user would: client commands with a deadline, and `serve` as a
// child process that is stopped with SIGTERM. test/security, test/hostile
// and test/dashboard share it; its Buffer (safe for a process's writers
// and a test's readers) serves test/watch's captured logs too.
package naqbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Sentinels of Run and Proc, testable with errors.Is.
var (
	// ErrHung is returned by Run when the command outlived its deadline.
	ErrHung = errors.New("naqbin: command hung")
	// ErrExited is returned by Proc.WaitReady when the process exited
	// before it was ready.
	ErrExited = errors.New("naqbin: process exited")
	// ErrNotReady is returned by Proc.WaitReady when the deadline passed.
	ErrNotReady = errors.New("naqbin: process not ready in time")
	// ErrNotStopped is returned by Proc.Stop when the process outlived the
	// grace period after SIGTERM and was killed.
	ErrNotStopped = errors.New("naqbin: process did not stop after SIGTERM")
)

// Build builds ./naq-events of the cmd module at cmdDir (relative to the
// test's working directory, e.g. ../../cmd from test/<pkg>) into a new
// temporary directory named with prefix. It returns the binary's path and
// the directory, which the caller removes.
func Build(cmdDir, prefix string) (bin, dir string, err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", fmt.Errorf("naqbin: temporary directory: %w", err)
	}
	bin = filepath.Join(dir, "naq-events")
	build := exec.Command("go", "build", "-o", bin, "./naq-events")
	build.Dir = cmdDir
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", "", fmt.Errorf("build naq-events in %s: %w\n%s", cmdDir, err, out)
	}
	return bin, dir, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("naqbin: free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

// MinimalEnv is an environment holding only HOME=home, the PATH of the
// test and NO_COLOR=1, plus kv: the machine's NATS_* variables never leak
// in.
func MinimalEnv(home string, kv ...string) []string {
	return append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, kv...)
}

// CleanEnv is the test's environment without NATS_*, NAQ_* and NO_COLOR
// settings, plus extra.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "NAQ_") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Result is one finished run of a command.
type Result struct {
	Code           int // exit status
	Stdout, Stderr string
	Took           time.Duration
}

// Run runs name with args, env and stdin (nil for none) and kills it after
// timeout. A non-zero exit status is Result.Code, not an error. The error
// wraps ErrHung if the deadline (or ctx) ended the run, or is the reason
// the command could not be run; Result holds what was read either way.
func Run(ctx context.Context, timeout time.Duration, env []string, stdin io.Reader, name string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: so.String(), Stderr: se.String(), Took: time.Since(start)}
	if cerr := ctx.Err(); cerr != nil {
		return r, fmt.Errorf("%w: %s %v after %s: %w", ErrHung, name, args, timeout, cerr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		return r, fmt.Errorf("naqbin: run %s %v: %w", name, args, err)
	}
	return r, nil
}

// Buffer is a bytes.Buffer safe for a child process's writers and the
// test's readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Proc is a running child process, such as `naq-events serve`. Its owner
// calls Stop.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts bin with args and env, writing to stdout and stderr (which
// may be the same Buffer), and reaps it when it exits.
func Start(bin string, env []string, stdout, stderr io.Writer, args ...string) (*Proc, error) {
	p := &Proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("naqbin: start %s %v: %w", bin, args, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitCode is the exit status; valid once Done is closed.
func (p *Proc) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// WaitReady polls ready every 20 ms until it returns nil. It fails with
// ErrExited if the process exits first, or with ErrNotReady (wrapping
// ready's last error) once timeout has passed.
func (p *Proc) WaitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return ErrExited
		case <-time.After(20 * time.Millisecond): // polling with a deadline
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s (last: %w)", ErrNotReady, timeout, err)
		}
	}
}

// Stop sends SIGTERM, unless the process has exited already, and waits up
// to grace for it to exit; after that it kills it, waits, and returns
// ErrNotStopped.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%w within %s", ErrNotStopped, grace)
	}
}
