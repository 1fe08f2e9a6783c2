package event

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTokenLen is the longest job id, environment or service name, in bytes.
const MaxTokenLen = 255

// CheckToken reports whether value can stand as one token of a NATS subject:
// non-empty, at most MaxTokenLen bytes, valid UTF-8 without U+FFFD, and free of '.', '*', '>'
// (which would split the subject or act as wildcards), white space and control
// characters. The error wraps ErrInvalid and names field and value.
//
// naq-events rejects such values rather than escaping them, so that a subject
// written by any producer (this library or the Python design) means the same
// thing to every reader; see docs/subjects.md.
func CheckToken(field, value string) error {
	if value == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	if len(value) > MaxTokenLen {
		return fmt.Errorf("%w: %s %.32q… is %d bytes long, the limit is %d", ErrInvalid, field, value, len(value), MaxTokenLen)
	}
	if plainASCIIToken(value) {
		return nil
	}
	for i, r := range value {
		switch {
		case r == '.' || r == '*' || r == '>':
			return fmt.Errorf("%w: %s %q contains %q at byte %d; '.', '*' and '>' are not allowed in a NATS subject token", ErrInvalid, field, value, r, i)
		case r == utf8.RuneError && !strings.HasPrefix(value[i:], "\uFFFD"):
			return fmt.Errorf("%w: %s %q is not valid UTF-8 at byte %d", ErrInvalid, field, value, i)
		case r == utf8.RuneError:
			// A correctly encoded U+FFFD is valid UTF-8, but nats-server's
			// file store takes a stored subject containing it for corruption
			// and rebuilds its index on restart; keep it out of subjects.
			return fmt.Errorf("%w: %s %q contains U+FFFD (replacement character) at byte %d", ErrInvalid, field, value, i)
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return fmt.Errorf("%w: %s %q contains white space or a control character at byte %d", ErrInvalid, field, value, i)
		}
	}
	return nil
}
