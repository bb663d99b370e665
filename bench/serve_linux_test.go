package bench

import (
	"context"
	"encoding/json"
	"gosandbox/bench/benchjson"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gosandbox/harness"
)

// TestServeScenario runs the serve scenario alone at a tiny request count
// on every sandbox of this build, writes bench.json and checks its series:
// for each backend serve accepts and each concurrency, a rate series with
// one positive sample and a latency series of at most the request bound.
func TestServeScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pools and servers")
	}
	before := benchTempDirs()
	cfg := Config{Backends: harness.Sandboxes(), Scenarios: []string{ScenarioServe}, Quick: true, Rounds: 1, ServeRequests: 6}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
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
		t.Fatal(err)
	}
	if len(back.Scenarios) != 1 || back.Scenarios[0].Name != ScenarioServe {
		t.Fatalf("scenarios %v, want only %s", back.Scenarios, ScenarioServe)
	}
	for _, s := range back.Scenarios[0].Series {
		checkSeries(t, back.Scenarios[0], s)
	}
	checkServe(t, &back, cfg.Defaults())
	var table strings.Builder
	PrintSummary(&table, &back)
	if !strings.Contains(table.String(), "requests-per-second") || !strings.Contains(table.String(), "/s") {
		t.Errorf("summary does not show the serve rates:\n%s", table.String())
	}
	t.Logf("summary:\n%s", table.String())
	leftovers(t, before)
}

// checkServe wants, for every sandbox serve accepts that opened in the run,
// a rate and a latency series per concurrency; no other backend; at most
// cfg.ServeRequests latencies per measured window.
func checkServe(t *testing.T, rep *benchjson.Report, cfg Config) {
	t.Helper()
	sc := scenario(rep, ScenarioServe)
	if sc == nil {
		t.Error("no serve scenario")
		return
	}
	for _, e := range sc.Errors {
		t.Errorf("serve: %s", e)
	}
	var want []string
	for _, b := range harness.Sandboxes() {
		if !slices.ContainsFunc(rep.Errors, func(e string) bool { return strings.HasPrefix(e, "backend "+b+":") }) {
			want = append(want, b)
		}
	}
	if len(want) == 0 {
		t.Fatalf("no sandbox backend opened: %v", rep.Errors)
	}
	find := func(backend, variant string, c int) *benchjson.Series {
		for i := range sc.Series {
			if s := &sc.Series[i]; s.Backend == backend && s.Variant == variant && s.Value == float64(c) {
				return s
			}
		}
		return nil
	}
	for _, s := range sc.Series {
		if !slices.Contains(want, s.Backend) {
			t.Errorf("serve: series of %s, which serve does not accept or did not open", s.Backend)
		}
		if s.Param != "concurrency" || s.Program != programTrue.name || s.RatioToFloor != 0 {
			t.Errorf("serve %s: param %q program %q ratio %g", seriesLabel(s), s.Param, s.Program, s.RatioToFloor)
		}
	}
	for _, b := range want {
		for _, c := range cfg.Concurrency {
			rate, lat := find(b, benchjson.VariantRequestRate, c), find(b, benchjson.VariantLatency, c)
			if rate == nil || lat == nil {
				t.Errorf("serve: %s concurrency %d: rate %v latency %v series missing", b, c, rate != nil, lat != nil)
				continue
			}
			if rate.Unit != "requests/s" || len(rate.Samples) != cfg.Rounds || rate.Summary.Min <= 0 {
				t.Errorf("serve %s: unit %q samples %v, want %d positive requests/s", seriesLabel(*rate), rate.Unit, rate.Samples, cfg.Rounds)
			}
			if n := len(lat.Samples); lat.Unit != "ns" || n == 0 || n > cfg.Rounds*cfg.ServeRequests || lat.Summary.Min <= 0 {
				t.Errorf("serve %s: unit %q, %d samples (min %g), want ns, 1..%d positive", seriesLabel(*lat), lat.Unit, n, lat.Summary.Min, cfg.Rounds*cfg.ServeRequests)
			}
			t.Logf("serve %s c=%d: %.0f requests/s, latency p50 %.2f ms p99 %.2f ms (n=%d)",
				b, c, rate.Summary.P50, lat.Summary.P50/1e6, lat.Summary.P99/1e6, len(lat.Samples))
		}
	}
}
