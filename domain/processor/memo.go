package processor

import "sync"

// memoSize bounds the memo: at most this many sequences are remembered,
// the oldest forgotten first.
const memoSize = 4096

// memo remembers, per stream sequence, what one delivery learnt for the
// next: the last handler error and how many handler calls failed (so that
// in-place retries and redeliveries share one MaxDeliveries budget), a
// dead letter owed (its write or the Term after it failed), and how many
// redeliveries arrived while the sequence was held (dropped as
// duplicates, not the event's fault). An entry is forgotten when its
// message is acked or terminated.
type memo struct {
	mu    sync.Mutex
	m     map[uint64]*memoEntry
	order []uint64 // insertion order; may hold forgotten sequences
}

type memoEntry struct {
	err     error  // last handler error
	calls   uint64 // failed handler calls (runs of the event's handlers)
	owed    string // reason of a dead letter not yet written, or ""
	dropped uint64 // redeliveries dropped while held
}

// entry returns seq's entry, creating it. mu must be held.
func (mm *memo) entry(seq uint64) *memoEntry {
	if e, ok := mm.m[seq]; ok {
		return e
	}
	if mm.m == nil {
		mm.m = make(map[uint64]*memoEntry)
	}
	for len(mm.m) >= memoSize && len(mm.order) > 0 {
		delete(mm.m, mm.order[0])
		mm.order = mm.order[1:]
	}
	if len(mm.order) >= 2*memoSize { // drop forgotten sequences
		live := mm.order[:0]
		for _, s := range mm.order {
			if _, ok := mm.m[s]; ok {
				live = append(live, s)
			}
		}
		mm.order = live
	}
	e := &memoEntry{}
	mm.m[seq] = e
	mm.order = append(mm.order, seq)
	return e
}

// failed records a failed run of seq's handlers.
func (mm *memo) failed(seq uint64, err error) {
	if seq == 0 {
		return
	}
	mm.mu.Lock()
	e := mm.entry(seq)
	e.err = err
	e.calls++
	mm.mu.Unlock()
}

func (mm *memo) owe(seq uint64, reason string, err error) {
	if seq == 0 {
		return
	}
	mm.mu.Lock()
	e := mm.entry(seq)
	e.owed, e.err = reason, err
	mm.mu.Unlock()
}

func (mm *memo) drop(seq uint64) {
	if seq == 0 {
		return
	}
	mm.mu.Lock()
	mm.entry(seq).dropped++
	mm.mu.Unlock()
}

func (mm *memo) forget(seq uint64) {
	mm.mu.Lock()
	delete(mm.m, seq)
	mm.mu.Unlock()
}

// get returns a copy of seq's entry (zero if none).
func (mm *memo) get(seq uint64) memoEntry {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if e, ok := mm.m[seq]; ok {
		return *e
	}
	return memoEntry{}
}

// deliveries is d's delivery count without the redeliveries dropped while
// the sequence was held.
func (mm *memo) deliveries(d Delivery) uint64 {
	dropped := mm.get(d.Seq).dropped
	if dropped >= d.NumDelivered {
		return 1
	}
	return d.NumDelivered - dropped
}
