package dashboard

import (
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/rollup"
)

// The charts are inline SVG written here, server-side: no script draws
// them, they print and they scale. Colours come from CSS classes (s0…s5,
// phase-*), so they follow the light or dark theme. Every text that comes
// from events goes through template.HTMLEscapeString.

var esc = template.HTMLEscapeString

// SeriesLine is one line of the events/s chart.
type SeriesLine struct {
	Name  string // an event type, or "other"
	Class string // s0…s5
	Total int64
	Peak  float64 // highest events/s of a bucket
}

// maxLines is how many event types get their own line; the rest are "other".
const maxLines = 5

// seriesChart draws events/s by type over the summary's buckets and
// returns the SVG and its legend.
func seriesChart(s rollup.Summary) (template.HTML, []SeriesLine) {
	const (
		w, h         = 960, 220
		left, right  = 48, 8
		top, bottom  = 10, 26
		plotW, plotH = w - left - right, h - top - bottom
	)
	if len(s.Series) == 0 {
		return template.HTML(`<svg class="chart" viewBox="0 0 960 60" role="img" aria-label="Events per second: no events in this window"><text x="480" y="34" text-anchor="middle" class="muted">No events in this window</text></svg>`), nil
	}
	s.Series = downsample(s.Series, maxPoints)
	totals := map[event.JobEventType]int64{}
	for _, p := range s.Series {
		for t, n := range p.Counts {
			totals[t] += n
		}
	}
	types := make([]event.JobEventType, 0, len(totals))
	for t := range totals {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b event.JobEventType) int {
		return cmp.Or(cmp.Compare(totals[b], totals[a]), cmp.Compare(a, b))
	})
	named := types[:min(len(types), maxLines)]
	rest := types[len(named):]
	lines := make([]SeriesLine, 0, len(named)+1)
	for i, t := range named {
		lines = append(lines, SeriesLine{Name: string(t), Class: "s" + strconv.Itoa(i), Total: totals[t]})
	}
	if len(rest) > 0 {
		var n int64
		for _, t := range rest {
			n += totals[t]
		}
		lines = append(lines, SeriesLine{Name: "other", Class: "s5", Total: n})
	}
	// rates[line][bucket]
	rates := make([][]float64, len(lines))
	peak := 0.0
	for li := range lines {
		rates[li] = make([]float64, len(s.Series))
		for bi, p := range s.Series {
			var n int64
			if li < len(named) {
				n = p.Counts[named[li]]
			} else {
				for _, t := range rest {
					n += p.Counts[t]
				}
			}
			sec := p.Width.Seconds()
			if sec <= 0 {
				sec = 1
			}
			r := float64(n) / sec
			rates[li][bi] = r
			lines[li].Peak = max(lines[li].Peak, r)
			peak = max(peak, r)
		}
	}
	if peak == 0 {
		peak = 1
	}
	start := s.Series[0].Start
	end := s.Series[len(s.Series)-1].Start.Add(s.Series[len(s.Series)-1].Width)
	span := end.Sub(start).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return left + plotW*t.Sub(start).Seconds()/span }
	y := func(r float64) float64 { return top + plotH*(1-r/peak) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">Events per second by type, %s to %s UTC, peak %s/s</title>`,
		esc(fmtClock(start)), esc(fmtClock(end)), esc(fmtRate(peak)))
	// Grid and axes.
	for _, f := range []float64{0, 0.5, 1} {
		yy := y(peak * f)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, left, w-right, yy, yy)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, yy+4, esc(fmtRate(peak*f)))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, left, h-6, esc(start.UTC().Format("Jan 2 15:04")))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s UTC</text>`, w-right, h-6, esc(end.UTC().Format("Jan 2 15:04")))
	for li := len(lines) - 1; li >= 0; li-- {
		var pts strings.Builder
		for bi, p := range s.Series {
			mid := p.Start.Add(p.Width / 2)
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(mid), y(rates[li][bi]))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s: peak %s/s, %s events</title></polyline>`,
			lines[li].Class, strings.TrimSpace(pts.String()), esc(lines[li].Name), esc(fmtRate(lines[li].Peak)), esc(fmtCount(lines[li].Total)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), lines //nolint:gosec // built from escaped text
}

