package bench

import (
	"fmt"
	"iter"
	"math"
	"sort"
	"strings"

	"gosandbox/bench/benchjson"
)

// Percentile returns the p-th percentile (0 <= p <= 100) of samples by linear
// interpolation between the two closest ranks (the "R-7" definition, numpy's
// default): rank h = (n-1)·p/100, value = s[⌊h⌋] + (h-⌊h⌋)·(s[⌊h⌋+1]-s[⌊h⌋])
// over the sorted samples s. It returns 0 for no samples.
func Percentile(samples []float64, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := sortedCopy(samples)
	return percentileSorted(s, p)
}

func percentileSorted(s []float64, p float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	p = math.Max(0, math.Min(100, p))
	h := float64(len(s)-1) * p / 100
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

func sortedCopy(samples []float64) []float64 {
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	return s
}

// Summarize computes the order statistics of samples; see Percentile for the
// definition of the percentiles.
func Summarize(samples []float64) benchjson.Summary {
	if len(samples) == 0 {
		return benchjson.Summary{}
	}
	s := sortedCopy(samples)
	var sum float64
	for _, v := range s {
		sum += v
	}
	return benchjson.Summary{
		N:    len(s),
		Min:  s[0],
		P50:  percentileSorted(s, 50),
		P90:  percentileSorted(s, 90),
		P99:  percentileSorted(s, 99),
		Max:  s[len(s)-1],
		Mean: sum / float64(len(s)),
	}
}

// Ratio is a/b, or 0 when b is 0 (no floor to compare against).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// FloorBackend is the backend every other is compared with: a plain
// fork+exec+wait from the bench process.
const FloorBackend = "none"

// summarizeSeries fills benchjson.Summary of every series and RatioToFloor of every
// series that has a floor: the series of FloorBackend with the same program,
// parameter, value and variant in the same scenario. Ratios are left at 0
// when either p50 is not positive and for kernel-memory series (noFloorRatio).
func summarizeSeries(series []benchjson.Series) {
	for i := range series {
		series[i].Summary = Summarize(series[i].Samples)
	}
	for i := range series {
		s := &series[i]
		s.RatioToFloor = 0
		// A drift, or a delta that may be negative, has no meaningful
		// ratio: only positive figures are compared.
		if noFloorRatio(s.Variant) || s.Summary.P50 <= 0 {
			continue
		}
		for _, f := range series {
			if f.Backend == FloorBackend && f.Program == s.Program && f.Param == s.Param &&
				f.Value == s.Value && f.Variant == s.Variant {
				if f.Summary.P50 > 0 {
					s.RatioToFloor = Ratio(s.Summary.P50, f.Summary.P50)
				}
				break
			}
		}
	}
}

// noFloorRatio reports whether a variant is a kernel-memory figure (a
// host-wide delta, or a sum with one): set beside the floor's delta, which is
// mostly the host's own drift, its ratio would be noise.
func noFloorRatio(variant string) bool {
	for _, p := range []string{"kernel-", "slab-", "sunreclaim-", "kernelstack-", "pagetables-", "kmem-", "total-"} {
		if strings.HasPrefix(variant, p) {
			return true
		}
	}
	return false
}

// Spread is p90/p50 of a summary, 0 when p50 is 0.
func Spread(s benchjson.Summary) float64 { return Ratio(s.P90, s.P50) }

// NoisySpread is the p90/p50 above which a series is called noisy.
const NoisySpread = 3.0

// noisyReasons says why a scenario's figures are not to be trusted: a series
// whose spread is wide, or a load average above the core count at its start
// or end. It returns nil when nothing is wrong.
func noisyReasons(sc *benchjson.Scenario, loadBefore, loadAfter float64, cores int) []string {
	var why []string
	for _, s := range sc.Series {
		// A kernel-memory delta near zero has any spread; its own noisy flag
		// (the host's drift against the delta) says whether to trust it.
		if s.Summary.N >= 2 && !noFloorRatio(s.Variant) && Spread(s.Summary) > NoisySpread {
			why = append(why, fmt.Sprintf("%s: p90/p50 = %.1f > %.0f", seriesLabel(s), Spread(s.Summary), NoisySpread))
		}
	}
	if load := math.Max(loadBefore, loadAfter); cores > 0 && load > float64(cores) {
		why = append(why, fmt.Sprintf("load average %.2f above %d cores", load, cores))
	}
	return why
}

// seriesLabel names a series in messages: backend/program variant param=value.
func seriesLabel(s benchjson.Series) string {
	l := s.Backend
	if s.Program != "" {
		l += "/" + s.Program
	}
	if s.Variant != "" {
		l += " " + s.Variant
	}
	if s.Param != "" {
		l += fmt.Sprintf(" %s=%g", s.Param, s.Value)
	}
	return l
}

// step is one run of a schedule: which variant, in which round, and whether
// it is a warm-up run whose sample is thrown away.
type step struct {
	Variant int
	Round   int
	Warmup  bool
}

// interleave orders rounds of n variants as A B C A B C ...: warmup rounds
// first, then rounds measured rounds (endless when rounds < 0: the caller
// stops), so that a drift of the machine (another job starting, the CPU
// clocking down) hits every variant alike.
func interleave(n, warmup, rounds int) iter.Seq[step] {
	return func(yield func(step) bool) {
		for r := 0; rounds < 0 || r < warmup+rounds; r++ {
			for v := range n {
				if !yield(step{Variant: v, Round: r, Warmup: r < warmup}) {
					return
				}
			}
		}
	}
}
