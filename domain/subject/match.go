package subject

import "strings"

// Match reports whether the literal subject subj is selected by the NATS
// subject filter filter, with the matching rules of a NATS server: tokens
// are separated by '.', a token "*" matches exactly one token, a final token
// ">" matches one or more tokens, and every other token must be equal, byte
// for byte (so "a*" is a literal token, and matching is case-sensitive).
//
// A malformed filter (an empty token, ">" before the last token) or a subject
// that is not a valid literal (an empty token, or a "*" or ">" token) matches
// nothing: a NATS server refuses them. Match is for in-memory stores and
// tests; it does not allocate.
func Match(filter, subj string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subj, ".")
		if ft == "" || !literalToken(st) {
			return false
		}
		switch ft {
		case ">":
			return !fmore && literalTail(srest, smore)
		case "*":
		default:
			if ft != st {
				return false
			}
		}
		if !fmore || !smore {
			return !fmore && !smore
		}
		filter, subj = frest, srest
	}
}

// literalToken reports whether tok can stand in a published subject.
func literalToken(tok string) bool {
	return tok != "" && tok != "*" && tok != ">"
}

// literalTail reports whether the rest of a subject after a token, if there
// is one (more), consists of literal tokens.
func literalTail(rest string, more bool) bool {
	for more {
		var tok string
		tok, rest, more = strings.Cut(rest, ".")
		if !literalToken(tok) {
			return false
		}
	}
	return true
}
