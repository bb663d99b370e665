package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gosandbox/bench/benchjson"
)

// TestQuickRun runs the bench in quick mode with every registered backend,
// writes bench.json, and checks the file against the schema: every required
// field present, summaries consistent with the samples, claims decided.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("a quick bench takes up to a minute")
	}
	before := benchTempDirs()
	var progress strings.Builder
	rep, err := Run(context.Background(), Config{Quick: true, Progress: &progress})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("progress:\n%s", progress.String())
	dir := t.TempDir()
	path, err := WriteReport(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("bench.json is not JSON: %v", err)
	}
	checkRequired(t, "report", generic, reflect.TypeOf(benchjson.Report{}))

	var back benchjson.Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("bench.json does not decode as Report: %v", err)
	}
	if back.Schema != benchjson.SchemaVersion || !back.Quick {
		t.Errorf("schema %q quick %v, want %q true", back.Schema, back.Quick, benchjson.SchemaVersion)
	}
	if back.Finished.Before(back.Started) {
		t.Errorf("finished %v before started %v", back.Finished, back.Started)
	}
	env := back.Env
	if env.Kernel == "" || env.CPUModel == "" || env.Cores < 1 || env.GoVersion == "" || env.CgroupMode == "" {
		t.Errorf("environment incomplete: %+v", env)
	}
	if len(back.Scenarios) != len(ScenarioNames()) {
		t.Errorf("%d scenarios, want %d", len(back.Scenarios), len(ScenarioNames()))
	}
	var sawFloor bool
	for _, sc := range back.Scenarios {
		if sc.Description == "" {
			t.Errorf("scenario %s: no description", sc.Name)
		}
		if sc.Noisy != (sc.NoisyReason != "") {
			t.Errorf("scenario %s: noisy %v with reason %q", sc.Name, sc.Noisy, sc.NoisyReason)
		}
		for _, s := range sc.Series {
			checkSeries(t, sc, s)
			if sc.Name == ScenarioStartup && s.Backend == FloorBackend {
				sawFloor = true
			}
		}
		for _, e := range sc.Errors {
			t.Logf("scenario %s: %s", sc.Name, e)
		}
	}
	if !sawFloor {
		t.Errorf("no startup series of the floor (%s)", FloorBackend)
	}
	checkArrivals(t, &back)
	checkServe(t, &back, Config{Quick: true}.Defaults())
	checkKernelMemory(t, &back)
	if len(back.Claims) != 4 {
		t.Errorf("%d claims, want 4", len(back.Claims))
	}
	for _, c := range back.Claims {
		switch c.Verdict {
		case VerdictHolds, VerdictDoesNotHold:
			if c.Ratio < 0 || c.Measured == "" {
				t.Errorf("claim %q decided on ratio %g, measured %q", c.Claim, c.Ratio, c.Measured)
			}
		case VerdictNotMeasured:
		default:
			t.Errorf("claim %q: verdict %q", c.Claim, c.Verdict)
		}
		t.Logf("claim %q: %s: %s", c.Claim, c.Verdict, c.Measured)
	}
	for _, e := range back.Errors {
		t.Logf("error: %s", e)
	}
	var table strings.Builder
	PrintSummary(&table, &back)
	if !strings.Contains(table.String(), "QUICK RUN") {
		t.Errorf("summary of a quick run does not say so:\n%s", table.String())
	}
	t.Logf("summary:\n%s", table.String())
	leftovers(t, before)
}

