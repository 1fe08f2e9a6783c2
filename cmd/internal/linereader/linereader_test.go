package linereader

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type line struct {
	text    string
	tooLong bool
}

func readAll(t *testing.T, in string, max int) []line {
	t.Helper()
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []line
	for {
		l, tooLong, err := Read(r, max)
		if errors.Is(err, io.EOF) && len(l) == 0 && !tooLong {
			return got
		}
		got = append(got, line{string(l), tooLong})
		if errors.Is(err, io.EOF) {
			return got
		}
		require.NoError(t, err)
	}
}

// TestRead_Limit: the limit counts the line's bytes, not its ending. The
// reader before this package accepted lines of max+1 and max+2 bytes
// (found by FuzzRead; testdata/fuzz/FuzzRead/36e7fc58e4501a4e).
func TestRead_Limit(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   string
		want []line
	}{
		{"exactly max", x(20) + "\n", []line{{x(20), false}}},
		{"exactly max, CRLF", x(20) + "\r\n", []line{{x(20), false}}},
		{"max+1", x(21) + "\n", []line{{"", true}}},
		{"max+2 without newline", x(22), []line{{"", true}}},
		{"max+1 at EOF", x(21), []line{{"", true}}},
		{"long then short", x(100) + "\nok\n", []line{{"", true}, {"ok", false}}},
		{"bare CR kept inside", "a\rb\n", []line{{"a\rb", false}}},
		{"blank lines", "\n\r\n", []line{{"", false}, {"", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, readAll(t, tt.in, 20))
		})
	}
}
