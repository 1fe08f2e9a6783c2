package jsconsume

import (
	"slices"
	"testing"
	"time"
)

// TestRestartBackoffStartsOver: the delay before re-establishing
// consumption doubles per failed attempt and starts over after a
// consumption that delivered messages.
func TestRestartBackoffStartsOver(t *testing.T) {
	var b restartBackoff
	var got []time.Duration
	for _, delivered := range []bool{false, false, false, true, false, false} {
		got = append(got, b.next(delivered))
	}
	ms := time.Millisecond
	if want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 100 * ms, 200 * ms, 400 * ms}; !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
	for range 20 {
		b.next(false)
	}
	if d := b.next(false); d != 10*time.Second {
		t.Errorf("delay after many failures = %s, want the 10 s cap", d)
	}
}
