package filestore

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/ports"
)

// query is a Filter compiled against the index.
type query struct {
	pairs   []bool // by pair id; nil matches every pair
	job     string
	types   []bool // by type index; nil matches every type
	queue   string
	worker  string
	since   int64
	until   int64
	hasFrom bool
	hasTo   bool
}

func checkPage(p event.Page) error {
	if p.Limit < 0 || p.Offset < 0 {
		return fmt.Errorf("filestore: %w: page limit %d / offset %d is negative", ports.ErrInvalid, p.Limit, p.Offset)
	}
	return nil
}

// checkFilter validates the parts of f that name things.
func checkFilter(f *event.Filter) error {
	for _, c := range [...]struct{ name, v string }{
		{"filter environment", f.Environment}, {"filter service", f.Service}, {"filter job_id", f.JobID},
	} {
		if c.v != "" {
			if err := event.CheckToken(c.name, c.v); err != nil {
				return fmt.Errorf("filestore: %w", err)
			}
		}
	}
	for _, t := range f.Types {
		if !t.Valid() {
			return fmt.Errorf("filestore: %w: filter type %q is not one of the 24 known types", ports.ErrInvalid, t)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return fmt.Errorf("filestore: %w: filter until %v is before since %v", ports.ErrInvalid, f.Until, f.Since)
	}
	return nil
}

// compile turns a validated filter into a query. Caller holds mu.
func (l *log) compile(f *event.Filter) query {
	q := query{job: f.JobID, queue: f.Queue, worker: f.Worker}
	if f.Environment != "" || f.Service != "" {
		q.pairs = make([]bool, len(l.pairs))
		for _, p := range l.pairs {
			q.pairs[p.id] = (f.Environment == "" || f.Environment == p.env) && (f.Service == "" || f.Service == p.svc)
		}
	}
	if len(f.Types) > 0 {
		q.types = make([]bool, len(typeByIndex))
		for _, t := range f.Types {
			q.types[typeIndex[t]] = true
		}
	}
	if !f.Since.IsZero() {
		q.since, q.hasFrom = f.Since.UnixMicro(), true
	}
	if !f.Until.IsZero() {
		q.until, q.hasTo = f.Until.UnixMicro(), true
	}
	return q
}

func (q *query) pairOK(id uint16) bool {
	return q.pairs == nil || (int(id) < len(q.pairs) && q.pairs[id])
}

func (q *query) match(e *entry) bool {
	switch {
	case !e.live(),
		!q.pairOK(e.pair),
		q.job != "" && q.job != e.job,
		q.types != nil && !q.types[e.typ],
		q.queue != "" && q.queue != e.queue,
		q.worker != "" && q.worker != e.worker,
		q.hasFrom && e.ts < q.since,
		q.hasTo && e.ts >= q.until:
		return false
	}
	return true
}

// candidates returns the ascending seqs that may match q, from the job or
// type index; ok is false when q needs a scan of every retained seq. Caller
// holds mu; the result may alias the index.
func (l *log) candidates(q *query) (seqs []uint64, ok bool) {
	var lists [][]uint64
	switch {
	case q.job != "":
		for _, p := range l.pairs {
			if q.pairOK(p.id) {
				if s := l.byJob[jobKey{p.id, q.job}]; len(s) > 0 {
					lists = append(lists, s)
				}
			}
		}
	case q.types != nil:
		for _, p := range l.pairs {
			if !q.pairOK(p.id) {
				continue
			}
			for ti, want := range q.types {
				if s := l.byType[typeKey{p.id, uint8(ti)}]; want && len(s) > 0 {
					lists = append(lists, s)
				}
			}
		}
	default:
		return nil, false
	}
	switch len(lists) {
	case 0:
		return nil, true
	case 1:
		return lists[0], true
	}
	seqs = slices.Concat(lists...)
	slices.Sort(seqs)
	return seqs, true
}

// each calls fn with every seq at or after from that matches q, in order,
// until fn returns false. Caller holds mu.
func (l *log) each(q *query, from uint64, fn func(seq uint64, e *entry) bool) {
	from = max(from, l.first)
	if seqs, ok := l.candidates(q); ok {
		i, _ := slices.BinarySearch(seqs, from)
		for _, seq := range seqs[i:] {
			if e := l.at(seq); e != nil && q.match(e) && !fn(seq, e) {
				return
			}
		}
		return
	}
	for seq := from; seq < l.next; seq++ {
		if e := &l.entries[seq-l.first]; q.match(e) && !fn(seq, e) {
			return
		}
	}
}

// page returns the seqs of the page of q's matches: from the first seq
// after p.After (a binary search in the job or type index, or a direct jump
// in a scan), before p.Before, windowed by p's offset and limit (an offset
// above event.MaxOffset over more matches is an *event.OffsetError). Caller
// holds mu.
func (l *log) page(q *query, p event.Page) ([]uint64, error) {
	var out []uint64
	if p.Empty() || p.After == ^uint64(0) {
		return out, nil
	}
	k := event.NewSkipper(p)
	var err error
	l.each(q, p.After+1, func(seq uint64, _ *entry) bool {
		if p.Before > 0 && seq >= p.Before {
			return false
		}
		take, more, e := k.Offer(seq)
		if e != nil {
			err = fmt.Errorf("filestore: %w", e)
			return false
		}
		if take {
			out = append(out, seq)
		}
		return more
	})
	return out, err
}

// maxReadRun bounds one ReadAt of adjacent lines.
const maxReadRun = 1 << 20

// read decodes the events of seqs (retained, ascending) and calls fn with
// each. Adjacent lines of a segment are read with one ReadAt. A line that
// no longer decodes is counted, logged and skipped. Caller holds mu.
func (l *log) read(seqs []uint64, fn func(seq uint64, e *entry, ev event.JobEvent)) error {
	var buf []byte
	for i := 0; i < len(seqs); {
		e := l.at(seqs[i])
		end, j := e.off+int64(e.n)+1, i+1
		for ; j < len(seqs); j++ {
			f := l.at(seqs[j])
			if f.seg != e.seg || f.off != end || end-e.off > maxReadRun {
				break
			}
			end = f.off + int64(f.n) + 1
		}
		n := int(end - e.off)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if _, err := e.seg.f.ReadAt(buf[:n], e.off); err != nil {
			return fmt.Errorf("filestore: read %d bytes of %s at offset %d: %w", n, e.seg.path, e.off, err)
		}
		for k := i; k < j; k++ {
			f := l.at(seqs[k])
			at := f.off - e.off
			ev, err := event.Decode(buf[at : at+int64(f.n)])
			if err != nil {
				l.corrupt.Add(1)
				l.lg.Warn("filestore: stored line no longer decodes; skipped", "file", f.seg.path, "offset", f.off, "seq", seqs[k], "error", err)
				continue
			}
			fn(seqs[k], f, ev)
		}
		i = j
	}
	return nil
}

func (l *log) record(seq uint64, e *entry, ev event.JobEvent) event.Record {
	p := l.pairs[e.pair]
	return event.Record{Seq: seq, Environment: p.env, Service: p.svc, Event: ev}
}

// events runs q and returns the page of matching events.
func (l *log) events(q *query, p event.Page) ([]event.JobEvent, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("filestore: read %s: %w", l.dir, ports.ErrClosed)
	}
	seqs, err := l.page(q, p)
	if err != nil {
		return nil, err
	}
	out := make([]event.JobEvent, 0, len(seqs))
	err = l.read(seqs, func(_ uint64, _ *entry, ev event.JobEvent) { out = append(out, ev) })
	return out, err
}

