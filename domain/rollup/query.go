package rollup

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

// Summary answers q from the cells: its cost is the number of cells, never
// the number of events. It fails only for an unknown type in q.Types (an
// error wrapping event.ErrInvalid) or an ended ctx.
func (r *Rollups) Summary(ctx context.Context, q Query) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	var want [numTypes]bool
	if len(q.Types) == 0 {
		for i := range want {
			want[i] = true
		}
	}
	for _, t := range q.Types {
		ti, ok := typeIndex[t]
		if !ok {
			return Summary{}, fmt.Errorf("rollup: %w: event type %q", event.ErrInvalid, t)
		}
		want[ti] = true
	}
	wantCompleted := want[typeIndex[event.TypeCompleted]]
	wantFailed := want[typeIndex[event.TypeFailed]]
	// Bounds in unix nanoseconds; 0 is unbounded.
	var since, until int64
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixNano()
	}
	const sec = int64(time.Second)

	r.mu.RLock()
	defer r.mu.RUnlock()
	a := &summaryAcc{
		want: want, wantCompleted: wantCompleted, wantFailed: wantFailed,
		points:    make(map[pointKey]*[numTypes]int64),
		durations: make(map[string]*denseSketch),
		failures:  make(map[failKey]*failMerged),
		queues:    make(map[string]*queueMerged),
		workers:   make(map[string]*workerAgg),
	}
	exact := true
	s := Summary{Seq: r.seq, Counts: make(map[event.JobEventType]int64), Durations: make(map[string]Quantiles)}

	// Cells of an hour wholly inside the window are answered from the
	// hour tier (hours.go): an entry is built from its cells the first
	// time, then reused; the cells of partial hours are merged one by one.
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.hours == nil {
		r.hours = make(map[hourKey]*hourAgg)
	}
	r.pass++
	var used []*hourAgg
	var usedKeys []hourKey
	for _, c := range r.chunks {
		for k, cl := range c.cells {
			end := k.start + k.width
			startN, endN := k.start*sec, end*sec
			if (since != 0 && endN <= since) || (until != 0 && startN >= until) ||
				(q.Environment != "" && q.Environment != k.env) ||
				(q.Service != "" && q.Service != k.svc) ||
				(q.Queue != "" && q.Queue != k.queue) {
				continue
			}
			if (since != 0 && startN < since) || (until != 0 && endN > until) {
				exact = false
			}
			hk := hourOf(k)
			if k.width <= hourSec && (since == 0 || hk.start*sec >= since) && (until == 0 || (hk.start+hourSec)*sec <= until) {
				h := r.hours[hk]
				if h == nil {
					h = &hourAgg{building: true}
					r.hours[hk] = h
				}
				if h.pass != r.pass {
					h.pass = r.pass
					used = append(used, h)
					usedKeys = append(usedKeys, hk)
				}
				if h.building {
					h.add(k, cl)
				}
				continue
			}
			a.addCell(k, cl)
		}
	}
	for i, h := range used {
		if h.building {
			h.finish()
		}
		a.addHour(usedKeys[i], h.done)
	}
	from, to := a.from, a.to
	points, durations, failures, queues, workers := a.points, a.durations, a.failures, a.queues, a.workers

	// The interval: the query's bounds, widened to the buckets they cut.
	minute := int64(MinuteWidth)
	switch {
	case since != 0 && (from == 0 || from*sec > since):
		s.From = time.Unix(0, since-mod(since, minute)).UTC()
	case from != 0:
		s.From = time.Unix(from, 0).UTC()
	}
	switch {
	case until != 0 && to*sec < until:
		s.To = time.Unix(0, until+(minute-mod(until, minute))%minute).UTC()
	case to != 0:
		s.To = time.Unix(to, 0).UTC()
	}
	s.Exact = exact

	keys := make([]pointKey, 0, len(points))
	for pk := range points {
		keys = append(keys, pk)
	}
	slices.SortFunc(keys, func(a, b pointKey) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.width, b.width)) })
	s.Series = make([]Point, 0, len(keys))
	for _, pk := range keys {
		pt := Point{Start: time.Unix(pk.start, 0).UTC(), Width: time.Duration(pk.width) * time.Second, Counts: make(map[event.JobEventType]int64)}
		for i, n := range points[pk] {
			if n != 0 {
				pt.Counts[allTypes[i]] = n
				s.Counts[allTypes[i]] += n
				s.Total += n
			}
		}
		s.Series = append(s.Series, pt)
	}
	if c, f := s.Counts[event.TypeCompleted], s.Counts[event.TypeFailed]; c+f > 0 {
		s.FailureRate = float64(f) / float64(c+f)
	}
	for name, d := range durations {
		sk := d.sketch()
		s.Durations[name] = sk.Quantiles()
	}

	s.Failures = make([]FailureGroup, 0, len(failures))
	for fk, m := range failures {
		g := FailureGroup{ErrorType: fk.errType, Message: fk.msg, Count: m.count,
			FirstSeen: time.Unix(0, m.first).UTC(), LastSeen: time.Unix(0, m.last).UTC(),
			Spark: make([]int64, len(keys)), Jobs: make([]string, 0, len(m.jobs))}
		for i, pk := range keys {
			g.Spark[i] = m.spark[pk]
		}
		for _, j := range m.jobs {
			g.Jobs = append(g.Jobs, j.job)
		}
		s.Failures = append(s.Failures, g)
	}
	slices.SortFunc(s.Failures, func(a, b FailureGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastSeen.Compare(a.LastSeen),
			cmp.Compare(a.ErrorType, b.ErrorType), cmp.Compare(a.Message, b.Message))
	})
	if len(s.Failures) > MaxSummaryFailures {
		s.Failures = s.Failures[:MaxSummaryFailures]
	}

	s.Queues = make([]QueueInfo, 0, len(queues))
	for name, qm := range queues {
		s.Queues = append(s.Queues, QueueInfo{Name: name, Depth: qm.enq - qm.deq, LastSeen: time.Unix(0, qm.last).UTC()})
	}
	slices.SortFunc(s.Queues, func(a, b QueueInfo) int { return cmp.Compare(a.Name, b.Name) })

	s.Workers = make([]WorkerInfo, 0, len(workers))
	for id, w := range workers {
		s.Workers = append(s.Workers, WorkerInfo{ID: id, Queue: w.queue, LastSeen: time.Unix(0, w.last).UTC()})
	}
	slices.SortFunc(s.Workers, func(a, b WorkerInfo) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.ID, b.ID))
	})
	if len(s.Workers) > MaxSummaryWorkers {
		s.Workers = s.Workers[:MaxSummaryWorkers]
	}
	return s, nil
}

