package processor

import (
	"sync"
	"time"
)

// flights is the set of messages the processor holds, from the moment
// dispatch receives one until it is settled: waiting for a handler slot,
// queued behind its job (WithJobOrdering), running, waiting to be retried
// in place, or being dead-lettered. One goroutine reports them all in
// progress, so none is redelivered while it waits; and a redelivery of a
// sequence still held is recognised (and dropped).
type flights struct {
	mu    sync.Mutex
	m     map[*flight]struct{}
	bySeq map[uint64]*flight // held messages with a known sequence
}

type flight struct {
	msg  Message
	seq  uint64
	last time.Time // received, or the last in-progress report
}

func newFlights() flights {
	return flights{m: make(map[*flight]struct{}), bySeq: make(map[uint64]*flight)}
}

// hold adds m to the set; ok is false (and nothing is added) when a
// delivery of the same sequence is already held.
func (fs *flights) hold(m Message) (f *flight, ok bool) {
	seq := m.Delivery().Seq
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, dup := fs.bySeq[seq]; dup && seq != 0 {
		return nil, false
	}
	f = &flight{msg: m, seq: seq, last: time.Now()}
	fs.m[f] = struct{}{}
	if seq != 0 {
		fs.bySeq[seq] = f
	}
	return f, true
}

// release removes f; it is called just before f's message is settled, so
// that a redelivery following a Nak is not mistaken for a duplicate.
func (fs *flights) release(f *flight) {
	fs.mu.Lock()
	delete(fs.m, f)
	if f.seq != 0 && fs.bySeq[f.seq] == f {
		delete(fs.bySeq, f.seq)
	}
	fs.mu.Unlock()
}

func (fs *flights) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.m)
}

// due returns the messages last reported at least every ago, and marks
// them reported now.
func (fs *flights) due(now time.Time, every time.Duration) []Message {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []Message
	for f := range fs.m {
		if now.Sub(f.last) >= every {
			f.last = now
			out = append(out, f.msg)
		}
	}
	return out
}
