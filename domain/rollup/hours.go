package rollup

import "time"

// The hour tier: Summary keeps, per (hour, environment, service, queue),
// the merge of every cell of that hour across all chunks, built the first
// time a query covers the whole hour and reused until a change to one of
// its cells (Apply, DropBefore, Replace, Compact) drops it. A query then
// merges one entry per whole hour it covers plus the cells of the partial
// hours at its edges, instead of every minute cell. An entry keeps what
// the answer needs to be identical to merging the cells one by one: the
// counts of each bucket (for Series), both sketches, the failure groups
// uncapped with SummaryJobs jobs and their count per bucket, and the
// workers. Memory: one entry per hour and series with events, each at
// most 60 buckets of 192 B, two sketches, and the failure groups and
// workers of its cells.

type pointKey struct{ start, width int64 }

type hourKey struct {
	start int64 // unix seconds, a multiple of an hour
	seriesKey
}

type failMerged struct {
	failAgg
	spark map[pointKey]int64
}

type hourAgg struct {
	building          bool  // being filled by the Summary that created it
	pass              int64 // the last Summary pass that used it
	last              int64
	points            map[pointKey]*[numTypes]int64
	completed, failed Sketch
	failures          map[failKey]*failMerged
	workers           map[string]*workerAgg
	done              *hourDone // set once built (finish)
}

const hourSec = int64(HourWidth / time.Second)

func hourOf(k cellKey) hourKey { return hourKey{k.start - mod(k.start, hourSec), k.seriesKey} }

// add merges a cell of the hour into h.
func (h *hourAgg) add(k cellKey, cl *cell) {
	h.last = max(h.last, cl.last)
	if h.points == nil {
		h.points = make(map[pointKey]*[numTypes]int64)
	}
	pk := pointKey{k.start, k.width}
	p := h.points[pk]
	if p == nil {
		p = new([numTypes]int64)
		h.points[pk] = p
	}
	for i, n := range cl.counts {
		p[i] += n
	}
	h.completed.Merge(&cl.completed)
	h.failed.Merge(&cl.failed)
	for fk, f := range cl.failures {
		if h.failures == nil {
			h.failures = make(map[failKey]*failMerged)
		}
		mergeFailure(h.failures, fk, f).spark[pk] += f.count
	}
	if len(cl.workers) > 0 && h.workers == nil {
		h.workers = make(map[string]*workerAgg)
	}
	mergeWorkers(h.workers, cl.workers)
}

// mergeFailure adds f's count, first/last seen and jobs (the SummaryJobs
// newest) to the group fk of dst, uncapped, and returns the group.
func mergeFailure(dst map[failKey]*failMerged, fk failKey, f *failAgg) *failMerged {
	m := dst[fk]
	if m == nil {
		m = &failMerged{failAgg: failAgg{first: f.first, last: f.last}, spark: make(map[pointKey]int64)}
		dst[fk] = m
	}
	m.count += f.count
	m.first, m.last = min(m.first, f.first), max(m.last, f.last)
	for _, j := range f.jobs {
		m.jobs = addJob(m.jobs, j, SummaryJobs)
	}
	return m
}

// mergeWorkers keeps in dst, for every worker of src, its newest sighting.
func mergeWorkers(dst, src map[string]*workerAgg) {
	for id, w := range src {
		cur := dst[id]
		if cur == nil {
			cp := *w
			dst[id] = &cp
		} else if w.last > cur.last {
			*cur = *w
		}
	}
}

type hourPoint struct {
	pk     pointKey
	counts [numTypes]int64
}

type sparkN struct {
	pk pointKey
	n  int64
}

type hourFail struct {
	key   failKey
	agg   failAgg
	spark []sparkN
}

type hourWorker struct {
	id string
	w  workerAgg
}

// hourDone is an hour entry once built: its maps flattened into slices,
// which are cheaper to merge from.
type hourDone struct {
	last              int64
	points            []hourPoint
	total             [numTypes]int64
	completed, failed *sketchWire
	failures          []hourFail
	workers           []hourWorker
}

// finish flattens the built entry into h.done.
func (h *hourAgg) finish() {
	d := &hourDone{last: h.last, completed: h.completed.wire(), failed: h.failed.wire()}
	d.points = make([]hourPoint, 0, len(h.points))
	for pk, c := range h.points {
		d.points = append(d.points, hourPoint{pk, *c})
		for i, n := range c {
			d.total[i] += n
		}
	}
	d.failures = make([]hourFail, 0, len(h.failures))
	for fk, f := range h.failures {
		hf := hourFail{key: fk, agg: f.failAgg, spark: make([]sparkN, 0, len(f.spark))}
		for pk, n := range f.spark {
			hf.spark = append(hf.spark, sparkN{pk, n})
		}
		d.failures = append(d.failures, hf)
	}
	d.workers = make([]hourWorker, 0, len(h.workers))
	for id, w := range h.workers {
		d.workers = append(d.workers, hourWorker{id, *w})
	}
	h.done = d
	h.building = false
	h.points, h.failures, h.workers = nil, nil, nil
	h.completed, h.failed = Sketch{}, Sketch{}
}

// denseSketch accumulates sketches into an array indexed by bin key: what
// Summary merges into. Its sketch() is exactly the Merge of the same
// sketches.
type denseSketch struct {
	bins     []uint64 // key denseLo+i at i; allocated on the first bin
	other    map[int32]uint64
	zero     uint64
	count    uint64
	min, max float64
}

var denseLo, denseHi = sketchKey(MinDurationMS), sketchKey(MaxDurationMS)

func (d *denseSketch) head(count, zero uint64, lo, hi float64) {
	if d.count == 0 || lo < d.min {
		d.min = lo
	}
	if d.count == 0 || hi > d.max {
		d.max = hi
	}
	d.count += count
	d.zero += zero
}

func (d *denseSketch) bin(k int32, n uint64) {
	if k < denseLo || k > denseHi {
		if d.other == nil {
			d.other = make(map[int32]uint64)
		}
		d.other[k] += n
		return
	}
	if d.bins == nil {
		d.bins = make([]uint64, denseHi-denseLo+1)
	}
	d.bins[k-denseLo] += n
}

func (d *denseSketch) merge(o *Sketch) {
	if o.count == 0 {
		return
	}
	d.head(o.count, o.zero, o.min, o.max)
	for k, n := range o.bins {
		d.bin(k, n)
	}
}

func (d *denseSketch) mergeWire(w *sketchWire) {
	if w == nil || w.Count == 0 {
		return
	}
	d.head(w.Count, w.Zero, w.Min, w.Max)
	for i, k := range w.Keys {
		d.bin(k, w.Counts[i])
	}
}

func (d *denseSketch) sketch() Sketch {
	s := Sketch{zero: d.zero, count: d.count, min: d.min, max: d.max}
	for i, n := range d.bins {
		if n != 0 {
			if s.bins == nil {
				s.bins = make(map[int32]uint64)
			}
			s.bins[denseLo+int32(i)] = n
		}
	}
	for k, n := range d.other {
		if n != 0 {
			if s.bins == nil {
				s.bins = make(map[int32]uint64)
			}
			s.bins[k] += n
		}
	}
	return s
}