// checkSeries holds a series' summary against its own samples.
func checkSeries(t *testing.T, sc benchjson.Scenario, s benchjson.Series) {
	t.Helper()
	name := sc.Name + " " + seriesLabel(s)
	if s.Backend == "" || s.Unit == "" {
		t.Errorf("%s: backend %q unit %q", name, s.Backend, s.Unit)
	}
	if len(s.Samples) == 0 {
		t.Errorf("%s: a series without samples was kept", name)
		return
	}
	want := Summarize(s.Samples)
	got := s.Summary
	same := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if got.N != len(s.Samples) || !same(got.Min, want.Min) || !same(got.P50, want.P50) || !same(got.P90, want.P90) ||
		!same(got.P99, want.P99) || !same(got.Max, want.Max) || !same(got.Mean, want.Mean) {
		t.Errorf("%s: summary %+v does not match its samples (%+v)", name, got, want)
	}
	if !(got.Min <= got.P50 && got.P50 <= got.P90 && got.P90 <= got.P99 && got.P99 <= got.Max) {
		t.Errorf("%s: summary out of order: %+v", name, got)
	}
	if s.RatioToFloor != 0 {
		var floor *benchjson.Series
		for i := range sc.Series {
			f := &sc.Series[i]
			if f.Backend == FloorBackend && f.Program == s.Program && f.Param == s.Param && f.Value == s.Value && f.Variant == s.Variant {
				floor = f
			}
		}
		if floor == nil {
			t.Errorf("%s: ratio to floor %g without a floor series", name, s.RatioToFloor)
		} else if !same(s.RatioToFloor, s.Summary.P50/floor.Summary.P50) {
			t.Errorf("%s: ratio to floor %g, want p50/floor p50 = %g", name, s.RatioToFloor, s.Summary.P50/floor.Summary.P50)
		}
	}
}

// checkRequired checks that every field of typ without omitempty is present
// in the decoded JSON object m, recursing into nested objects and lists.
func checkRequired(t *testing.T, where string, m map[string]any, typ reflect.Type) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" {
			continue
		}
		v, ok := m[name]
		if !ok {
			if !strings.Contains(opts, "omitempty") {
				t.Errorf("%s: required field %q missing", where, name)
			}
			continue
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}):
			sub, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s.%s: not an object", where, name)
				continue
			}
			checkRequired(t, where+"."+name, sub, ft)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			list, ok := v.([]any)
			if !ok {
				t.Errorf("%s.%s: not a list", where, name)
				continue
			}
			for j, e := range list {
				sub, ok := e.(map[string]any)
				if !ok {
					t.Errorf("%s.%s[%d]: not an object", where, name, j)
					continue
				}
				checkRequired(t, where+"."+name, sub, ft.Elem())
			}
		case ft.Kind() == reflect.Slice && v == nil:
			t.Errorf("%s.%s: null, want a list", where, name)
		}
	}
}

// benchTempDirs lists the bench's temporary directories that exist now (a
// killed bench run, or another running at the same time, may leave some).
func benchTempDirs() map[string]bool {
	set := map[string]bool{}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gosandbox-bench-") {
			set[e.Name()] = true
		}
	}
	return set
}

// leftovers fails when the bench left temporary directories or mounts.
func leftovers(t *testing.T, before map[string]bool) {
	t.Helper()
	for name := range benchTempDirs() {
		if !before[name] {
			t.Errorf("left behind: %s", name)
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), "gosandbox-bench") {
		t.Errorf("a bench mount is left in /proc/self/mountinfo")
	}
}

// scenario returns the scenario of rep by name, or nil.
func scenario(rep *benchjson.Report, name string) *benchjson.Scenario {
	for i := range rep.Scenarios {
		if rep.Scenarios[i].Name == name {
			return &rep.Scenarios[i]
		}
	}
	return nil
}

// checkArrivals wants, for every backend that ran startup, a series per
// fixed gap and one Poisson series, each with at most the configured number
// of samples, and a ratio to the floor at the same gap.
func checkArrivals(t *testing.T, rep *benchjson.Report) {
	t.Helper()
	sc := scenario(rep, ScenarioArrivals)
	if sc == nil {
		t.Error("no arrivals scenario")
		return
	}
	cfg := Config{Quick: true}.Defaults()
	for _, b := range startupBackends(rep) {
		for _, g := range cfg.Gaps {
			checkArrivalSeries(t, sc, b, benchjson.ScheduleFixed, float64(g)/float64(time.Millisecond), cfg.ArrivalRuns)
		}
		checkArrivalSeries(t, sc, b, benchjson.SchedulePoisson, 1000/cfg.ArrivalRate, cfg.ArrivalRuns)
	}
}

