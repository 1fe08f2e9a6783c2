package logger

import (
	"time"

	"github.com/naq-go/events/domain/event"
)

// held is what the flusher took off the queue, oldest first: the batch in
// flight (a prefix, which the store goroutine reads) and events waiting for
// a retry or the spill. Only the flusher touches it; while a store call is
// in flight it changes only indexes at or past the call's length.
type held struct {
	evs  []event.JobEvent
	seqs []uint64 // sequence numbers, for LogSync and Flush
	// sentAt is, per event, when a publish of it first ended with an
	// unknown outcome (sent, no acknowledgement): it may be stored. Zero
	// means it certainly is not.
	sentAt []time.Time
	// again is, per event, whether a store call failed it since it was
	// last sent: its next send counts in Stats.Retried. It travels with
	// the event, so whatever leaves held (spilled, given up) takes its
	// mark along.
	again []bool
}

func newHeld(n int) held {
	return held{evs: make([]event.JobEvent, 0, n), seqs: make([]uint64, 0, n), sentAt: make([]time.Time, 0, n), again: make([]bool, 0, n)}
}

func (h *held) len() int { return len(h.evs) }

// take moves the k oldest events of q to the end, numbered from seq on.
func (h *held) take(q *ring, k int, seq uint64) {
	h.evs = q.moveTo(h.evs, k)
	for i := range uint64(k) {
		h.seqs = append(h.seqs, seq+i)
		h.sentAt = append(h.sentAt, time.Time{})
		h.again = append(h.again, false)
	}
}

// remove deletes events [i, j), which no call in flight reads.
func (h *held) remove(i, j int) {
	n := len(h.evs)
	h.evs = append(h.evs[:i], h.evs[j:]...)
	clear(h.evs[len(h.evs):n])
	h.seqs = append(h.seqs[:i], h.seqs[j:]...)
	h.sentAt = append(h.sentAt[:i], h.sentAt[j:]...)
	h.again = append(h.again[:i], h.again[j:]...)
}

// resent marks the first n events as sent and returns how many of them a
// store call had failed (to count as Retried).
func (h *held) resent(n int) int {
	k := 0
	for i, again := range h.again[:n] {
		if again {
			k++
			h.again[i] = false
		}
	}
	return k
}

// keep moves event i to position w (w ≤ i), for compacting in place.
func (h *held) keep(w, i int) {
	h.evs[w], h.seqs[w], h.sentAt[w], h.again[w] = h.evs[i], h.seqs[i], h.sentAt[i], h.again[i]
}

// detach gives held a new backing array, leaving the old one to a call
// that Close abandoned and that may still read it.
func (h *held) detach() {
	evs := make([]event.JobEvent, len(h.evs), cap(h.evs))
	copy(evs, h.evs)
	h.evs = evs
}
