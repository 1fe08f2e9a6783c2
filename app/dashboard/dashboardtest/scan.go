// Package dashboardtest holds test support for the dashboard: a
// rollup.Reader that answers by scanning the store, so tests can check the
// pages against numbers computed independently of the service's rollups.
package dashboardtest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
	"github.com/naq-go/events/ports"
)

// ScanReader implements rollup.Reader by reading every matching event from
// the store: O(events), for tests only. Buckets are a minute wide for spans
// up to two hours, 15 minutes up to two days, an hour beyond.
type ScanReader struct{ Store ports.Reader }

var _ rollup.Reader = ScanReader{}

// Summary implements rollup.Reader.
func (s ScanReader) Summary(ctx context.Context, q rollup.Query) (rollup.Summary, error) {
	width := time.Minute
	if span := q.Until.Sub(q.Since); span > 48*time.Hour {
		width = time.Hour
	} else if span > 2*time.Hour {
		width = 15 * time.Minute
	}
	from, to := q.Since.Truncate(width), q.Until.Truncate(width)
	if to.Before(q.Until) {
		to = to.Add(width)
	}
	f := event.Filter{Environment: q.Environment, Service: q.Service, Queue: q.Queue, Types: q.Types, Since: from, Until: to}
	var recs []event.Record
	for off := 0; ; off += 10_000 {
		page, err := s.Store.List(ctx, f, event.Page{Limit: 10_000, Offset: off})
		if err != nil {
			return rollup.Summary{}, fmt.Errorf("scan reader: list: %w", err)
		}
		recs = append(recs, page...)
		if len(page) < 10_000 {
			break
		}
	}
	out := rollup.Summary{From: from, To: to, Counts: map[event.JobEventType]int64{}, Durations: map[string]rollup.Quantiles{}}
	n := int(to.Sub(from) / width)
	points := make([]rollup.Point, n)
	for i := range points {
		points[i] = rollup.Point{Start: from.Add(time.Duration(i) * width), Width: width, Counts: map[event.JobEventType]int64{}}
	}
	durs := map[string][]float64{}
	groups := map[string]*rollup.FailureGroup{}
	queues := map[string]*rollup.QueueInfo{}
	workers := map[string]*rollup.WorkerInfo{}
	var completed, failed int64
	for i := range recs {
		ev := &recs[i].Event
		out.Seq = max(out.Seq, recs[i].Seq)
		out.Total++
		out.Counts[ev.Type]++
		b := int(ev.Timestamp.Sub(from) / width)
		if b >= 0 && b < n {
			points[b].Counts[ev.Type]++
		}
		switch ev.Type {
		case event.TypeCompleted:
			completed++
		case event.TypeFailed:
			failed++
			// The rollups' own key (one normaliser for every reader).
			et, msg := rollup.FailureKey(ev)
			key := et + "\x00" + msg
			g := groups[key]
			if g == nil {
				g = &rollup.FailureGroup{ErrorType: et, Message: msg, FirstSeen: ev.Timestamp, Spark: make([]int64, n)}
				groups[key] = g
			}
			g.Count++
			g.FirstSeen = minTime(g.FirstSeen, ev.Timestamp)
			g.LastSeen = maxTime(g.LastSeen, ev.Timestamp)
			if b >= 0 && b < n {
				g.Spark[b]++
			}
			if !slices.Contains(g.Jobs, ev.JobID) {
				g.Jobs = append([]string{ev.JobID}, g.Jobs...)
			}
		}
		if (ev.Type == event.TypeCompleted || ev.Type == event.TypeFailed) && ev.DurationMS != nil {
			durs[""] = append(durs[""], *ev.DurationMS)
			durs[ev.QueueName] = append(durs[ev.QueueName], *ev.DurationMS)
		}
		if ev.QueueName != "" {
			qi := queues[ev.QueueName]
			if qi == nil {
				qi = &rollup.QueueInfo{Name: ev.QueueName}
				queues[ev.QueueName] = qi
			}
			qi.LastSeen = maxTime(qi.LastSeen, ev.Timestamp)
			switch ev.Type {
			case event.TypeEnqueued:
				qi.Depth++
			case event.TypeDequeued:
				qi.Depth--
			}
		}
		if ev.WorkerID != "" {
			wi := workers[ev.WorkerID]
			if wi == nil {
				wi = &rollup.WorkerInfo{ID: ev.WorkerID}
				workers[ev.WorkerID] = wi
			}
			if !ev.Timestamp.Before(wi.LastSeen) {
				wi.LastSeen, wi.Queue = ev.Timestamp, cmp.Or(ev.QueueName, wi.Queue)
			}
		}
	}
	if completed+failed > 0 {
		out.FailureRate = float64(failed) / float64(completed+failed)
	}
	for q, ds := range durs {
		slices.Sort(ds)
		out.Durations[q] = rollup.Quantiles{Count: int64(len(ds)), P50: quantile(ds, 0.5), P95: quantile(ds, 0.95), P99: quantile(ds, 0.99), Min: ds[0], Max: ds[len(ds)-1]}
	}
	out.Series = points
	for _, g := range groups {
		out.Failures = append(out.Failures, *g)
	}
	slices.SortFunc(out.Failures, func(a, b rollup.FailureGroup) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.ErrorType, b.ErrorType), cmp.Compare(a.Message, b.Message))
	})
	for _, qi := range queues {
		out.Queues = append(out.Queues, *qi)
	}
	slices.SortFunc(out.Queues, func(a, b rollup.QueueInfo) int { return cmp.Compare(a.Name, b.Name) })
	for _, wi := range workers {
		out.Workers = append(out.Workers, *wi)
	}
	slices.SortFunc(out.Workers, func(a, b rollup.WorkerInfo) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
