package logger

import (
	"math/rand/v2"
	"time"
)

// backoff is the wait between tries: initial doubled per failed try,
// capped at max, with equal jitter (uniform between half and all of it).
type backoff struct {
	initial, max time.Duration
}

// delay returns the wait before try attempt+1, attempt ≥ 1 being the
// number of failed tries so far.
func (b backoff) delay(attempt int) time.Duration {
	d := b.initial
	for i := 1; i < attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retrier keeps the retry state of the flusher: the failed tries of the
// batch at the head of memory and of the replay, and when the next call
// may start.
type retrier struct {
	backoff
	maxAttempts int
	attempts    int // failed tries of the batch at the head of memory
	replayTries int // consecutive failed replays
	at          time.Time
}

// storedOK forgets the head batch's failures: a store call succeeded.
func (r *retrier) storedOK() { r.attempts, r.at = 0, time.Time{} }

// replayedOK forgets the replay's failures: a replay succeeded.
func (r *retrier) replayedOK() { r.replayTries, r.at = 0, time.Time{} }

// failedBatch records a failed try of the head batch and reports whether
// its tries are used up (then the state is reset for the next batch).
func (r *retrier) failedBatch(now time.Time) (exhausted bool) {
	r.attempts++
	if r.attempts >= r.maxAttempts {
		r.attempts, r.at = 0, time.Time{}
		return true
	}
	r.at = now.Add(r.delay(r.attempts))
	return false
}

// failedReplay records a failed replay.
func (r *retrier) failedReplay(now time.Time) {
	r.replayTries++
	r.at = now.Add(r.delay(r.replayTries))
}
