package rollup

import (
	"strings"
	"testing"
)

func TestNormalizeMessage(t *testing.T) {
	cases := map[string]string{
		"connection to 10.0.0.7:5432 refused after 3 tries": "connection to # refused after # tries",
		`user "bob" not found`:                              "user '?' not found",
		"timeout after 1.5s, job 3f2a-77 (attempt 2)":       "timeout after #, job # (attempt #)",
		"  spaces \t\n collapse  ":                          "spaces collapse",
		"it's unbalanced":                                   "it's unbalanced",
		"key 'a' and `b` and \"c\"":                         "key '?' and '?' and '?'",
		"no digits here":                                    "no digits here",
	}
	for in, want := range cases {
		if got := NormalizeMessage(in); got != want {
			t.Errorf("NormalizeMessage(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := NormalizeMessage("order 1234 failed"), NormalizeMessage("order 98 failed"); a != b {
		t.Errorf("messages differing in a number must group: %q vs %q", a, b)
	}
	long := NormalizeMessage(strings.Repeat("é word ", 200))
	if len(long) > MaxMessageLen+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long message not cut to %d bytes with …: %d bytes %q", MaxMessageLen, len(long), long[len(long)-10:])
	}
}
