package filestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// lineRef locates the encoded line of batch event idx in the write buffer.
type lineRef struct {
	idx int
	off int
	n   int
}

// maxKeptBuf is the largest write buffer kept between batches.
const maxKeptBuf = 4 << 20

// append stores evs under p: one write of the whole batch, then one fsync
// when the policy says so. Invalid events are left out and reported in a
// *logger.BatchError; events whose id is already retained count as stored.
func (l *log) append(ctx context.Context, p *pair, evs []event.JobEvent) error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(evs))
		}
		errs[i] = err
	}
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			fail(i, fmt.Errorf("filestore: event %d of %d (id %q): %w", i, len(evs), evs[i].ID, err))
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filestore: store batch of %d: %w", len(evs), err)
	}

	l.wmu.Lock()
	defer l.wmu.Unlock()

	buf, refs := l.buf[:0], l.refsBuf[:0]
	var seen map[string]struct{}
	if len(evs) > 1 {
		seen = make(map[string]struct{}, len(evs))
	}
	l.mu.RLock()
	closed := l.closed
	for i := range evs {
		if closed || (errs != nil && errs[i] != nil) {
			continue
		}
		ev := &evs[i]
		if _, dup := l.ids[ev.ID]; dup {
			continue
		}
		if seen != nil {
			if _, dup := seen[ev.ID]; dup {
				continue
			}
			seen[ev.ID] = struct{}{}
		}
		start := len(buf)
		var err error
		if buf, err = ev.AppendJSON(buf); err != nil {
			buf = buf[:start]
			fail(i, fmt.Errorf("filestore: event %d of %d (id %q): %w", i, len(evs), ev.ID, err))
			continue
		}
		if len(buf)-start > math.MaxUint32 {
			buf = buf[:start]
			fail(i, fmt.Errorf("filestore: %w: event %d of %d (id %q) encodes to %d bytes", ports.ErrInvalid, i, len(evs), ev.ID, len(buf)-start))
			continue
		}
		refs = append(refs, lineRef{idx: i, off: start, n: len(buf) - start})
		buf = append(buf, '\n')
	}
	l.mu.RUnlock()
	if closed {
		return fmt.Errorf("filestore: store batch in %s: %w", l.dir, ports.ErrClosed)
	}
	if cap(buf) <= maxKeptBuf {
		l.buf, l.refsBuf = buf, refs
	}
	if len(refs) > 0 {
		if err := l.write(p, evs, buf, refs); err != nil {
			for _, r := range refs {
				fail(r.idx, err)
			}
		}
	}
	if errs == nil {
		return nil
	}
	return &logger.BatchError{Errs: errs}
}

// write appends buf to the active segment, syncs it per policy and indexes
// it. Caller holds wmu.
func (l *log) write(p *pair, evs []event.JobEvent, buf []byte, refs []lineRef) error {
	s, err := l.active(p, int64(len(buf)))
	if err != nil {
		return err
	}
	_, err = s.f.WriteAt(buf, s.size)
	if err == nil && l.cfg.sync.mode == syncAlways {
		err = s.f.Sync()
	}
	if err != nil {
		// Undo the partial write so the next batch does not follow a torn
		// line; if even that fails, never append to this segment again.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.sealed = true
			l.lg.Warn("filestore: cannot undo a failed write; segment sealed", "file", s.path, "error", terr)
		}
		return fmt.Errorf("filestore: append %d bytes to %s: %w", len(buf), s.path, err)
	}
	if l.cfg.sync.mode == syncInterval {
		l.dirty = true
	}
	at := l.stamp()
	l.writeMark(s, l.next+uint64(len(refs)), at)

	l.mu.Lock()
	l.addMark(l.next, at)
	for _, r := range refs {
		l.index(makeEntry(s, s.size+int64(r.off), r.n, &evs[r.idx]))
	}
	s.size += int64(len(buf))
	s.next = l.next
	removed := l.enforce(time.Now(), false)
	dead := l.deadSegments()
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()

	if removed > 0 {
		l.removed.Add(uint64(removed))
	}
	l.removeSegments(dead)
	return nil
}

