package jsstore

import (
	"strings"
	"testing"
)

func TestServerAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"2.15.2": true, "2.14.0": true, "v2.14.0-RC.1": true, "3.0.0": true,
		"2.13.9": false, "2.10.22": false, "1.99.0": false, "": false, "junk": false,
	} {
		if got := serverAtLeast(v, 2, fastIngestMinMinor); got != want {
			t.Errorf("serverAtLeast(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestFastFlowAndReplies(t *testing.T) {
	for n, want := range map[int]int{1: 1, 3: 1, 8: 2, 2000: 500, 100000: 500} {
		if got := fastFlow(n); got != want {
			t.Errorf("fastFlow(%d) = %d, want %d", n, got, want)
		}
	}
	r := fastReplies("_INBOX.x.1.fail.", 3)
	want := []string{"_INBOX.x.1.fail.1.0.$FI", "_INBOX.x.1.fail.2.1.$FI", "_INBOX.x.1.fail.3.2.$FI"}
	if strings.Join(r, " ") != strings.Join(want, " ") {
		t.Errorf("fastReplies = %q, want %q", r, want)
	}
	// A batch of one starts and commits with one message: seq 1, op 2.
	if r := fastReplies("p.", 1); r[0] != "p.1.2.$FI" {
		t.Errorf("fastReplies(1) = %q", r)
	}
}

func TestReplySeqOp(t *testing.T) {
	const prefix = "_INBOX.x.500.fail."
	for subj, want := range map[string][2]int{
		prefix + "1.0.$FI":          {1, 0},
		prefix + "700.1.$FI":        {700, 1},
		prefix + "2000.2.$FI":       {2000, 2},
		prefix + "12.4.$FI":         {12, 4},
		"_INBOX.y.500.fail.3.1.$FI": {0, -1}, // another batch
		prefix + "3.1":              {0, -1},
		prefix + "x.1.$FI":          {0, -1},
	} {
		seq, op := replySeqOp(subj, prefix)
		if seq != want[0] || op != want[1] {
			t.Errorf("replySeqOp(%q) = %d, %d, want %d, %d", subj, seq, op, want[0], want[1])
		}
	}
}
