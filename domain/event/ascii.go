package event

// Byte checks eight bytes at a time (SWAR) for the ids and tokens Validate
// looks at on every Log: each word answers "does any byte fall outside the
// allowed set?" exactly (the classic has-less / has-more / has-zero bit
// tricks; a borrow or carry can only come from a byte that is itself
// flagged), and only a word that fails goes back to the byte loop that
// names the offending byte.

const (
	lsb = 0x0101010101010101 // 0x01 in every byte
	msb = 0x8080808080808080 // 0x80 in every byte
)

// word8 is s[i:i+8] as a little-endian word; the compiler merges the loads.
func word8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// outsidePrintable is non-zero iff some byte of x is ≤ 0x20 (space and
// control characters) or ≥ 0x7F (DEL and non-ASCII).
func outsidePrintable(x uint64) uint64 {
	below := (x - lsb*0x21) &^ x       // a byte < 0x21 sets its top bit (exact for "any")
	above := (x + lsb*(0x7f-0x7e)) | x // a byte > 0x7E sets its top bit, no carry out
	return (below | above) & msb
}

// hasByte is non-zero iff some byte of x equals c.
func hasByte(x uint64, c byte) uint64 {
	y := x ^ (lsb * uint64(c))
	return (y - lsb) &^ y & msb
}

// printableASCII reports whether every byte of s is printable ASCII other
// than space (0x21 to 0x7E), the rule of CheckID.
func printableASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if outsidePrintable(word8(s, i)) != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// plainASCIIToken reports whether s is made only of printable ASCII other
// than space, '.', '*' and '>': the usual job id, checked without decoding
// runes.
func plainASCIIToken(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := word8(s, i)
		if outsidePrintable(x)|hasByte(x, '.')|hasByte(x, '*')|hasByte(x, '>') != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' {
			return false
		}
	}
	return true
}
