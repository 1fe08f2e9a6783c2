package rollup

import (
	"sync"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Sizes and bounds of the rollups. Memory is bounded per bucket and per
// series (a cell is one bucket of one series in one chunk):
//
//   - a cell holds 24 counts (192 B), two sketches (completed and failed
//     durations, each at most MaxSketchBins bins of 12 B and never more
//     bins than events), at most MaxFailureGroups failure groups (each a
//     normalised message of at most MaxMessageLen bytes and JobsPerGroup job
//     ids) and at most MaxWorkersPerCell workers; so a cell is at most about
//     42 KB + 32·(200 B + 5 job ids) + 64 worker ids, and in practice a few
//     hundred bytes, since it never holds more bins, groups or workers than
//     it has events;
//   - there is one cell per (chunk, bucket, environment, service, queue)
//     that has events; buckets are one minute wide for RecentWindow and one
//     hour wide beyond (Compact merges them, a whole hour at a time), so a
//     7-day stream has at most 1,500 + 144 buckets per series, plus one extra cell per chunk
//     boundary.
const (
	// ChunkSize is how many stream sequences one chunk covers. Deletes
	// are followed chunk by chunk: a chunk whose live message count
	// differs from what it applied is rebuilt by reading at most this
	// many messages.
	ChunkSize = 4096
	// MinuteWidth and HourWidth are the bucket widths.
	MinuteWidth = time.Minute
	HourWidth   = time.Hour
	// RecentWindow is how long buckets stay one minute wide at least:
	// an hour's minutes are merged once the whole hour is older than
	// this (so for up to RecentWindow + 1 h).
	RecentWindow = 24 * time.Hour
	// MaxFailureGroups bounds the failure groups of one cell; failures
	// beyond it are counted in a group with ErrorType "" and Message
	// OtherFailures.
	MaxFailureGroups = 32
	// JobsPerGroup is how many failing job ids a group of a cell keeps
	// (the newest).
	JobsPerGroup = 5
	// MaxWorkersPerCell bounds the workers one cell remembers; more are
	// not remembered (counts are unaffected).
	MaxWorkersPerCell = 64
	// MaxSummaryFailures and MaxSummaryWorkers bound the lists of a Summary.
	MaxSummaryFailures = 100
	MaxSummaryWorkers  = 200
	// SummaryJobs is how many failing job ids a FailureGroup lists.
	SummaryJobs = 10
)

// OtherFailures is the message of the group failures go to once a cell has
// MaxFailureGroups groups.
const OtherFailures = "(other failures)"

var typeIndex = func() map[event.JobEventType]int {
	m := make(map[event.JobEventType]int)
	for i, t := range event.Types() {
		m[t] = i
	}
	return m
}()

var allTypes = event.Types()

const numTypes = 24

type seriesKey struct {
	env, svc, queue string
}

type cellKey struct {
	start int64 // unix seconds
	width int64 // seconds
	seriesKey
}

type failKey struct {
	errType, msg string
}

type jobSeen struct {
	job string
	at  int64 // unix nanos
}

type failAgg struct {
	count       int64
	first, last int64 // unix nanos
	jobs        []jobSeen
}

type workerAgg struct {
	queue string
	last  int64 // unix nanos
}

type cell struct {
	counts            [numTypes]int64
	completed, failed Sketch
	last              int64 // unix nanos of the newest event
	failures          map[failKey]*failAgg
	workers           map[string]*workerAgg
}

// chunk holds the cells of the events with stream sequences in
// [n·ChunkSize, (n+1)·ChunkSize), of which [from, seq] has been applied.
type chunk struct {
	n           uint64
	from, seq   uint64
	msgs        int64 // messages applied, decodable or not
	undecodable int64
	cells       map[cellKey]*cell
	dirty       bool
}

func chunkOf(seq uint64) uint64  { return seq / ChunkSize }
func chunkStart(n uint64) uint64 { return max(n*ChunkSize, 1) }
func chunkEnd(n uint64) uint64   { return (n+1)*ChunkSize - 1 }
func newChunk(n, from uint64) *chunk {
	return &chunk{n: n, from: from, seq: from - 1, cells: make(map[cellKey]*cell), dirty: true}
}

// ChunkBounds returns the first and last stream sequence of chunk n.
func ChunkBounds(n uint64) (first, last uint64) { return chunkStart(n), chunkEnd(n) }

// apply adds the event at seq and returns the key of the cell it changed
// (ok false when it changed none).
func (c *chunk) apply(seq uint64, env, svc string, ev *event.JobEvent) (k cellKey, ok bool) {
	c.seq, c.msgs, c.dirty = seq, c.msgs+1, true
	ti, ok := typeIndex[ev.Type]
	if !ok {
		c.undecodable++
		return cellKey{}, false
	}
	width := int64(MinuteWidth / time.Second)
	start := ev.Timestamp.Unix()
	start -= mod(start, width)
	k = cellKey{start: start, width: width, seriesKey: seriesKey{env, svc, ev.QueueName}}
	cl := c.cells[k]
	if cl == nil {
		cl = &cell{}
		c.cells[k] = cl
	}
	cl.counts[ti]++
	at := ev.Timestamp.UnixNano()
	cl.last = max(cl.last, at)
	if ev.DurationMS != nil {
		switch ev.Type {
		case event.TypeCompleted:
			cl.completed.Add(*ev.DurationMS)
		case event.TypeFailed:
			cl.failed.Add(*ev.DurationMS)
		}
	}
	if ev.Type == event.TypeFailed {
		et, msg := FailureKey(ev)
		cl.addFailure(failKey{errType: et, msg: msg}, ev.JobID, at)
	}
	if ev.WorkerID != "" {
		if w := cl.workers[ev.WorkerID]; w != nil {
			if at >= w.last {
				w.last = at
				if ev.QueueName != "" {
					w.queue = ev.QueueName
				}
			}
		} else if len(cl.workers) < MaxWorkersPerCell {
			if cl.workers == nil {
				cl.workers = make(map[string]*workerAgg)
			}
			cl.workers[ev.WorkerID] = &workerAgg{queue: ev.QueueName, last: at}
		}
	}
	return k, true
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func (cl *cell) addFailure(k failKey, job string, at int64) {
	f := cl.failures[k]
	if f == nil {
		if len(cl.failures) >= MaxFailureGroups {
			k = failKey{msg: OtherFailures}
			f = cl.failures[k]
		}
		if f == nil {
			if cl.failures == nil {
				cl.failures = make(map[failKey]*failAgg)
			}
			f = &failAgg{first: at, last: at}
			cl.failures[k] = f
		}
	}
	f.count++
	f.first, f.last = min(f.first, at), max(f.last, at)
	f.jobs = addJob(f.jobs, jobSeen{job, at}, JobsPerGroup)
}

// addJob keeps the n newest distinct jobs, newest first.
func addJob(jobs []jobSeen, j jobSeen, n int) []jobSeen {
	for i := range jobs {
		if jobs[i].job == j.job {
			if j.at <= jobs[i].at {
				return jobs
			}
			jobs = append(jobs[:i], jobs[i+1:]...)
			break
		}
	}
	i := 0
	for i < len(jobs) && jobs[i].at >= j.at {
		i++
	}
	if i >= n {
		return jobs
	}
	jobs = append(jobs, jobSeen{})
	copy(jobs[i+1:], jobs[i:])
	jobs[i] = j
	if len(jobs) > n {
		jobs = jobs[:n]
	}
	return jobs
}

func (cl *cell) merge(o *cell) {
	for i := range cl.counts {
		cl.counts[i] += o.counts[i]
	}
	cl.completed.Merge(&o.completed)
	cl.failed.Merge(&o.failed)
	cl.last = max(cl.last, o.last)
	for k, f := range o.failures {
		cur := cl.failures[k]
		if cur == nil && len(cl.failures) >= MaxFailureGroups {
			k = failKey{msg: OtherFailures}
			cur = cl.failures[k]
		}
		if cur == nil {
			if cl.failures == nil {
				cl.failures = make(map[failKey]*failAgg)
			}
			cur = &failAgg{first: f.first, last: f.last}
			cl.failures[k] = cur
		}
		cur.count += f.count
		cur.first, cur.last = min(cur.first, f.first), max(cur.last, f.last)
		for _, j := range f.jobs {
			cur.jobs = addJob(cur.jobs, j, JobsPerGroup)
		}
	}
	for id, w := range o.workers {
		cur := cl.workers[id]
		switch {
		case cur != nil:
			if w.last > cur.last {
				*cur = *w
			}
		case len(cl.workers) < MaxWorkersPerCell:
			if cl.workers == nil {
				cl.workers = make(map[string]*workerAgg)
			}
			cp := *w
			cl.workers[id] = &cp
		}
	}
}

// compact merges the chunk's minute cells of the hours that end at or
// before cutoff into hour cells; it reports whether it changed anything.
// An hour is merged only once all of it is past the cutoff: a window that
// starts at a whole minute after the cutoff (the newest RecentWindow) then
// never meets an hour cell that reaches before its start, so its counts
// are exact and do not change as compaction proceeds (merging the minutes
// of a half-past hour one compaction at a time made a 24 h total grow by
// the minutes merged since the last request).
func (c *chunk) compact(cutoff int64) bool {
	minute, hour := int64(MinuteWidth/time.Second), int64(HourWidth/time.Second)
	changed := false
	for k, cl := range c.cells {
		if k.width != minute {
			continue
		}
		hk := k
		hk.width = hour
		hk.start -= mod(hk.start, hour)
		if hk.start+hour > cutoff {
			continue
		}
		if h := c.cells[hk]; h != nil {
			h.merge(cl)
		} else {
			c.cells[hk] = cl
		}
		delete(c.cells, k)
		changed = true
	}
	if changed {
		c.dirty = true
	}
	return changed
}

// Rollups is the aggregated state of an event stream: cells of counts,
// sketches, failure groups and workers, per chunk of stream sequences. It
// is fed in stream order by one writer (Apply, Skip, Advance, DropBefore,
// Replace, Compact) and read by any number of goroutines at once
// (Summary, Seq, Chunks). Applying is idempotent by stream sequence: a
// sequence at or below what its chunk has covered is ignored, so
// replaying the stream over a restored state changes nothing.
type Rollups struct {
	mu     sync.RWMutex
	chunks map[uint64]*chunk
	seq    uint64 // every sequence ≤ seq is applied or known absent
	first  uint64 // the stream's first sequence as last told by DropBefore
	gone   []uint64

	// The hour tier (hours.go): guarded by hmu while mu is read-locked
	// (Summary), by mu alone while it is write-locked (the writers drop
	// the entries of the cells they change).
	hmu   sync.Mutex
	hours map[hourKey]*hourAgg
	pass  int64
}

// forget drops the hour entry of the cell k; mu is write-locked.
func (r *Rollups) forget(k cellKey) {
	if r.hours != nil {
		delete(r.hours, hourOf(k))
	}
}

// forgetChunk drops the hour entries of every cell of c; mu is write-locked.
func (r *Rollups) forgetChunk(c *chunk) {
	if c == nil || len(r.hours) == 0 {
		return
	}
	for k := range c.cells {
		delete(r.hours, hourOf(k))
	}
}

var _ Reader = (*Rollups)(nil)

// New returns empty rollups.
func New() *Rollups { return &Rollups{chunks: make(map[uint64]*chunk), first: 1} }

// Seq returns the stream sequence the rollups cover: every sequence up to
// it has been applied, skipped or found absent.
func (r *Rollups) Seq() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seq
}

func (r *Rollups) chunkFor(seq uint64) *chunk {
	n := chunkOf(seq)
	c := r.chunks[n]
	if c == nil {
		c = newChunk(n, max(chunkStart(n), r.first))
		r.chunks[n] = c
	}
	return c
}

// Apply adds the event stored at seq under env and svc. It is ignored when
// seq is below the stream's first sequence or already covered.
func (r *Rollups) Apply(seq uint64, env, svc string, ev *event.JobEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.first {
		return
	}
	c := r.chunkFor(seq)
	if seq <= c.seq {
		return
	}
	if k, ok := c.apply(seq, env, svc, ev); ok {
		r.forget(k)
	}
	r.seq = max(r.seq, seq)
}

// Skip counts the message at seq that is not a decodable event: it takes
// its place in the chunk's message count, so that the chunk agrees with
// the stream, and is otherwise ignored.
func (r *Rollups) Skip(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq < r.first {
		return
	}
	c := r.chunkFor(seq)
	if seq <= c.seq {
		return
	}
	c.seq, c.msgs, c.undecodable, c.dirty = seq, c.msgs+1, c.undecodable+1, true
	r.seq = max(r.seq, seq)
}

// Advance records that every sequence up to seq has been seen (those not
// applied are absent from the stream).
func (r *Rollups) Advance(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq <= r.seq {
		return
	}
	for _, c := range r.chunks {
		if c.seq < seq && c.seq < chunkEnd(c.n) {
			c.seq = min(seq, chunkEnd(c.n))
			c.dirty = true
		}
	}
	r.seq = seq
}

// DropBefore tells the rollups that the stream's first sequence is now
// first: chunks wholly below it are removed. It returns the chunk that
// holds first when that chunk covers sequences below first, which must
// then be rebuilt from first (Rebuild) to stay exact.
func (r *Rollups) DropBefore(first uint64) (straddling uint64, rebuild bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if first <= r.first {
		return 0, false
	}
	r.first = first
	for n, c := range r.chunks {
		if chunkEnd(n) < first {
			r.forgetChunk(c)
			delete(r.chunks, n)
			r.gone = append(r.gone, n)
		} else if c.from < first && c.msgs == 0 {
			c.from = first
			c.seq = max(c.seq, first-1)
			c.dirty = true
		}
	}
	if c := r.chunks[chunkOf(first)]; c != nil && c.from < first {
		return c.n, true
	}
	return 0, false
}

// ChunkInfo describes one chunk: Msgs messages were applied for stream
// sequences [From, Seq].
type ChunkInfo struct {
	N         uint64
	From, Seq uint64
	Msgs      int64
}

// Chunks returns the chunks, by N.
func (r *Rollups) Chunks() []ChunkInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ChunkInfo, 0, len(r.chunks))
	for _, c := range r.chunks {
		out = append(out, ChunkInfo{N: c.n, From: c.from, Seq: c.seq, Msgs: c.msgs})
	}
	sortChunkInfos(out)
	return out
}