// active returns the segment the next n bytes of p go to, starting a new
// one when the last is full, sealed or of another pair. Caller holds wmu.
func (l *log) active(p *pair, n int64) (*segment, error) {
	var last *segment
	if len(l.segs) > 0 {
		last = l.segs[len(l.segs)-1]
	}
	if last != nil && !last.sealed && last.pair == p && (last.size == 0 || last.size+n <= l.cfg.segmentSize) {
		return last, nil
	}
	if last != nil && l.dirty {
		l.syncActive() // SyncInterval: the old segment is never synced again
	}
	if last != nil {
		if err := l.closeTimes(last, l.cfg.sync.mode != syncNever); err != nil {
			l.timeErrs.Add(1)
			l.lg.Warn("filestore: cannot close the store-time file of a full segment", "error", err)
		}
	}
	if last != nil && last.size == 0 {
		// Left empty by a failed write: its base would be the new one's.
		l.mu.Lock()
		l.segs = l.segs[:len(l.segs)-1]
		l.mu.Unlock()
		_ = last.f.Close()
		l.removeTimes(last)
		_ = os.Remove(last.path)
	}
	if !p.made {
		if err := os.MkdirAll(p.dir, 0o755); err != nil {
			return nil, fmt.Errorf("filestore: create %s: %w", p.dir, err)
		}
		if l.cfg.sync.mode != syncNever {
			if err := errors.Join(syncDir(l.dir), syncDir(filepath.Dir(p.dir))); err != nil {
				return nil, fmt.Errorf("filestore: sync directory of %s: %w", p.dir, err)
			}
		}
		p.made = true
	}
	s := &segment{pair: p, base: l.next, next: l.next}
	s.path = filepath.Join(p.dir, fmt.Sprintf("%020d%s", s.base, segSuffix))
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("filestore: create segment %s: %w", s.path, err)
	}
	if l.cfg.sync.mode != syncNever {
		if err := syncDir(p.dir); err != nil {
			_ = f.Close()
			_ = os.Remove(s.path)
			return nil, fmt.Errorf("filestore: sync directory %s: %w", p.dir, err)
		}
	}
	s.f = f
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	return s, nil
}

// enforce applies retention and returns how many live events it removed.
// The oldest events go first, so the head moves forward; with all, events
// past MaxAge that are not at the head are deleted one by one too (they are
// expired again after a restart, so that needs no record). Caller holds mu.
func (l *log) enforce(now time.Time, all bool) int {
	c := &l.cfg
	cutoff := int64(math.MinInt64)
	if c.maxAge > 0 {
		cutoff = now.Add(-c.maxAge).UnixMicro()
	}
	removed := 0
	for len(l.entries) > 0 {
		e := &l.entries[0]
		over := (c.maxEvents > 0 && l.liveCount > c.maxEvents) || (c.maxBytes > 0 && l.liveBytes > c.maxBytes)
		if e.live() && !over && (!all || e.ts >= cutoff) {
			break
		}
		if e.live() {
			removed++
		}
		l.popHead()
	}
	if all && c.maxAge > 0 {
		for i := range l.entries {
			if e := &l.entries[i]; e.live() && e.ts < cutoff {
				e.deleted = true
				l.unindex(l.first+uint64(i), e)
				removed++
			}
		}
	}
	return removed
}

// popHead removes the oldest retained seq from the index. Caller holds mu.
func (l *log) popHead() {
	seq, e := l.first, &l.entries[0]
	if e.live() {
		l.unindex(seq, e)
	}
	if e.seg != nil {
		popFront(l.byJob, jobKey{e.pair, e.job}, seq)
		popFront(l.byType, typeKey{e.pair, e.typ}, seq)
	}
	*e = entry{}
	l.entries = l.entries[1:]
	l.first++
}

func popFront[K comparable](m map[K][]uint64, k K, seq uint64) {
	s := m[k]
	if len(s) == 0 || s[0] != seq {
		return
	}
	if len(s) == 1 {
		delete(m, k)
		return
	}
	m[k] = s[1:]
}

// deadSegments takes the oldest segments that hold no retained seq out of
// the segment list and returns them for removeSegments. Caller holds mu.
func (l *log) deadSegments() []*segment {
	l.trimMarks()
	i := 0
	for i < len(l.segs) && l.segs[i].next <= l.first {
		i++
	}
	if i == 0 {
		return nil
	}
	dead := append([]*segment(nil), l.segs[:i]...)
	l.segs = append(l.segs[:0], l.segs[i:]...)
	return dead
}

