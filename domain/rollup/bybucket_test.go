package rollup

// summaryByBucket is Summary as it was before the hour tier (hours.go):
// every cell merged one by one. The tier tests check Summary against it.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
)

func (r *Rollups) summaryByBucket(ctx context.Context, q Query) (Summary, error) {
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
	type pointKey struct{ start, width int64 }
	points := make(map[pointKey]*[numTypes]int64)
	durations := make(map[string]*Sketch)
	type failMerged struct {
		failAgg
		spark map[pointKey]int64
	}
	failures := make(map[failKey]*failMerged)
	type queueMerged struct {
		enq, deq int64
		last     int64
	}
	queues := make(map[string]*queueMerged)
	workers := make(map[string]*workerAgg)
	var from, to int64 = 0, 0
	exact := true
	s := Summary{Seq: r.seq, Counts: make(map[event.JobEventType]int64), Durations: make(map[string]Quantiles)}
	iEnq, iDeq := typeIndex[event.TypeEnqueued], typeIndex[event.TypeDequeued]
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
			if from == 0 || k.start < from {
				from = k.start
			}
			to = max(to, end)
			pk := pointKey{k.start, k.width}
			p := points[pk]
			if p == nil {
				p = new([numTypes]int64)
				points[pk] = p
			}
			for i, n := range cl.counts {
				if want[i] && n != 0 {
					p[i] += n
				}
			}
			if k.queue != "" {
				qm := queues[k.queue]
				if qm == nil {
					qm = &queueMerged{}
					queues[k.queue] = qm
				}
				qm.enq += cl.counts[iEnq]
				qm.deq += cl.counts[iDeq]
				qm.last = max(qm.last, cl.last)
			}
			addSketch := func(sk *Sketch) {
				if sk.count == 0 {
					return
				}
				for _, name := range []string{"", k.queue} {
					d := durations[name]
					if d == nil {
						d = &Sketch{}
						durations[name] = d
					}
					d.Merge(sk)
					if k.queue == "" {
						break
					}
				}
			}
			if wantCompleted {
				addSketch(&cl.completed)
			}
			if wantFailed {
				addSketch(&cl.failed)
				for fk, f := range cl.failures {
					m := failures[fk]
					if m == nil {
						m = &failMerged{failAgg: failAgg{first: f.first, last: f.last}, spark: make(map[pointKey]int64)}
						failures[fk] = m
					}
					m.count += f.count
					m.first, m.last = min(m.first, f.first), max(m.last, f.last)
					for _, j := range f.jobs {
						m.jobs = addJob(m.jobs, j, SummaryJobs)
					}
					m.spark[pk] += f.count
				}
			}
			for id, w := range cl.workers {
				cur := workers[id]
				if cur == nil {
					cp := *w
					workers[id] = &cp
				} else if w.last > cur.last {
					*cur = *w
				}
			}
		}
	}

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
		s.Durations[name] = d.Quantiles()
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