func (l *log) list(f *event.Filter, p event.Page) ([]event.Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("filestore: list %s: %w", l.dir, ports.ErrClosed)
	}
	q := l.compile(f)
	seqs, err := l.page(&q, p)
	if err != nil {
		return nil, err
	}
	out := make([]event.Record, 0, len(seqs))
	err = l.read(seqs, func(seq uint64, e *entry, ev event.JobEvent) { out = append(out, l.record(seq, e, ev)) })
	return out, err
}

func (l *log) count(f *event.Filter) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, fmt.Errorf("filestore: count %s: %w", l.dir, ports.ErrClosed)
	}
	q := l.compile(f)
	n := 0
	l.each(&q, 0, func(uint64, *entry) bool { n++; return true })
	return n, nil
}

// Stream chunks: records decoded per hold of the read lock, and seqs
// examined per hold, so a slow consumer or a long scan never blocks writers
// for long.
const (
	streamChunk   = 256
	streamExamine = 4096
)

// stream is the pull loop behind Store.Stream: read what is retained from
// the cursor on, yield it without holding a lock, then wait for the next
// append, ctx or Close.
func (l *log) stream(ctx context.Context, done <-chan struct{}, f event.Filter, opts event.StreamOptions) iter.Seq2[event.Record, error] {
	return func(yield func(event.Record, error) bool) {
		if err := checkFilter(&f); err != nil {
			yield(event.Record{}, err)
			return
		}
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ports.ErrClosed))
			return
		}
		cursor := l.start(opts)
		l.mu.RUnlock()
		var recs []event.Record
		for {
			select {
			case <-ctx.Done():
				yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ctx.Err()))
				return
			case <-done:
				yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ports.ErrClosed))
				return
			default:
			}
			l.mu.RLock()
			if l.closed {
				l.mu.RUnlock()
				yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ports.ErrClosed))
				return
			}
			wake := l.notify
			q := l.compile(&f) // pairs may have been added since the last pass
			var err error
			recs, cursor, err = l.collect(&q, cursor, recs[:0])
			more := cursor < l.next
			l.mu.RUnlock()
			if err != nil {
				yield(event.Record{}, err)
				return
			}
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			clear(recs)
			if more {
				continue
			}
			select {
			case <-ctx.Done():
				yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ctx.Err()))
				return
			case <-done:
				yield(event.Record{}, fmt.Errorf("filestore: stream %s: %w", l.dir, ports.ErrClosed))
				return
			case <-wake:
			}
		}
	}
}