// removeSegments deletes dead segment files, after recording the head so
// that their seqs are never reused, and drops tombstones that no longer
// cover any retained event. Caller holds wmu (or owns l).
func (l *log) removeSegments(dead []*segment) {
	if len(dead) == 0 {
		return
	}
	l.mu.RLock()
	head := l.first
	l.mu.RUnlock()
	if err := l.writeHead(head); err != nil {
		// The files stay; their events come back on the next Open and
		// retention removes them again.
		l.lg.Warn("filestore: cannot record the head; keeping the removed segments on disk", "error", err)
		for _, s := range dead {
			_ = s.f.Close()
			_ = l.closeTimes(s, false)
		}
		return
	}
	for _, s := range dead {
		_ = s.f.Close()
		l.removeTimes(s) // first: a store-time file without its segment is never read
		if err := os.Remove(s.path); err != nil {
			l.lg.Warn("filestore: cannot remove a segment past retention", "file", s.path, "error", err)
		}
	}
	l.compactTombstones(head)
}

// compactTombstones rewrites deleted.jsonl without the tombstones that only
// cover seqs below head. Caller holds wmu.
func (l *log) compactTombstones(head uint64) {
	l.mu.Lock()
	keep := l.tombs[:0:0]
	for _, t := range l.tombs {
		if t.BeforeSeq > head {
			keep = append(keep, t)
		}
	}
	changed := len(keep) != len(l.tombs)
	l.mu.Unlock()
	if !changed {
		return
	}
	var data []byte
	for _, t := range keep {
		line, _ := json.Marshal(t)
		data = append(append(data, line...), '\n')
	}
	if l.tombFile != nil {
		_ = l.tombFile.Close()
		l.tombFile = nil
	}
	if err := writeFileAtomic(filepath.Join(l.dir, tombName), data); err != nil {
		l.lg.Warn("filestore: cannot compact the tombstone file", "error", err)
		return
	}
	l.mu.Lock()
	l.tombs = keep
	l.mu.Unlock()
}

// deleteJob records a tombstone for the job's events stored so far, then
// drops them from the index.
func (l *log) deleteJob(p *pair, job string) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	k := jobKey{p.id, job}
	l.mu.RLock()
	closed, n, before := l.closed, 0, l.next
	for _, seq := range l.byJob[k] {
		if e := l.at(seq); e != nil && e.live() {
			n++
		}
	}
	l.mu.RUnlock()
	if closed {
		return 0, fmt.Errorf("filestore: delete job %q in %s: %w", job, l.dir, ports.ErrClosed)
	}
	if n == 0 {
		return 0, nil
	}
	t := tombstone{Environment: p.env, Service: p.svc, JobID: job, BeforeSeq: before}
	if err := l.appendTombstone(t); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.tombs = append(l.tombs, t)
	n = l.applyTombstone(k, before)
	l.mu.Unlock()
	return n, nil
}

// appendTombstone appends t to deleted.jsonl and syncs it unless the policy
// is SyncNever. Caller holds wmu.
func (l *log) appendTombstone(t tombstone) error {
	path := filepath.Join(l.dir, tombName)
	if l.tombFile == nil {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("filestore: open %s: %w", path, err)
		}
		l.tombFile = f
	}
	line, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("filestore: encode tombstone for job %q: %w", t.JobID, err)
	}
	if _, err = l.tombFile.Write(append(line, '\n')); err == nil && l.cfg.sync.mode != syncNever {
		err = l.tombFile.Sync()
	}
	if err != nil {
		return fmt.Errorf("filestore: append to %s: %w", path, err)
	}
	return nil
}

// cleanup applies every retention rule now.
func (l *log) cleanup() (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, fmt.Errorf("filestore: cleanup of %s: %w", l.dir, ports.ErrClosed)
	}
	removed := l.enforce(time.Now(), true)
	dead := l.deadSegments()
	l.mu.Unlock()
	l.removed.Add(uint64(removed))
	l.removeSegments(dead)
	return removed, nil
}

// consume removes every seq below end for Replay: the head is recorded
// durably first, so a crash replays at most the last batch again.
func (l *log) consume(end uint64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writeHead(end); err != nil {
		return err
	}
	l.mu.Lock()
	n := 0
	for l.first < end && len(l.entries) > 0 {
		if l.entries[0].live() {
			n++
		}
		l.popHead()
	}
	dead := l.deadSegments()
	l.mu.Unlock()
	l.replayed.Add(uint64(n))
	l.removeSegments(dead)
	return nil
}
