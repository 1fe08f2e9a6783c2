package event

import (
	"strings"
	"testing"
)

// TestASCIIWordChecksAgreeWithByteLoop pins the eight-bytes-at-a-time
// checks against the plain byte rules: every byte value 0..255 at every
// position of strings of 1..24 bytes (whole words, tails and both), with
// otherwise valid bytes around it, including the neighbours of each range
// edge (borrows and carries between bytes must not hide or invent a bad
// byte).
func TestASCIIWordChecksAgreeWithByteLoop(t *testing.T) {
	printable := func(s string) bool {
		for i := range len(s) {
			if c := s[i]; c <= ' ' || c > '~' {
				return false
			}
		}
		return true
	}
	token := func(s string) bool {
		for i := range len(s) {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
				return false
			}
		}
		return true
	}
	for _, fill := range []byte{'!', 'a', '~', '=', '/', '+', '?'} {
		for n := 1; n <= 24; n++ {
			for pos := range n {
				for c := range 256 {
					b := []byte(strings.Repeat(string(fill), n))
					b[pos] = byte(c)
					s := string(b)
					if got, want := printableASCII(s), printable(s); got != want {
						t.Fatalf("printableASCII(%q) = %v, want %v", s, got, want)
					}
					if got, want := plainASCIIToken(s), token(s); got != want {
						t.Fatalf("plainASCIIToken(%q) = %v, want %v", s, got, want)
					}
				}
			}
		}
	}
	// Two bad bytes side by side (a borrow from one into the next).
	for a := range 256 {
		for c := range 256 {
			s := "abcdef" + string([]byte{byte(a), byte(c)}) + "ghijklmn"
			if got, want := printableASCII(s), printable(s); got != want {
				t.Fatalf("printableASCII(%q) = %v, want %v", s, got, want)
			}
			if got, want := plainASCIIToken(s), token(s); got != want {
				t.Fatalf("plainASCIIToken(%q) = %v, want %v", s, got, want)
			}
		}
	}
}
