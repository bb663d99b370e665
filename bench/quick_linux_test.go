package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
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
	checkRequired(t, "report", generic, reflect.TypeOf(Report{}))

	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("bench.json does not decode as Report: %v", err)
	}
	if back.Schema != SchemaVersion || !back.Quick {
		t.Errorf("schema %q quick %v, want %q true", back.Schema, back.Quick, SchemaVersion)
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
	if len(back.Claims) != 3 {
		t.Errorf("%d claims, want 3", len(back.Claims))
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
func checkSeries(t *testing.T, sc Scenario, s Series) {
	t.Helper()
	name := sc.Name + " " + s.label()
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
		var floor *Series
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