// maxPoints is how many points a line of the chart has at most: about one
// per 4 px of its width, which keeps the page light (a day of one-minute
// buckets would otherwise be 1 440 points a line).
const maxPoints = 240

// downsample merges runs of consecutive buckets so that at most max are
// left; a merged bucket starts where its first did and is as wide as all
// of them, so counts per second stay right.
func downsample(ps []rollup.Point, max int) []rollup.Point {
	if len(ps) <= max {
		return ps
	}
	k := (len(ps) + max - 1) / max
	out := make([]rollup.Point, 0, (len(ps)+k-1)/k)
	for i := 0; i < len(ps); i += k {
		m := rollup.Point{Start: ps[i].Start, Counts: map[event.JobEventType]int64{}}
		for _, p := range ps[i:min(i+k, len(ps))] {
			m.Width += p.Width
			for t, n := range p.Counts {
				m.Counts[t] += n
			}
		}
		out = append(out, m)
	}
	return out
}

// sparkline draws counts per bucket as a small line.
func sparkline(counts []int64, label string) template.HTML {
	const w, h = 120, 24
	if k := (len(counts) + w/2 - 1) / (w / 2); k > 1 { // at most one point per 2 px
		merged := make([]int64, 0, (len(counts)+k-1)/k)
		for i := 0; i < len(counts); i += k {
			var n int64
			for _, c := range counts[i:min(i+k, len(counts))] {
				n += c
			}
			merged = append(merged, n)
		}
		counts = merged
	}
	var peak int64 = 1
	for _, n := range counts {
		peak = max(peak, n)
	}
	var pts strings.Builder
	for i, n := range counts {
		xx := 0.0
		if len(counts) > 1 {
			xx = float64(w-2) * float64(i) / float64(len(counts)-1)
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", xx+1, float64(h-2)-float64(h-4)*float64(n)/float64(peak))
	}
	return template.HTML(fmt.Sprintf( //nolint:gosec // escaped
		`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><polyline points="%s"/></svg>`,
		w, h, w, h, esc(label), strings.TrimSpace(pts.String())))
}

// waterfall draws a job's phases on one time axis, a row each.
func waterfall(tl Timeline) template.HTML {
	if len(tl.Phases) == 0 {
		return ""
	}
	const (
		w, labelW, rowH, pad = 960, 190, 22, 4
		plotW                = w - labelW - 10
	)
	h := len(tl.Phases)*rowH + 28
	span := tl.End.Sub(tl.Start).Seconds()
	if span <= 0 {
		span = 1e-3
	}
	x := func(t time.Time) float64 { return labelW + plotW*t.Sub(tl.Start).Seconds()/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="waterfall" viewBox="0 0 %d %d" role="img" aria-labelledby="wf-title">`, w, h)
	fmt.Fprintf(&b, `<title id="wf-title">Timeline of the job: %d phases over %s</title>`, len(tl.Phases), esc(fmtDuration(tl.End.Sub(tl.Start))))
	for i, p := range tl.Phases {
		yy := i*rowH + pad
		label := p.Kind
		if p.Kind == PhaseRunning {
			label = fmt.Sprintf("attempt %d · %s", p.Attempt, p.Worker)
		}
		x0, x1 := x(p.Start), x(p.End)
		wd := max(x1-x0, 2)
		class := "phase-" + p.Kind
		if p.Kind == PhaseRunning {
			class += " out-" + p.Outcome
		}
		tip := fmt.Sprintf("%s: %s, from %s", label, fmtDuration(p.End.Sub(p.Start)), fmtClock(p.Start))
		if p.Error != "" {
			tip += " — " + p.Error
		}
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, 4, yy+rowH/2+4, esc(truncate(label, 28)))
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d" rx="3"><title>%s</title></rect>`,
			class, x0, yy+2, wd, rowH-6, esc(tip))
		if lx := x0 + wd + 4; lx < w-70 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d">%s</text>`, lx, yy+rowH/2+4, esc(fmtDuration(p.End.Sub(p.Start))))
		} else { // no room after the bar: before it
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="end">%s</text>`, x0-4, yy+rowH/2+4, esc(fmtDuration(p.End.Sub(p.Start))))
		}
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">0</text>`, labelW, h-6)
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">+%s</text>`, w-10, h-6, esc(fmtDuration(tl.End.Sub(tl.Start))))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
