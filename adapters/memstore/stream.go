package memstore

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"time"

	"github.com/naq-go/events/domain/event"
)

// streamBatch is how many records a stream copies out per lock.
const streamBatch = 256

// Stream yields the records of every store on the backend that match f, in
// sequence order, from the start o selects: FromSeq if set, else FromTime (the
// first event stored at or after it), else History (everything retained),
// else only events stored after the range loop began.
//
// The reader keeps its own position and copies records out a batch at a
// time under the read lock, so it never blocks writers for long and never
// holds anything between pulls; a reader that falls behind still gets every
// event that is retained when it gets there. The stream ends with a final
// error wrapping ctx.Err() when ctx ends and one wrapping ports.ErrClosed
// when the store is closed.
func (s *Store) Stream(ctx context.Context, f event.Filter, o event.StreamOptions) iter.Seq2[event.Record, error] {
	return func(yield func(event.Record, error) bool) {
		if err := s.closed(); err != nil {
			yield(event.Record{}, err)
			return
		}
		if err := checkFilter(f); err != nil {
			yield(event.Record{}, fmt.Errorf("memstore: stream: %w", err))
			return
		}
		pos := s.b.start(o)
		buf := make([]event.Record, 0, streamBatch)
		for {
			if err := ctx.Err(); err != nil {
				yield(event.Record{}, fmt.Errorf("memstore: stream: %w", err))
				return
			}
			if err := s.closed(); err != nil {
				yield(event.Record{}, err)
				return
			}
			var wake <-chan struct{}
			buf, pos, wake = s.b.read(f, pos, buf[:0])
			for _, r := range buf {
				if !yield(r, nil) {
					return
				}
			}
			if wake == nil {
				continue // the batch was full: read on
			}
			select {
			case <-wake:
			case <-ctx.Done():
			case <-s.done:
			}
		}
	}
}

// start returns the first sequence a stream with options o reads.
func (b *Backend) start(o event.StreamOptions) uint64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	switch {
	case o.FromSeq > 0:
		return o.FromSeq
	case !o.FromTime.IsZero():
		return b.firstAt(o.FromTime)
	case o.History:
		return 0
	default:
		return b.seq + 1
	}
}

// firstAt returns the sequence of the first live event stored at or after t,
// or the next sequence if there is none. b.mu must be held.
func (b *Backend) firstAt(t time.Time) uint64 {
	es := b.log.es
	i := sort.Search(len(es), func(i int) bool { return !es[i].storedAt.Before(t) })
	if i == len(es) {
		return b.seq + 1
	}
	return es[i].rec.Seq
}

// read appends to buf up to cap(buf) records matching f from sequence pos on.
// It returns the position to read from next and, when it reached the end of
// what is stored, the channel the next write closes; nil means read again.
func (b *Backend) read(f event.Filter, pos uint64, buf []event.Record) ([]event.Record, uint64, <-chan struct{}) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	x, _ := b.pick(f)
	if x == nil {
		return buf, pos, b.wake
	}
	for i := x.seek(pos); i < len(x.es); i++ {
		e := x.es[i]
		if len(buf) == cap(buf) {
			return buf, pos, nil
		}
		pos = e.rec.Seq + 1
		if !e.dead && f.Match(e.rec.Environment, e.rec.Service, &e.rec.Event) {
			buf = append(buf, record(e))
		}
	}
	return buf, pos, b.wake
}
