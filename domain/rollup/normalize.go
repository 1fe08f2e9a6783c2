package rollup

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxMessageLen is the longest normalised failure message kept, in bytes;
// longer ones are cut at a rune boundary and end in "…".
const MaxMessageLen = 200

// NormalizeMessage makes failure messages that differ only in their
// values group together: quoted values ('…', "…", `…`) become '?', and
// every word that holds a digit (numbers, ids, UUIDs, addresses, durations
// such as 1.5s) becomes #. Runs of white space become one space, and the
// result is cut to MaxMessageLen bytes.
//
//	connection to 10.0.0.7:5432 refused after 3 tries → connection to # refused after # tries
//	user "bob" not found                              → user '?' not found
func NormalizeMessage(msg string) string {
	var b strings.Builder
	b.Grow(min(len(msg), MaxMessageLen+4))
	space := false
	i := 0
	for i < len(msg) && b.Len() < MaxMessageLen {
		r, size := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == '\'' || r == '"' || r == '`':
			if end := strings.IndexRune(msg[i+size:], r); end >= 0 {
				flush(&b, &space)
				b.WriteString("'?'")
				i += size + end + size
				continue
			}
			flush(&b, &space)
			b.WriteRune(r)
			i += size
		case unicode.IsSpace(r):
			space = b.Len() > 0
			i += size
		default:
			// A word: up to the next space or quote.
			j := i
			digit := false
			for j < len(msg) {
				r2, s2 := utf8.DecodeRuneInString(msg[j:])
				if unicode.IsSpace(r2) || r2 == '\'' || r2 == '"' || r2 == '`' {
					break
				}
				digit = digit || unicode.IsDigit(r2)
				j += s2
			}
			flush(&b, &space)
			word := msg[i:j]
			if digit {
				// Keep the punctuation that ends a clause ("3," → "#,").
				trail := strings.TrimRightFunc(word, func(r rune) bool { return r == ',' || r == ';' || r == ':' || r == ')' })
				b.WriteByte('#')
				b.WriteString(word[len(trail):])
			} else {
				b.WriteString(word)
			}
			i = j
		}
	}
	out := b.String()
	if len(out) > MaxMessageLen {
		cut := MaxMessageLen
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		return out[:cut] + "…"
	}
	if strings.TrimSpace(msg[i:]) != "" {
		return out + "…"
	}
	return out
}

func flush(b *strings.Builder, space *bool) {
	if *space {
		b.WriteByte(' ')
		*space = false
	}
}
