package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testEnv(env map[string]string) (*Env, *syncBuffer, *syncBuffer) {
	var out, errb syncBuffer
	return &Env{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	}, &out, &errb
}

// withCommand registers c for the test only.
func withCommand(t *testing.T, c command) {
	t.Helper()
	register(c)
	t.Cleanup(func() { delete(commands, c.name) })
}

func TestDispatch(t *testing.T) {
	withCommand(t, command{name: "zz-test", summary: "a test command", usage: "[flags] X",
		run: func(ctx context.Context, env *Env, args []string) error {
			fs := newFlags("zz-test")
			n := fs.Int("n", 0, "a number")
			if err := parseFlags(fs, env, args); err != nil {
				return err
			}
			switch *n {
			case 1:
				return usageErrorf("X is missing; give it as the first argument")
			case 2:
				return errors.New("first line\nsecond line")
			case 3:
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}})
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderrLine string // the one line on stderr; "" = none
	}{
		{"no args", nil, 2, "", ""},
		{"help", []string{"help"}, 0, "zz-test   a test command", ""},
		{"--help", []string{"--help"}, 0, "Commands:", ""},
		{"help command", []string{"help", "zz-test"}, 0, "Usage: naq-events zz-test [flags] X", ""},
		{"help unknown", []string{"help", "nope"}, 2, "", `naq-events help: unknown command "nope"; run ` + "`naq-events help`" + ` for the list`},
		{"unknown", []string{"nope"}, 2, "", `naq-events: unknown command "nope"; run ` + "`naq-events help`" + ` for the list`},
		{"ok", []string{"zz-test"}, 0, "", ""},
		{"-h", []string{"zz-test", "-h"}, 0, "-n int", ""},
		{"bad flag", []string{"zz-test", "--bogus"}, 2, "", "naq-events zz-test: flag provided but not defined: -bogus (see naq-events zz-test -h)"},
		{"bad flag value", []string{"zz-test", "-n", "x"}, 2, "", `naq-events zz-test: invalid value "x" for flag -n: parse error (see naq-events zz-test -h)`},
		{"usage error", []string{"zz-test", "-n", "1"}, 2, "", "naq-events zz-test: X is missing; give it as the first argument"},
		{"runtime error on one line", []string{"zz-test", "-n", "2"}, 1, "", "naq-events zz-test: first line; second line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, out, errb := testEnv(nil)
			code := run(context.Background(), env, tt.args)
			assert.Equal(t, tt.code, code)
			assert.Contains(t, out.String(), tt.stdout)
			if tt.stderrLine != "" {
				assert.Equal(t, tt.stderrLine+"\n", errb.String())
			} else if tt.code == 0 {
				assert.Empty(t, errb.String())
			}
		})
	}
	t.Run("interrupted is a clean exit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		env, _, errb := testEnv(nil)
		done := make(chan int)
		go func() { done <- run(ctx, env, []string{"zz-test", "-n", "3"}) }()
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code)
			assert.Empty(t, errb.String())
		case <-time.After(10 * time.Second):
			t.Fatal("command did not end on cancel")
		}
	})
}

func TestRegisterPanics(t *testing.T) {
	assert.Panics(t, func() { register(command{name: "serve", run: runServe}) }, "duplicate")
	assert.Panics(t, func() { register(command{name: "x"}) }, "no run")
	require.Contains(t, commands, "serve")
}

// failWriter fails every write, like stdout redirected to a full disk.
type failWriter struct{}

var errDiskFull = errors.New("no space left on device")

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// A result that cannot be written is a failure, not a silent exit 0.
func TestOutputWriteErrorFails(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"help", []string{"help"}},
		{"command help", []string{"purge", "-h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _, errb := testEnv(nil)
			env.Stdout = failWriter{}
			code := run(context.Background(), env, tt.args)
			assert.Equal(t, exitError, code)
			assert.Contains(t, errb.String(), "write")
			assert.Contains(t, errb.String(), errDiskFull.Error())
		})
	}
}

// TestCommandList: the one list of commands is what run dispatches and help
// lists, each name once, each with a summary and usage.
func TestCommandList(t *testing.T) {
	env, out, _ := testEnv(nil)
	require.Equal(t, 0, run(context.Background(), env, []string{"help"}))
	var names []string
	for _, c := range commandList() {
		names = append(names, c.name)
		assert.NotEmpty(t, c.summary, c.name)
		assert.NotEmpty(t, c.usage, c.name)
		assert.Contains(t, out.String(), fmt.Sprintf("  %-9s %s\n", c.name, c.summary))
		assert.Equal(t, c.summary, commands[c.name].summary, "indexed: %s", c.name)
	}
	assert.ElementsMatch(t, []string{"serve", "log", "emit", "tail", "history", "stats", "purge", "bench", "demo"}, names)
	assert.Len(t, commands, len(names), "no command beyond the list")
}