// Chunk is a chunk being rebuilt from the stream; see Rollups.Rebuild.
type Chunk struct{ c *chunk }

// Rebuild starts a fresh copy of chunk n covering sequences from (at
// least the chunk's first, and the stream's first) onwards: feed it the
// live messages of the chunk's range with Apply and Skip, then install it
// with Replace.
func (r *Rollups) Rebuild(n uint64) *Chunk {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return &Chunk{c: newChunk(n, max(chunkStart(n), r.first))}
}

// Range returns the sequences a rebuilt chunk must read: from its first
// through last, the chunk's end or what the rollups cover, whichever is
// lower. Empty (from > last) when there is nothing to read.
func (r *Rollups) Range(b *Chunk) (from, last uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return b.c.from, min(chunkEnd(b.c.n), r.seq)
}

// Apply adds an event of the chunk's range; sequences outside it or not
// above the last applied are ignored.
func (b *Chunk) Apply(seq uint64, env, svc string, ev *event.JobEvent) {
	if chunkOf(seq) != b.c.n || seq <= b.c.seq || seq < b.c.from {
		return
	}
	b.c.apply(seq, env, svc, ev)
}

// Skip counts an undecodable message of the chunk's range.
func (b *Chunk) Skip(seq uint64) {
	if chunkOf(seq) != b.c.n || seq <= b.c.seq || seq < b.c.from {
		return
	}
	b.c.seq, b.c.msgs, b.c.undecodable = seq, b.c.msgs+1, b.c.undecodable+1
}

// Replace installs the rebuilt chunk, which covers what it was read
// through (through, normally Range's last); the old one is discarded.
func (r *Rollups) Replace(b *Chunk, through uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := b.c
	if chunkEnd(c.n) < r.first {
		return
	}
	c.seq = max(c.seq, min(through, chunkEnd(c.n)))
	c.dirty = true
	r.forgetChunk(r.chunks[c.n])
	r.forgetChunk(c)
	if c.msgs == 0 && c.n != chunkOf(r.seq) {
		// Keep an empty chunk only if it is the one being appended to.
		if _, ok := r.chunks[c.n]; ok {
			r.gone = append(r.gone, c.n)
		}
		delete(r.chunks, c.n)
		return
	}
	r.chunks[c.n] = c
}

// Compact merges the minute buckets of every hour that ended RecentWindow
// or more before now into one hour bucket. A query whose window starts at
// a whole minute no earlier than now − RecentWindow (the dashboard's 1 h
// and 24 h windows) is answered from minute buckets only: exactly, and
// the same however often Compact runs.
func (r *Rollups) Compact(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := now.Add(-RecentWindow).Unix()
	for _, c := range r.chunks {
		if c.compact(cutoff) {
			r.forgetChunk(c)
		}
	}
}
