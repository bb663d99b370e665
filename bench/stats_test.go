package bench

import (
	"errors"
	"math"
	"slices"
	"testing"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPercentileKnownData(t *testing.T) {
	// 1..10 shuffled: the R-7 percentiles of 1..10 are 1 + 9p/100.
	data := []float64{7, 3, 10, 1, 5, 9, 2, 8, 6, 4}
	for _, c := range []struct{ p, want float64 }{
		{0, 1}, {50, 5.5}, {90, 9.1}, {99, 9.91}, {100, 10}, {25, 3.25},
	} {
		if got := Percentile(data, c.p); !near(got, c.want) {
			t.Errorf("Percentile(1..10, %g) = %g, want %g", c.p, got, c.want)
		}
	}
	if got := Percentile([]float64{42}, 99); got != 42 {
		t.Errorf("Percentile of one sample = %g, want 42", got)
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile of no samples = %g, want 0", got)
	}
	if data[0] != 7 {
		t.Errorf("Percentile sorted its input in place: %v", data)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{4, 1, 3, 2})
	want := benchjson.Summary{N: 4, Min: 1, P50: 2.5, P90: 3.7, P99: 3.97, Max: 4, Mean: 2.5}
	if s.N != want.N || !near(s.Min, want.Min) || !near(s.P50, want.P50) || !near(s.P90, want.P90) ||
		!near(s.P99, want.P99) || !near(s.Max, want.Max) || !near(s.Mean, want.Mean) {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if (Summarize(nil) != benchjson.Summary{}) {
		t.Errorf("Summarize(nil) is not the zero benchjson.Summary")
	}
}

func TestRatioToFloor(t *testing.T) {
	series := []benchjson.Series{
		{Backend: "none", Program: "true", Samples: []float64{1, 2, 3}},
		{Backend: "oneshot", Program: "true", Samples: []float64{5, 6, 7}},
		{Backend: "oneshot", Program: "static", Samples: []float64{10}},                                 // no floor for static
		{Backend: "container", Param: "concurrency", Value: 2, Samples: []float64{8}},                   // no floor at 2
		{Backend: "none", Param: "concurrency", Value: 1, Samples: []float64{4}},                        //
		{Backend: "container", Param: "concurrency", Value: 1, Samples: []float64{2}},                   // half the floor
		{Backend: "container", Param: "concurrency", Value: 1, Variant: "other", Samples: []float64{2}}, // variant differs
	}
	summarizeSeries(series)
	for i, want := range []float64{1, 3, 0, 0, 1, 0.5, 0} {
		if got := series[i].RatioToFloor; !near(got, want) {
			t.Errorf("series %d (%s): ratio %g, want %g", i, seriesLabel(series[i]), got, want)
		}
	}
	if Ratio(1, 0) != 0 {
		t.Errorf("Ratio over zero is not 0")
	}
}

func TestInterleaveOrder(t *testing.T) {
	steps := slices.Collect(interleave(3, 1, 2))
	var order []int
	for _, s := range steps {
		order = append(order, s.Variant)
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0, 1, 2}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v (A B C A B C ...)", order, want)
	}
	for i, s := range steps {
		if wantWarm := i < 3; s.Warmup != wantWarm {
			t.Errorf("step %d: warm-up %v, want %v", i, s.Warmup, wantWarm)
		}
		if s.Round != i/3 {
			t.Errorf("step %d: round %d, want %d", i, s.Round, i/3)
		}
	}
	if len(slices.Collect(interleave(2, 0, 0))) != 0 {
		t.Errorf("zero rounds gave steps")
	}
	endless := 0
	for range interleave(2, 0, -1) {
		if endless++; endless == 1000 {
			break
		}
	}
	if endless != 1000 {
		t.Errorf("endless schedule stopped after %d steps", endless)
	}
}

func TestNoisy(t *testing.T) {
	sc := benchjson.Scenario{Series: []benchjson.Series{
		{Backend: "a", Samples: []float64{1, 1, 1, 1, 1, 1, 1, 1, 10, 10}}, // p90 = 10 > 3·p50
		{Backend: "b", Samples: []float64{1, 1.1, 1.2}},
	}}
	summarizeSeries(sc.Series)
	why := noisyReasons(&sc, 0.5, 0.5, 2)
	if len(why) != 1 {
		t.Fatalf("reasons %q, want one for series a", why)
	}
	if why := noisyReasons(&benchjson.Scenario{}, 0.1, 2.5, 2); len(why) != 1 {
		t.Errorf("load 2.5 on 2 cores: reasons %q, want one", why)
	}
	if why := noisyReasons(&benchjson.Scenario{}, 1, 1.5, 2); len(why) != 0 {
		t.Errorf("quiet machine: reasons %q, want none", why)
	}
}

func TestValidateNamesUnknown(t *testing.T) {
	err := Config{Backends: []string{"nosuch"}, Scenarios: []string{"startup"}}.Defaults().Validate()
	if !errors.Is(err, harness.ErrUnknownBackend) {
		t.Errorf("unknown backend: %v, want ErrUnknownBackend", err)
	}
	err = Config{Scenarios: []string{"latency"}}.Defaults().Validate()
	if !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("unknown scenario: %v, want ErrUnknownScenario", err)
	}
	if err := (Config{}).Defaults().Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestOrderBackends(t *testing.T) {
	got := orderBackends([]string{"bwrap", "zeta", "container", "none", "oneshot", "none"})
	if want := []string{"none", "oneshot", "container", "bwrap", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestChangeWording(t *testing.T) {
	for _, c := range []struct {
		ratio float64
		want  string
	}{{0.45, "55% lower"}, {1, "0% lower"}, {3.2, "3.2x higher"}} {
		if got := change(c.ratio); got != c.want {
			t.Errorf("change(%g) = %q, want %q", c.ratio, got, c.want)
		}
	}
}

func TestClaimsFromKnownSeries(t *testing.T) {
	rep := &benchjson.Report{Scenarios: []benchjson.Scenario{
		{Name: ScenarioStartup, Series: []benchjson.Series{
			{Backend: "none", Program: "true", Samples: []float64{1e6}},
			{Backend: "oneshot", Program: "true", Samples: []float64{300e6, 290e6, 310e6}},
			{Backend: "container", Program: "true", Samples: []float64{10e6, 9e6, 11e6}},
		}},
		{Name: ScenarioMemory, Series: []benchjson.Series{
			{Backend: "oneshot", Variant: "busy-per-slot", Param: "slots", Value: 1, Samples: []float64{10 << 20}},
			{Backend: "container", Variant: "busy-per-slot", Param: "slots", Value: 1, Samples: []float64{8 << 20}},
		}},
		{Name: ScenarioDisk, Series: []benchjson.Series{
			{Backend: layoutRootfsCopy, Program: "/usr/bin/true", Variant: layoutRootfsCopy, Param: "layout", Samples: []float64{1000}},
		}},
	}}
	for i := range rep.Scenarios {
		summarizeSeries(rep.Scenarios[i].Series)
	}
	got := claims(rep)
	want := []struct {
		verdict string
		ratio   float64
	}{{VerdictHolds, 30}, {VerdictDoesNotHold, 0.8}, {VerdictNotMeasured, 0}}
	for i, w := range want {
		if got[i].Verdict != w.verdict || !near(got[i].Ratio, w.ratio) {
			t.Errorf("claim %q: %s ratio %g, want %s %g (%s)", got[i].Claim, got[i].Verdict, got[i].Ratio, w.verdict, w.ratio, got[i].Measured)
		}
	}
}