// start returns the first seq a new stream reads. Caller holds mu.
func (l *log) start(opts event.StreamOptions) uint64 {
	switch {
	case opts.FromSeq > 0:
		return opts.FromSeq
	case opts.History:
		return l.first
	case !opts.FromTime.IsZero():
		return l.storedFrom(unixNano(opts.FromTime))
	}
	return l.next
}

// collect appends to recs the matches of q from cursor on, at most
// streamChunk of them among at most streamExamine seqs, and returns the
// cursor after the last seq it looked at. Caller holds mu.
func (l *log) collect(q *query, cursor uint64, recs []event.Record) ([]event.Record, uint64, error) {
	cursor = max(cursor, l.first)
	limit := min(cursor+streamExamine, l.next)
	var seqs []uint64
	next := limit
	l.each(q, cursor, func(seq uint64, _ *entry) bool {
		if seq >= limit {
			return false
		}
		seqs = append(seqs, seq)
		if len(seqs) == streamChunk {
			next = seq + 1
			return false
		}
		return true
	})
	err := l.read(seqs, func(seq uint64, e *entry, ev event.JobEvent) { recs = append(recs, l.record(seq, e, ev)) })
	return recs, max(next, cursor), err
}

// FindJob returns where jobID has events, from the job index of every
// environment and service in the directory.
func (s *Store) FindJob(ctx context.Context, jobID string) ([]ports.JobLocation, error) {
	if err := s.check(ctx, "find job"); err != nil {
		return nil, err
	}
	if err := event.CheckToken("job_id", jobID); err != nil {
		return nil, fmt.Errorf("filestore: find job: %w", err)
	}
	l := s.log
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, fmt.Errorf("filestore: find job %s: %w", l.dir, ports.ErrClosed)
	}
	out := []ports.JobLocation{}
	for _, p := range l.pairs {
		n := 0
		for _, seq := range l.byJob[jobKey{p.id, jobID}] {
			if e := l.at(seq); e != nil && e.live() {
				n++
			}
		}
		if n > 0 {
			out = append(out, ports.JobLocation{Environment: p.env, Service: p.svc, Events: n})
		}
	}
	ports.SortLocations(out)
	return out, nil
}

var _ ports.JobFinder = (*Store)(nil)

// Names returns the environment and service of the Store.
func (s *Store) Names() (environment, service string) { return s.pair.env, s.pair.svc }

var _ ports.Named = (*Store)(nil)
