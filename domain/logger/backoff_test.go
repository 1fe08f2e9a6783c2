package logger

import (
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	c := newConfig([]Option{WithRetry(10, 100*time.Millisecond, time.Second)})
	b := backoff{c.initialBackoff, c.maxBackoff}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 400 * time.Millisecond, 800 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{50, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			if d := b.delay(tt.attempt); d < tt.min || d > tt.max {
				t.Fatalf("delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
		}
	}
}

func TestRetrier(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		max       int
		fails     int // failed tries of one batch of 3 events
		exhausted bool
		attempts  int
		waitMin   time.Duration // retry.at - t0
		waitMax   time.Duration
	}{
		{"one try allowed", 1, 1, true, 0, 0, 0},
		{"first failure of three", 3, 1, false, 1, 5 * time.Millisecond, 10 * time.Millisecond},
		{"second failure of three", 3, 2, false, 2, 10 * time.Millisecond, 20 * time.Millisecond},
		{"third failure of three", 3, 3, true, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := retrier{backoff: backoff{10 * time.Millisecond, time.Second}, maxAttempts: tt.max}
			var exhausted bool
			for range tt.fails {
				exhausted = r.failedBatch(t0)
			}
			if exhausted != tt.exhausted || r.attempts != tt.attempts {
				t.Fatalf("exhausted %v attempts %d, want %v %d", exhausted, r.attempts, tt.exhausted, tt.attempts)
			}
			var wait time.Duration
			if !r.at.IsZero() {
				wait = r.at.Sub(t0)
			}
			if wait < tt.waitMin || wait > tt.waitMax {
				t.Errorf("retry after %v, want in [%v, %v]", wait, tt.waitMin, tt.waitMax)
			}
		})
	}
	t.Run("success forgets the batch, not the replay", func(t *testing.T) {
		r := retrier{backoff: backoff{10 * time.Millisecond, time.Second}, maxAttempts: 5}
		r.failedBatch(t0)
		r.failedReplay(t0)
		r.storedOK()
		if r.attempts != 0 || !r.at.IsZero() || r.replayTries != 1 {
			t.Errorf("after storedOK: %+v", r)
		}
		r.replayedOK()
		if r.replayTries != 0 {
			t.Errorf("after replayedOK: %+v", r)
		}
	})
}
