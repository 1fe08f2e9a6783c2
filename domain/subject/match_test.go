package subject_test

import (
	"testing"

	"github.com/naq-go/events/domain/subject"
)

// TestMatch follows the subject-matching rules of the NATS server
// (nats-server/v2 server.SubjectMatchesFilter for literal subjects, and the
// "Subject-Based Messaging" documentation).
func TestMatch(t *testing.T) {
	tests := []struct {
		filter, subject string
		want            bool
	}{
		// Literal filters match byte for byte, case-sensitively.
		{"foo", "foo", true},
		{"foo.bar", "foo.bar", true},
		{"foo.bar", "foo.baz", false},
		{"foo.bar", "Foo.bar", false},
		{"foo", "foo.bar", false},
		{"foo.bar", "foo", false},
		{"foo.bar", "foobar", false},

		// '*' matches exactly one token.
		{"*", "foo", true},
		{"*", "foo.bar", false},
		{"foo.*", "foo.bar", true},
		{"foo.*", "foo", false},
		{"foo.*", "foo.bar.baz", false},
		{"*.bar", "foo.bar", true},
		{"foo.*.baz", "foo.bar.baz", true},
		{"foo.*.baz", "foo.bar.qux.baz", false},
		{"*.*", "foo.bar", true},

		// '>' matches one or more trailing tokens.
		{">", "foo", true},
		{">", "foo.bar.baz", true},
		{"foo.>", "foo.bar", true},
		{"foo.>", "foo.bar.baz", true},
		{"foo.>", "foo", false},
		{"foo.>", "bar.baz", false},
		{"*.>", "foo.bar", true},
		{"*.>", "foo", false},

		// Wildcards are whole tokens only; elsewhere they are literal bytes.
		{"foo*", "foo*", true},
		{"foo*", "foobar", false},
		{"f>", "f>", true},
		{"f>", "foo", false},
		{"foo.b*", "foo.bar", false},

		// The hierarchy.
		{"naq.events.*.*.*.*", "naq.events.prod.billing.job-1.started", true},
		{"naq.events.*.*.*.*", "naq.events.prod.billing.a.b.started", false},
		{"naq.events.prod.billing.job-1.*", "naq.events.prod.billing.job-1.failed", true},
		{"naq.events.prod.billing.job-1.*", "naq.events.prod.billing.job-10.failed", false},
		{"naq.events.prod.*.*.started", "naq.events.prod.billing.job-1.started", true},
		{"naq.events.prod.>", "naq.events.prod.billing.job-1.started", true},
		{"naq.events.*.*.*", "naq.events.prod.billing.job-1.started", false}, // the design's "global" form

		// A malformed filter matches nothing (a server refuses it).
		{"", "foo", false},
		{"foo.", "foo.bar", false},
		{".foo", "x.foo", false},
		{"foo..bar", "foo.x.bar", false},
		{"foo.>.bar", "foo.x.bar", false},
		{">.foo", "x.foo", false},

		// A subject that is not a valid literal matches nothing.
		{"foo", "", false},
		{">", "", false},
		{"*", "*", false},
		{">", ">", false},
		{"foo.*", "foo.*", false},
		{"foo.>", "foo.bar.*", false},
		{">", "foo..bar", false},
		{">", "foo.", false},
		{"*", ".", false},
		{"foo.*", "foo.", false},
	}
	for _, tc := range tests {
		t.Run(tc.filter+" ~ "+tc.subject, func(t *testing.T) {
			if got := subject.Match(tc.filter, tc.subject); got != tc.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.subject, got, tc.want)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	var ok bool
	allocs := testing.AllocsPerRun(100, func() {
		ok = subject.Match("naq.events.prod.*.*.>", "naq.events.prod.billing.job-1.started")
	})
	if !ok {
		t.Fatal("Match = false, want true")
	}
	if allocs != 0 {
		t.Errorf("Match: %v allocations per call, want 0", allocs)
	}
}
