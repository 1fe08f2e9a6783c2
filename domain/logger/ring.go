package logger

import "github.com/naq-go/events/domain/event"

// ring is a fixed-capacity FIFO of events, the queue Log writes into. It is
// not safe for concurrent use; the Logger's mutex guards it. Slots are
// zeroed when events leave so the ring does not keep their maps alive.
type ring struct {
	buf  []event.JobEvent
	r, n int // index of the oldest event, number of events
}

func newRing(size int) ring { return ring{buf: make([]event.JobEvent, size)} }

// push appends *ev; the caller has checked there is room.
func (q *ring) push(ev *event.JobEvent) {
	i := q.r + q.n
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	q.buf[i] = *ev
	q.n++
}

// pop removes and returns the oldest event; the caller has checked q.n > 0.
func (q *ring) pop() event.JobEvent {
	ev := q.buf[q.r]
	q.buf[q.r] = event.JobEvent{}
	q.r++
	if q.r == len(q.buf) {
		q.r = 0
	}
	q.n--
	return ev
}

// shift discards the oldest event and appends *ev, which is pop then push
// without copying the discarded event out; the caller has checked q.n > 0.
// With the ring full (nothing taken by the flusher) ev lands in the very
// slot the discarded event leaves, so it is a single copy.
func (q *ring) shift(ev *event.JobEvent) {
	old := q.r
	q.r++
	if q.r == len(q.buf) {
		q.r = 0
	}
	i := old + q.n // (old+1) + (n-1): the slot after the last remaining event
	if i >= len(q.buf) {
		i -= len(q.buf)
	}
	if i != old {
		q.buf[old] = event.JobEvent{}
	}
	q.buf[i] = *ev
}

// moveTo appends the k oldest events to dst, removes them and returns dst.
func (q *ring) moveTo(dst []event.JobEvent, k int) []event.JobEvent {
	for k > 0 {
		end := min(q.r+k, len(q.buf))
		dst = append(dst, q.buf[q.r:end]...)
		clear(q.buf[q.r:end])
		k -= end - q.r
		q.n -= end - q.r
		q.r = end
		if q.r == len(q.buf) {
			q.r = 0
		}
	}
	return dst
}
