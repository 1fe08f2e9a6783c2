package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/adapters/natsembed"
	"github.com/naq-go/events/app/config"
	"github.com/naq-go/events/app/storage"
	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// testServer is an embedded nats-server for the commands of one test, and
// a store on it to check what they did.
type testServer struct {
	url   string
	nc    *nats.Conn
	store ports.Store
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	srv, err := natsembed.Start(natsembed.WithPort(-1))
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	// The commands' own defaults, so that the stream is the same.
	store, err := storage.Open(t.Context(), config.Default(), nc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return &testServer{url: srv.ClientURL(), nc: nc, store: store}
}

// result is what a command run in-process did.
type result struct {
	code           int
	stdout, stderr string
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env returns an Env pointing the commands at the server, with stdin.
func (ts *testServer) env(stdin string, stdout, stderr *syncBuffer) *Env {
	return &Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: stdout,
		Stderr: stderr,
		Getenv: func(k string) string {
			if k == "NATS_URL" {
				return ts.url
			}
			return ""
		},
	}
}

// run runs one command in-process to its end.
func (ts *testServer) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(t.Context(), ts.env(stdin, &stdout, &stderr), args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// job returns the stored events of a job.
func (ts *testServer) job(t *testing.T, id string) []event.JobEvent {
	t.Helper()
	evs, err := ts.store.Job(t.Context(), id, event.Page{})
	require.NoError(t, err)
	return evs
}

// consumers returns how many consumers the events stream has: a running
// tail has one.
func (ts *testServer) consumers(t *testing.T) int {
	t.Helper()
	js, err := jetstream.New(ts.nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), config.Default().Stream.Name)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Consumers
}

// jsonLine is one v1.0 wire document for stdin, at time ts.
func jsonLine(t *testing.T, ev event.JobEvent) string {
	t.Helper()
	b, err := ev.AppendJSON(nil)
	require.NoError(t, err)
	return string(b)
}

// requireOneLine asserts that s is exactly one line and returns it.
func requireOneLine(t *testing.T, s string) string {
	t.Helper()
	require.True(t, strings.HasSuffix(s, "\n"), "ends with a newline: %q", s)
	require.Equal(t, 1, strings.Count(s, "\n"), "one line: %q", s)
	return s
}

func TestUnreachableServer(t *testing.T) {
	for _, cmd := range [][]string{
		{"log", "--job", "a", "--type", "started"},
		{"tail"},
		{"history", "a"},
		{"stats"},
		{"purge", "--yes", "a"},
		{"bench", "--events", "1"},
		{"demo", "--jobs", "1"},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			var stdout, stderr syncBuffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			args := append(cmd[:1:1], append([]string{"--server", "nats://127.0.0.1:1", "--connect-timeout", "2s"}, cmd[1:]...)...)
			code := run(t.Context(), env, args)
			assert.Equal(t, exitError, code)
			line := requireOneLine(t, stderr.String())
			assert.Contains(t, line, "naq-events "+cmd[0]+": ")
			assert.Contains(t, line, "nats://127.0.0.1:1")
			assert.Contains(t, line, "--server", "says how to fix it")
		})
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"log", "--nope"}, "-nope"},
		{[]string{"log", "--job", "a"}, "--type"},
		{[]string{"log", "--job", "a.b", "--type", "started"}, `"a.b"`},
		{[]string{"log", "--job", "a", "--type", "begun"}, `"begun"`},
		{[]string{"log", "--tag", "novalue", "--job", "a", "--type", "started"}, "key=value"},
		{[]string{"log", "--job", "a", "-"}, "--job"},
		{[]string{"tail", "--type", "started,begun"}, `"begun"`},
		{[]string{"tail", "--history", "--since", "1m"}, "--since"},
		{[]string{"tail", "--count", "-1"}, "--count"},
		{[]string{"history"}, "one job id"},
		{[]string{"history", "a", "b"}, "one job id"},
		{[]string{"stats", "--window", "0s"}, "--window"},
		{[]string{"purge", "a"}, "--yes"},
		{[]string{"bench", "--producers", "0"}, "--producers"},
		{[]string{"demo", "--rate", "0"}, "--rate"},
		{[]string{"demo", "--failure-rate", "2"}, "--failure-rate"},
		{[]string{"stats", "--environment", "a.b"}, "--environment"},
		{[]string{"log", "--max-reconnects", "x"}, "max-reconnects"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr syncBuffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			code := run(t.Context(), env, tt.args)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, requireOneLine(t, stderr.String()), tt.want)
			assert.Empty(t, stdout.String())
		})
	}
}