type queueMerged struct {
	enq, deq int64
	last     int64
}

// summaryAcc is what Summary merges cells and hour entries into.
type summaryAcc struct {
	want                      [numTypes]bool
	wantCompleted, wantFailed bool
	from, to                  int64 // unix seconds; from 0 until something is added
	points                    map[pointKey]*[numTypes]int64
	durations                 map[string]*denseSketch
	failures                  map[failKey]*failMerged
	queues                    map[string]*queueMerged
	workers                   map[string]*workerAgg
}

func (a *summaryAcc) span(from, to int64) {
	if a.from == 0 || from < a.from {
		a.from = from
	}
	a.to = max(a.to, to)
}

func (a *summaryAcc) point(pk pointKey, counts *[numTypes]int64) {
	p := a.points[pk]
	if p == nil {
		p = new([numTypes]int64)
		a.points[pk] = p
	}
	for i, n := range counts {
		if a.want[i] && n != 0 {
			p[i] += n
		}
	}
}

func (a *summaryAcc) queue(name string, counts *[numTypes]int64, last int64) {
	if name == "" {
		return
	}
	qm := a.queues[name]
	if qm == nil {
		qm = &queueMerged{}
		a.queues[name] = qm
	}
	qm.enq += counts[iEnqueued]
	qm.deq += counts[iDequeued]
	qm.last = max(qm.last, last)
}

// dense returns the duration accumulators of all queues and of queue.
func (a *summaryAcc) dense(queue string) (all, q *denseSketch) {
	all = a.durations[""]
	if all == nil {
		all = &denseSketch{}
		a.durations[""] = all
	}
	if queue == "" {
		return all, nil
	}
	q = a.durations[queue]
	if q == nil {
		q = &denseSketch{}
		a.durations[queue] = q
	}
	return all, q
}

func (a *summaryAcc) sketch(queue string, sk *Sketch) {
	if sk.count == 0 {
		return
	}
	all, q := a.dense(queue)
	all.merge(sk)
	if q != nil {
		q.merge(sk)
	}
}

func (a *summaryAcc) sketchWire(queue string, w *sketchWire) {
	if w == nil || w.Count == 0 {
		return
	}
	all, q := a.dense(queue)
	all.mergeWire(w)
	if q != nil {
		q.mergeWire(w)
	}
}

func (a *summaryAcc) addCell(k cellKey, cl *cell) {
	a.span(k.start, k.start+k.width)
	pk := pointKey{k.start, k.width}
	a.point(pk, &cl.counts)
	a.queue(k.queue, &cl.counts, cl.last)
	if a.wantCompleted {
		a.sketch(k.queue, &cl.completed)
	}
	if a.wantFailed {
		a.sketch(k.queue, &cl.failed)
		for fk, f := range cl.failures {
			mergeFailure(a.failures, fk, f).spark[pk] += f.count
		}
	}
	mergeWorkers(a.workers, cl.workers)
}

func (a *summaryAcc) addHour(hk hourKey, h *hourDone) {
	if len(h.points) == 0 {
		return
	}
	for i := range h.points {
		p := &h.points[i]
		a.span(p.pk.start, p.pk.start+p.pk.width)
		a.point(p.pk, &p.counts)
	}
	a.queue(hk.queue, &h.total, h.last)
	if a.wantCompleted {
		a.sketchWire(hk.queue, h.completed)
	}
	if a.wantFailed {
		a.sketchWire(hk.queue, h.failed)
		for i := range h.failures {
			f := &h.failures[i]
			m := mergeFailure(a.failures, f.key, &f.agg)
			for _, sp := range f.spark {
				m.spark[sp.pk] += sp.n
			}
		}
	}
	for i := range h.workers {
		w := &h.workers[i]
		cur := a.workers[w.id]
		if cur == nil {
			cp := w.w
			a.workers[w.id] = &cp
		} else if w.w.last > cur.last {
			*cur = w.w
		}
	}
}

var iEnqueued, iDequeued = typeIndex[event.TypeEnqueued], typeIndex[event.TypeDequeued]
