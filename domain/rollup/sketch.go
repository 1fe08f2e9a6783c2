package rollup

import (
	"math"
	"slices"
)

// Sketch parameters. A Sketch is a log-bucketed histogram in the spirit of
// DDSketch (Masson, Rim, Lee: "DDSketch: a fast and fully-mergeable
// quantile sketch with relative-error guarantees", VLDB 2019).
const (
	// RelativeError is the sketch's guarantee: a quantile of durations of
	// at least MinDurationMS is within ±1% of the exact nearest-rank
	// percentile of the values added.
	RelativeError = 0.01
	// MinDurationMS is the smallest duration told apart from zero (1 µs):
	// smaller and negative durations are counted in a zero bin and
	// reported as 0, an absolute error below 1 µs.
	MinDurationMS = 1e-3
	// MaxDurationMS is the largest duration kept apart (about 31.7
	// years); larger ones are counted as this value.
	MaxDurationMS = 1e12
	// MaxSketchBins is the most bins a Sketch can hold: the bins between
	// MinDurationMS and MaxDurationMS at RelativeError. Each bin is 12
	// bytes of state (an int32 key and a uint64 count), so a sketch is at
	// most ~21 KB however many values it holds, and never more bins than
	// values.
	MaxSketchBins = 1728
)

var (
	gamma    = (1 + RelativeError) / (1 - RelativeError)
	logGamma = math.Log(gamma)
)

// Sketch is a mergeable duration histogram with a relative-error
// guarantee: bin k holds values v with gamma^(k-1) < v ≤ gamma^k, gamma =
// (1+α)/(1-α), α = RelativeError, and a bin reports 2·gamma^k/(gamma+1),
// which is within α of every value of the bin. Min and max are exact.
// Merging two sketches gives exactly the sketch of the union. The zero
// value is an empty sketch; a Sketch is not safe for concurrent use.
type Sketch struct {
	bins     map[int32]uint64
	zero     uint64
	count    uint64
	min, max float64
}

func sketchKey(v float64) int32 {
	return int32(math.Ceil(math.Log(v) / logGamma))
}

func sketchValue(k int32) float64 {
	return 2 * math.Pow(gamma, float64(k)) / (gamma + 1)
}

// Add counts one duration in milliseconds.
func (s *Sketch) Add(ms float64) {
	if math.IsNaN(ms) {
		return
	}
	ms = min(ms, MaxDurationMS)
	if s.count == 0 || ms < s.min {
		s.min = ms
	}
	if s.count == 0 || ms > s.max {
		s.max = ms
	}
	s.count++
	if ms < MinDurationMS {
		s.zero++
		return
	}
	if s.bins == nil {
		s.bins = make(map[int32]uint64)
	}
	s.bins[sketchKey(ms)]++
}

// Merge adds every value of o to s.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.count == 0 {
		return
	}
	if s.count == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.count == 0 || o.max > s.max {
		s.max = o.max
	}
	s.count += o.count
	s.zero += o.zero
	if len(o.bins) > 0 && s.bins == nil {
		s.bins = make(map[int32]uint64, len(o.bins))
	}
	for k, n := range o.bins {
		s.bins[k] += n
	}
}

// Count returns how many values were added.
func (s *Sketch) Count() int64 { return int64(s.count) }

// Bins returns how many bins the sketch holds (its memory is 12 bytes a bin).
func (s *Sketch) Bins() int { return len(s.bins) }

// Quantile returns the nearest-rank q-quantile (0 ≤ q ≤ 1): an estimate
// of the smallest added value with at least q of the values at or below
// it, within RelativeError of it. 0 for an empty sketch. q = 0 and q = 1
// give the exact min and max.
func (s *Sketch) Quantile(q float64) float64 {
	if s.count == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return s.min
	case q >= 1:
		return s.max
	}
	rank := uint64(math.Ceil(q * float64(s.count)))
	rank = max(rank, 1)
	if rank <= s.zero {
		return max(s.min, 0)
	}
	seen := s.zero
	keys := s.sortedKeys()
	for _, k := range keys {
		seen += s.bins[k]
		if seen >= rank {
			// The exact value lies in this bin; clamp to the exact
			// extremes, which keeps the guarantee and makes the answer
			// exact when the bin holds the min or the max.
			return min(max(sketchValue(k), s.min), s.max)
		}
	}
	return s.max
}

// Quantiles returns the sketch's percentiles.
func (s *Sketch) Quantiles() Quantiles {
	if s.count == 0 {
		return Quantiles{}
	}
	return Quantiles{
		Count: int64(s.count),
		P50:   s.Quantile(0.50),
		P95:   s.Quantile(0.95),
		P99:   s.Quantile(0.99),
		Min:   s.min,
		Max:   s.max,
	}
}

func (s *Sketch) sortedKeys() []int32 {
	keys := make([]int32, 0, len(s.bins))
	for k := range s.bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sketchWire is a Sketch as persisted: bins as sorted keys and counts.
type sketchWire struct {
	Keys   []int32  `json:"k,omitempty"`
	Counts []uint64 `json:"c,omitempty"`
	Zero   uint64   `json:"z,omitempty"`
	Count  uint64   `json:"n"`
	Min    float64  `json:"lo"`
	Max    float64  `json:"hi"`
}

func (s *Sketch) wire() *sketchWire {
	if s.count == 0 {
		return nil
	}
	w := &sketchWire{Zero: s.zero, Count: s.count, Min: s.min, Max: s.max}
	w.Keys = s.sortedKeys()
	w.Counts = make([]uint64, len(w.Keys))
	for i, k := range w.Keys {
		w.Counts[i] = s.bins[k]
	}
	return w
}

func (w *sketchWire) sketch() (Sketch, bool) {
	var s Sketch
	if w == nil {
		return s, true
	}
	if len(w.Keys) != len(w.Counts) || len(w.Keys) > MaxSketchBins {
		return s, false
	}
	s.zero, s.count, s.min, s.max = w.Zero, w.Count, w.Min, w.Max
	total := s.zero
	if len(w.Keys) > 0 {
		s.bins = make(map[int32]uint64, len(w.Keys))
	}
	for i, k := range w.Keys {
		s.bins[k] += w.Counts[i]
		total += w.Counts[i]
	}
	return s, total == s.count
}
