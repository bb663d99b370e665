package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gosandbox/bench"
	"gosandbox/bench/benchjson"
)

func TestBenchRejectsUnknownNames(t *testing.T) {
	for _, args := range [][]string{
		{"--backends", "nosuch"},
		{"--scenarios", "latency"},
		{"--concurrency", "two"},
		{"--slots", "0"},
		{"--gaps", "5"},     // a duration needs its unit
		{"--gaps", "-20ms"}, // no negative gap
		{"--arrival-rate", "-1"},
		{"stray"},
	} {
		if got := runBench(append(args, "--quiet", "--out", t.TempDir())); got != 2 {
			t.Errorf("bench %v: exit %d, want 2", args, got)
		}
	}
}

// TestBenchQuickCLI runs the command as a user would, restricted to the floor
// and one scenario so that it takes seconds, and reads its report back.
func TestBenchQuickCLI(t *testing.T) {
	out := t.TempDir()
	if got := runBench([]string{"--quick", "--quiet", "--backends", "none", "--scenarios", "startup", "--out", out}); got != 0 {
		t.Fatalf("exit %d, want 0", got)
	}
	raw, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep benchjson.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Quick || len(rep.Scenarios) != 1 || rep.Scenarios[0].Name != bench.ScenarioStartup {
		t.Fatalf("report: quick %v, scenarios %+v", rep.Quick, rep.Scenarios)
	}
	for _, s := range rep.Scenarios[0].Series {
		if s.Backend != "none" || s.Summary.N != len(s.Samples) || s.Summary.N == 0 {
			t.Errorf("series %s/%s: %d samples, summary n %d", s.Backend, s.Program, len(s.Samples), s.Summary.N)
		}
	}
}
