package logger

import (
	"testing"
	"time"
)

func TestBreaker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const cooldown = 10 * time.Second
	type step struct {
		at      time.Duration // since t0
		op      string        // "fail", "ok" or "ask"
		want    bool          // fail: opened; ok: closed; ask: allows
		failing bool          // failing() after the step
	}
	tests := []struct {
		name      string
		threshold int
		steps     []step
	}{
		{"below threshold stays closed", 3, []step{
			{0, "fail", false, true}, {0, "ask", true, true}, {0, "fail", false, true}, {0, "ask", true, true},
		}},
		{"opens at threshold and holds calls for the cooldown", 2, []step{
			{0, "fail", false, true}, {time.Second, "fail", true, true},
			{time.Second, "ask", false, true}, {cooldown, "ask", false, true},
			{time.Second + cooldown, "ask", true, true}, // half-open: one probe
		}},
		{"failed probe reopens for another cooldown without a new Open", 1, []step{
			{0, "fail", true, true}, {cooldown, "ask", true, true},
			{cooldown, "fail", false, true}, {cooldown + time.Second, "ask", false, true},
			{2 * cooldown, "ask", true, true},
		}},
		{"success closes and forgets failures", 2, []step{
			{0, "fail", false, true}, {0, "fail", true, true}, {cooldown, "ok", true, false},
			{cooldown, "ask", true, false}, {cooldown, "fail", false, true},
		}},
		{"success while closed reports no change", 2, []step{
			{0, "fail", false, true}, {0, "ok", false, false}, {0, "fail", false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := breaker{threshold: tt.threshold, cooldown: cooldown}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var got bool
				switch s.op {
				case "fail":
					got = b.failure(now)
				case "ok":
					got = b.success()
				case "ask":
					got = b.allows(now)
				}
				if got != s.want || b.failing() != s.failing {
					t.Fatalf("step %d (%s at %v): got %v failing %v, want %v failing %v", i, s.op, s.at, got, b.failing(), s.want, s.failing)
				}
			}
		})
	}
}
