package linereader

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRead feeds arbitrary stdin to the line reader of `log --stdin` (Read),
// with a small buffer and limit so that long lines and buffer refills are
// common: every line comes back once, in order, without its line ending;
// a line is reported too long exactly when it is longer than the limit,
// and a line that is not too long is never longer than the limit.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"", "\n", "a\nb\n", "a\r\nb", "\r\n\r\n", "0123456789abcdefXYZ\nshort\n",
		"exactly-16-bytes\n", "seventeen-bytes!!\n", "x\r\r\n", "{\"a\":1}\n\x00\xff\n"} {
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, in []byte, limit uint8) {
		max := int(limit%64) + 1
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		want := bytes.Split(in, []byte("\n"))
		if len(bytes.TrimSuffix(want[len(want)-1], []byte("\r"))) == 0 {
			// The input ends with a newline (or is empty, or ends with a
			// lone "\r"): no last line.
			want = want[:len(want)-1]
		}
		for i := 0; ; i++ {
			line, tooLong, err := Read(r, max)
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("line %d: %v", i+1, err)
			}
			if errors.Is(err, io.EOF) && len(line) == 0 && !tooLong {
				if i != len(want) {
					t.Fatalf("got %d lines, want %d", i, len(want))
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("line %d %q beyond the %d lines of the input", i+1, line, len(want))
			}
			content := bytes.TrimSuffix(want[i], []byte("\r"))
			if tooLong != (len(content) > max) {
				t.Fatalf("line %d (%d bytes, limit %d): tooLong = %v", i+1, len(content), max, tooLong)
			}
			if !tooLong && !bytes.Equal(line, content) {
				t.Fatalf("line %d = %q, want %q", i+1, line, content)
			}
			if errors.Is(err, io.EOF) {
				if i+1 != len(want) {
					t.Fatalf("EOF after line %d of %d", i+1, len(want))
				}
				return
			}
		}
	})
}
