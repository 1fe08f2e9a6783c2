package filestore

import (
	"context"
	"fmt"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// Replay implements logger.Spill: it calls fn with the retained events of
// every environment and service in the directory, oldest first, in batches
// of at most max. After fn returns nil the batch is removed for good: the
// head (start.seq) is moved past it durably, then segment files wholly
// behind the head are deleted. A crash between fn and that record replays
// the batch again (at least once). Replay stops at fn's first error and
// returns it. Concurrent Replays of one directory take turns. max must be
// positive, else the error wraps ports.ErrInvalid.
func (s *Store) Replay(ctx context.Context, max int, fn func(ctx context.Context, events []event.JobEvent) error) error {
	if max <= 0 {
		return fmt.Errorf("filestore: %w: replay batch size %d is not positive", ports.ErrInvalid, max)
	}
	if fn == nil {
		return fmt.Errorf("filestore: %w: replay function is nil", ports.ErrInvalid)
	}
	l := s.log
	l.rmu.Lock()
	defer l.rmu.Unlock()
	for {
		if err := s.check(ctx, "replay"); err != nil {
			return err
		}
		batch, end, n, err := l.oldest(max)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := fn(ctx, batch); err != nil {
				return err
			}
		}
		if err := l.consume(end); err != nil {
			return fmt.Errorf("filestore: replay: record progress: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

// oldest returns up to max of the oldest retained events, the seq after the
// last seq it looked at and how many events it looked at (a line that no
// longer decodes is counted and left out of the batch).
func (l *log) oldest(max int) ([]event.JobEvent, uint64, int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, 0, fmt.Errorf("filestore: replay %s: %w", l.dir, ports.ErrClosed)
	}
	var seqs []uint64
	end := l.next
	all := query{}
	l.each(&all, 0, func(seq uint64, _ *entry) bool {
		seqs = append(seqs, seq)
		if len(seqs) == max {
			end = seq + 1
			return false
		}
		return true
	})
	out := make([]event.JobEvent, 0, len(seqs))
	err := l.read(seqs, func(_ uint64, _ *entry, ev event.JobEvent) { out = append(out, ev) })
	return out, end, len(seqs), err
}

// Pending implements logger.Spill: the number of retained events, which
// Replay would deliver. It is 0 after Close.
func (s *Store) Pending() int {
	if s.isClosed() {
		return 0
	}
	l := s.log
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.liveCount
}
