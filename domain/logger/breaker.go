package logger

import "time"

// breaker is the circuit breaker: after threshold consecutive failed calls
// it opens and holds calls back for cooldown; then one call may go through
// (half-open). A success closes it, another failure opens it for another
// cooldown. It only decides; the flusher logs and publishes its state.
type breaker struct {
	threshold int
	cooldown  time.Duration
	failures  int       // consecutive failed calls
	open      bool      // open, or half-open once until has passed
	until     time.Time // while open, no call before this
}

// allows reports whether a call may start at now.
func (b *breaker) allows(now time.Time) bool { return !b.open || !now.Before(b.until) }

// failure records a failed call and reports whether the breaker opened
// (it was closed before).
func (b *breaker) failure(now time.Time) (opened bool) {
	b.failures++
	if b.failures < b.threshold {
		return false
	}
	b.until = now.Add(b.cooldown)
	opened = !b.open
	b.open = true
	return opened
}

// success records a successful call and reports whether the breaker
// closed (it was open before).
func (b *breaker) success() (closed bool) {
	b.failures = 0
	closed = b.open
	b.open = false
	return closed
}

// failing reports whether the last call failed.
func (b *breaker) failing() bool { return b.failures > 0 }
