// Package linereader reads the lines of `naq-events log --stdin`: bounded,
// so that a huge line costs no more memory than the limit, and exact, so
// that every line of the input is either returned or reported too long.
package linereader

import (
	"bufio"
	"bytes"
	"errors"
)

// Read reads one line without its line ending ("\n", "\r\n", or a last
// "\r" at the end of the input). A line longer than max bytes (its ending
// not counted) is consumed and reported with tooLong, and line is nil. err
// is io.EOF at the end of the input (line holds a last line without
// newline, if any).
func Read(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			// Keep at most max bytes and a two-byte ending; more is too
			// long whatever the ending turns out to be.
			if len(line)+len(chunk) > max+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if !tooLong {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if len(line) > max {
				tooLong, line = true, nil
			}
		}
		return line, tooLong, err
	}
}
