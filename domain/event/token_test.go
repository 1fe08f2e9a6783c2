package event_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/naq-go/events/domain/event"
)

func TestCheckToken(t *testing.T) {
	cases := []struct {
		value string
		want  string // "" = valid
	}{
		{"job-1", ""},
		{"3f2b9c1e-8d4a-4c1e-9f00-1234567890ab", ""},
		{"ジョブ", ""},
		{"\ufffd", "contains U+FFFD"}, // valid UTF-8, but nats-server takes it for corruption
		{strings.Repeat("x", 255), ""},
		{"", "job_id is empty"},
		{strings.Repeat("x", 256), "256 bytes long"},
		{"a.b", `contains '.'`},
		{"*", `contains '*'`},
		{">", `contains '>'`},
		{"a b", "white space"},
		{"a\tb", "white space"},
		{"a\u00a0b", "white space"},
		{"a\x00b", "control character"},
		{"a\u0085b", "white space"},
		{"a\xffb", "not valid UTF-8 at byte 1"},
		{"ab\xe2\x82", "not valid UTF-8 at byte 2"},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			err := event.CheckToken("job_id", c.value)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("CheckToken(%q) = %v, want ErrInvalid mentioning %q", c.value, err, c.want)
			}
		})
	}
}

// FuzzCheckToken: CheckToken accepts exactly the tokens described in its
// doc comment, and every rejection wraps ErrInvalid and names the field.
func FuzzCheckToken(f *testing.F) {
	for _, s := range []string{"job-1", "", "a.b", "*", ">", "a b", "\xff", "\ufffd", "ジョブ", "a\x00", strings.Repeat("y", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := event.CheckToken("field_x", s)
		want := s != "" && len(s) <= event.MaxTokenLen && utf8.ValidString(s) &&
			!strings.ContainsAny(s, ".*>\ufffd") &&
			strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
		if (err == nil) != want {
			t.Fatalf("CheckToken(%q) = %v, want valid=%v", s, err, want)
		}
		if err != nil && (!errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), "field_x")) {
			t.Fatalf("CheckToken(%q) = %v: want ErrInvalid naming the field", s, err)
		}
	})
}
