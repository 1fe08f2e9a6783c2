package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestColors: tail and history colour their output only on a terminal
// (golang.org/x/term), and never with NO_COLOR set. /dev/null is a
// character device but no terminal: the old check coloured it.
func TestColors(t *testing.T) {
	ptmx, tty, err := pty.Open()
	require.NoError(t, err, "open a pseudo-terminal")
	t.Cleanup(func() { _ = ptmx.Close(); _ = tty.Close() })
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = devNull.Close() })
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	file, err := os.Create(t.TempDir() + "/out")
	require.NoError(t, err)
	t.Cleanup(func() { _ = file.Close() })

	env := func(noColor string) *Env {
		return &Env{Getenv: func(k string) string {
			if k == "NO_COLOR" {
				return noColor
			}
			return ""
		}}
	}
	assert.True(t, colors(env(""), tty), "a terminal")
	assert.False(t, colors(env("1"), tty), "a terminal, NO_COLOR=1")
	assert.False(t, colors(env(""), devNull), "/dev/null")
	assert.False(t, colors(env(""), w), "a pipe")
	assert.False(t, colors(env(""), file), "a file")
	assert.False(t, colors(env(""), &bytes.Buffer{}), "not a file")
}