func TestEnvironmentVariableErrors(t *testing.T) {
	var stdout, stderr syncBuffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		if k == "NAQ_CONNECT_TIMEOUT" {
			return "soon"
		}
		return ""
	}}
	assert.Equal(t, exitUsage, run(t.Context(), env, []string{"stats"}))
	assert.Contains(t, requireOneLine(t, stderr.String()), `NAQ_CONNECT_TIMEOUT="soon"`)

	// A flag overrides the bad value: the command gets as far as connecting.
	stderr.reset()
	code := run(t.Context(), env, []string{"stats", "--connect-timeout", "1s", "--server", "nats://127.0.0.1:1"})
	assert.Equal(t, exitError, code)
	assert.Contains(t, requireOneLine(t, stderr.String()), "cannot reach NATS")
}

func TestHelp(t *testing.T) {
	for _, name := range []string{"log", "emit", "tail", "history", "stats", "purge", "bench", "demo"} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
			assert.Equal(t, exitOK, run(t.Context(), env, []string{name, "-h"}))
			assert.Contains(t, stdout.String(), "Usage: naq-events "+name)
			assert.Contains(t, stdout.String(), "-server", "the NATS flags are there")
		})
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, 20*time.Second, what, cond)
}

// eventuallyWithin polls cond until it holds or d passes.
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		select {
		case <-t.Context().Done():
			require.FailNow(t, "test ended waiting for "+what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// startCmd runs a command in the background; cancel interrupts it as
// Ctrl-C does, wait returns its result.
func (ts *testServer) startCmd(t *testing.T, args ...string) (stdout *syncBuffer, cancel context.CancelFunc, wait func() result) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, ts.env("", &out, &errb), args) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &out, cancel, func() result {
		select {
		case code := <-done:
			done <- code // for the cleanup
			return result{code: code, stdout: out.String(), stderr: errb.String()}
		case <-time.After(30 * time.Second):
			cancel()
			require.FailNow(t, fmt.Sprintf("%v did not end; stdout %q", args, out.String()))
			return result{}
		}
	}
}

func TestClientKeepsStreamLimits(t *testing.T) {
	ts := startServer(t)
	js, err := jetstream.New(ts.nc)
	require.NoError(t, err)
	info := func() jetstream.StreamConfig {
		s, err := js.Stream(t.Context(), "naq_events")
		require.NoError(t, err)
		return s.CachedInfo().Config
	}
	// As a serve with --max-age 1h --max-msgs 0 would have made it.
	cfg := info()
	cfg.MaxAge, cfg.MaxMsgs, cfg.Duplicates = time.Hour, -1, time.Minute
	_, err = js.UpdateStream(t.Context(), cfg)
	require.NoError(t, err)

	r := ts.run(t, "", "log", "--job", "k1", "--type", "started")
	require.Equal(t, exitOK, r.code, r.stderr)
	got := info()
	assert.Equal(t, time.Hour, got.MaxAge, "a client with default flags keeps the stream's limits")
	assert.Equal(t, int64(-1), got.MaxMsgs)
	assert.Equal(t, time.Minute, got.Duplicates)

	r = ts.run(t, "", "log", "--max-age", "2h", "--job", "k1", "--type", "completed")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 2*time.Hour, info().MaxAge, "a flag given on the command line wins")
}
