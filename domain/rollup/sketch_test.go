package rollup

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactRank is the nearest-rank q-quantile of sorted values.
func exactRank(sorted []float64, q float64) float64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(r, 1), len(sorted))-1]
}

// TestSketchRelativeErrorOneMillion checks the stated bound: on 1M random
// durations from three distributions, every percentile from 1 to 99.9 is
// within RelativeError of the exact nearest-rank percentile, and min/max
// are exact.
func TestSketchRelativeErrorOneMillion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() float64{
		"lognormal ms..min": func() float64 { return math.Exp(rng.NormFloat64()*1.5 + 5) },
		"uniform 0-10s":     func() float64 { return rng.Float64() * 10_000 },
		"exponential 50ms":  func() float64 { return rng.ExpFloat64() * 50 },
	}
	qs := []float64{0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			const n = 1_000_000
			vals := make([]float64, n)
			var s Sketch
			for i := range vals {
				vals[i] = gen()
				s.Add(vals[i])
			}
			slices.Sort(vals)
			if s.Count() != n {
				t.Fatalf("count %d, want %d", s.Count(), n)
			}
			for _, q := range qs {
				want, got := exactRank(vals, q), s.Quantile(q)
				if want < MinDurationMS {
					if got > MinDurationMS {
						t.Errorf("q%.3f: got %g, want ≤ %g", q, got, MinDurationMS)
					}
					continue
				}
				if rel := math.Abs(got-want) / want; rel > RelativeError {
					t.Errorf("q%.3f: got %g, exact %g: relative error %.4f > %.2f", q, got, want, rel, RelativeError)
				}
			}
			if s.Quantile(0) != vals[0] || s.Quantile(1) != vals[n-1] {
				t.Errorf("min/max %g/%g, want %g/%g", s.Quantile(0), s.Quantile(1), vals[0], vals[n-1])
			}
			if s.Bins() > MaxSketchBins {
				t.Errorf("%d bins > MaxSketchBins %d", s.Bins(), MaxSketchBins)
			}
			t.Logf("%d values in %d bins", n, s.Bins())
		})
	}
}

// TestSketchMergeIsUnion: merging sketches of parts gives the sketch of
// the whole, bin for bin.
func TestSketchMergeIsUnion(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var whole, a, b Sketch
	for i := range 100_000 {
		v := rng.ExpFloat64() * 100
		if i%7 == 0 {
			v = 0 // the zero bin too
		}
		whole.Add(v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Merge(&b)
	if a.Count() != whole.Count() || a.zero != whole.zero || a.min != whole.min || a.max != whole.max || len(a.bins) != len(whole.bins) {
		t.Fatalf("merged %+v differs from whole %+v", a.Quantiles(), whole.Quantiles())
	}
	for k, n := range whole.bins {
		if a.bins[k] != n {
			t.Fatalf("bin %d: merged %d, whole %d", k, a.bins[k], n)
		}
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99} {
		if a.Quantile(q) != whole.Quantile(q) {
			t.Errorf("q%.2f: merged %g, whole %g", q, a.Quantile(q), whole.Quantile(q))
		}
	}
}

// TestSketchBounds: the whole indexable range fits in MaxSketchBins, and
// out-of-range values are clamped, not lost.
func TestSketchBounds(t *testing.T) {
	if got := int(sketchKey(MaxDurationMS)-sketchKey(MinDurationMS)) + 1; got > MaxSketchBins {
		t.Fatalf("the range needs %d bins, MaxSketchBins is %d", got, MaxSketchBins)
	}
	var s Sketch
	s.Add(-5)
	s.Add(math.NaN())
	s.Add(1e30)
	s.Add(0.0001)
	if s.Count() != 3 {
		t.Fatalf("count %d, want 3 (NaN ignored)", s.Count())
	}
	if s.Quantile(0.5) != 0 || s.Quantile(1) != MaxDurationMS {
		t.Errorf("median %g (want 0), max %g (want %g)", s.Quantile(0.5), s.Quantile(1), MaxDurationMS)
	}
	var empty Sketch
	if empty.Quantile(0.5) != 0 || empty.Quantiles() != (Quantiles{}) {
		t.Error("an empty sketch must answer zeros")
	}
}

func TestSketchWireRoundTrip(t *testing.T) {
	var s Sketch
	for i := range 1000 {
		s.Add(float64(i) * 1.7)
	}
	got, ok := s.wire().sketch()
	if !ok || got.Quantiles() != s.Quantiles() || got.Bins() != s.Bins() {
		t.Fatalf("round trip: ok %v, %+v, want %+v", ok, got.Quantiles(), s.Quantiles())
	}
	w := s.wire()
	w.Count++
	if _, ok := w.sketch(); ok {
		t.Error("a sketch whose bins do not add up to its count must be refused")
	}
}