func checkArrivalSeries(t *testing.T, sc *benchjson.Scenario, backend, variant string, gapMS float64, runs int) {
	t.Helper()
	for _, s := range sc.Series {
		if s.Backend != backend || s.Variant != variant || s.Value != gapMS {
			continue
		}
		if s.Param != benchjson.ParamGap || s.Program != programTrue.name || s.Unit != "ns" {
			t.Errorf("arrivals %s: param %q program %q unit %q", seriesLabel(s), s.Param, s.Program, s.Unit)
		}
		if n := len(s.Samples); n == 0 || n > runs {
			t.Errorf("arrivals %s: %d samples, want 1..%d", seriesLabel(s), n, runs)
		}
		if backend != FloorBackend && s.RatioToFloor <= 0 {
			t.Errorf("arrivals %s: no ratio to the floor at the same gap", seriesLabel(s))
		}
		return
	}
	t.Errorf("arrivals: no series for %s %s gap %gms", backend, variant, gapMS)
}

// startupBackends lists the backends with a startup series: the ones that
// opened and ran.
func startupBackends(rep *benchjson.Report) []string {
	var out []string
	if sc := scenario(rep, ScenarioStartup); sc != nil {
		for _, s := range sc.Series {
			if !slices.Contains(out, s.Backend) {
				out = append(out, s.Backend)
			}
		}
	}
	return out
}

// checkKernelMemory wants the kernel-memory series beside the PSS ones for
// every backend and slot count, totals that add PSS and kernel, and noisy
// flags only on kernel-derived series.
func checkKernelMemory(t *testing.T, rep *benchjson.Report) {
	t.Helper()
	sc := scenario(rep, ScenarioMemory)
	if sc == nil {
		t.Error("no memory scenario")
		return
	}
	find := func(backend, variant string, slots float64) *benchjson.Series {
		for i := range sc.Series {
			if s := &sc.Series[i]; s.Backend == backend && s.Variant == variant && s.Value == slots {
				return s
			}
		}
		return nil
	}
	for _, b := range startupBackends(rep) {
		for _, n := range (Config{Quick: true}).Defaults().Slots {
			slots := float64(n)
			pss := find(b, "busy-per-slot", slots)
			if pss == nil {
				t.Errorf("memory: no busy-per-slot series of %s slots=%d", b, n)
				continue
			}
			for _, v := range []string{"kernel-idle-total", "kernel-busy-total", "kernel-idle-per-slot", "kernel-busy-per-slot",
				"slab-busy-per-slot", "sunreclaim-busy-per-slot", "kernelstack-busy-per-slot", "pagetables-busy-per-slot",
				"total-idle-per-slot", "total-busy-per-slot", "kernel-drift"} {
				if s := find(b, v, slots); s == nil || len(s.Samples) != len(pss.Samples) {
					t.Errorf("memory: series %s of %s slots=%d missing or not one sample per measurement", v, b, n)
				}
			}
			kernel, total := find(b, "kernel-busy-per-slot", slots), find(b, "total-busy-per-slot", slots)
			if kernel != nil && total != nil && len(total.Samples) == len(pss.Samples) && len(kernel.Samples) == len(pss.Samples) {
				for i := range total.Samples {
					if d := total.Samples[i] - pss.Samples[i] - kernel.Samples[i]; math.Abs(d) > 1 {
						t.Errorf("memory %s slots=%d: total %g != PSS %g + kernel %g", b, n, total.Samples[i], pss.Samples[i], kernel.Samples[i])
					}
				}
			}
		}
	}
	for _, s := range sc.Series {
		if s.Noisy != "" && !strings.HasPrefix(s.Variant, "kernel-") && !strings.Contains(s.Variant, "-idle-") && !strings.Contains(s.Variant, "-busy-") {
			t.Errorf("memory %s: flagged noisy (%s) but not a kernel series", seriesLabel(s), s.Noisy)
		}
		if s.Noisy != "" && (s.Variant == "idle-per-slot" || s.Variant == "busy-per-slot" || strings.HasPrefix(s.Variant, "kmem-")) {
			t.Errorf("memory %s: a PSS or memcg series flagged noisy by the meminfo drift", seriesLabel(s))
		}
	}
}
