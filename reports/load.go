package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gosandbox/bench/benchjson"
	"gosandbox/catalogue"

	"github.com/onsi/ginkgo/v2/types"
)

// Inputs is everything Load found under the input directory. Nothing in it is
// required: what could not be read is described in Problems.
type Inputs struct {
	// Dir is the directory that was read (normally out/).
	Dir string
	// Bench is out/bench/bench.json; nil when missing or unreadable.
	Bench *benchjson.Report
	// BenchPath is where Bench came from, relative to Dir.
	BenchPath string
	// Conformance holds one run per backend and target: this host's first
	// (sorted by backend), then the kernel matrix (sorted by target, backend).
	Conformance []ConformanceRun
	// MatrixBench holds the bench.json of each kernel-matrix target that has one.
	MatrixBench []TargetBench
	// Problems lists each input that is missing, partial or corrupt.
	Problems []Problem
	// MatrixNote says how the kernel matrix limited its run ("" when it did
	// not).
	MatrixNote string
}

// Target is a kernel and cgroup mode of the kernel matrix; the zero Target is
// the host the report runs on.
type Target struct {
	Kernel string
	Cgroup string
}

// IsHost reports whether t is the local host rather than a matrix target.
func (t Target) IsHost() bool { return t == Target{} }

// String is "kernel-cgroup", the name of the target's directory, or "" for
// the host.
func (t Target) String() string {
	switch {
	case t.IsHost():
		return ""
	case t.Cgroup == "":
		return t.Kernel
	}
	return t.Kernel + "-" + t.Cgroup
}

// ConformanceRun is one Ginkgo JSON report: one backend on one target.
type ConformanceRun struct {
	Backend string
	Target  Target
	// Path is the report file, relative to Inputs.Dir.
	Path  string
	Specs []SpecOutcome
	// SuiteNotes are suite-level failures (a failed BeforeSuite, an
	// interrupted run) that explain why specs are missing or skipped.
	SuiteNotes []string
}

// Column is the run's name in the conformance matrix: "oneshot" or
// "oneshot @ 6.1-v2".
func (r ConformanceRun) Column() string {
	if r.Target.IsHost() {
		return r.Backend
	}
	return r.Backend + " @ " + r.Target.String()
}

// Outcome states of a spec, reduced from Ginkgo's states.
const (
	StatePass    = "pass"
	StateFail    = "fail"
	StateSkip    = "skip"
	StatePending = "pending"
)

// SpecOutcome is one spec's result with the labels the catalogue needs.
type SpecOutcome struct {
	Property string `json:"property"` // "R5"; "" when the spec has no property label
	Area     string `json:"area"`     // "limits"
	Text     string `json:"text"`     // container texts and the spec's own text
	State    string `json:"state"`    // StatePass, StateFail, StateSkip or StatePending
	Reason   string `json:"reason,omitempty"`
}

// TargetBench is the bench.json of one kernel-matrix target.
type TargetBench struct {
	Target Target
	Path   string
	Report *benchjson.Report
}

// Problem is an input that is missing, partial or corrupt, and what that
// means for the report.
type Problem struct {
	Input string `json:"input"` // path relative to the input directory, or an area ("conformance")
	What  string `json:"what"`
}

func (p Problem) String() string { return p.Input + ": " + p.What }

// Load reads the conformance reports, the bench results and the kernel-matrix
// results under dir. It never fails: whatever is missing or unreadable is
// recorded in Inputs.Problems and the rest is still returned.
func Load(dir string) *Inputs {
	in := &Inputs{Dir: dir}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		in.problem(dir, "input directory missing or unreadable: run `make conformance` and `gosandbox bench` first")
		return in
	}

	in.loadLocalBench()
	in.loadLocalConformance()
	in.loadMatrix()
	in.checkCoverage()
	return in
}

func (in *Inputs) problem(input, format string, args ...any) {
	in.Problems = append(in.Problems, Problem{Input: input, What: fmt.Sprintf(format, args...)})
}

func (in *Inputs) rel(path string) string {
	if r, err := filepath.Rel(in.Dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

func (in *Inputs) loadLocalBench() {
	path := filepath.Join(in.Dir, "bench", "bench.json")
	in.BenchPath = in.rel(path)
	r, err := readBench(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		in.problem(in.BenchPath, "missing: no benchmark figures (run `gosandbox bench`)")
	case err != nil:
		in.problem(in.BenchPath, "unreadable, benchmark sections left out: %v", err)
	default:
		in.Bench = r
		in.benchProblems(in.BenchPath, r)
	}
}

// readBench decodes one bench.json; a file that decodes but is not a bench
// report (no schema, no scenarios) is an error too.
func readBench(path string) (*benchjson.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r benchjson.Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("corrupt JSON: %w", err)
	}
	if r.Schema == "" && len(r.Scenarios) == 0 && len(r.Claims) == 0 {
		return nil, errors.New("not a bench report (no schema, scenarios or claims)")
	}
	return &r, nil
}

// benchProblems records what a bench report says it could not measure, so
// the reader sees why a chart is missing.
func (in *Inputs) benchProblems(input string, r *benchjson.Report) {
	if r.Schema != benchjson.SchemaVersion {
		in.problem(input, "schema %q, this report reads %q: figures may be misread", r.Schema, benchjson.SchemaVersion)
	}
	for _, e := range r.Errors {
		in.problem(input, "bench error: %s", e)
	}
	if len(r.Scenarios) == 0 {
		in.problem(input, "no scenarios: the bench measured nothing")
	}
	for _, sc := range r.Scenarios {
		for _, e := range sc.Errors {
			in.problem(input, "scenario %s: %s", sc.Name, e)
		}
		if len(sc.Series) == 0 && len(sc.Errors) == 0 {
			in.problem(input, "scenario %s: no series", sc.Name)
		}
	}
}

func (in *Inputs) loadLocalConformance() {
	dir := filepath.Join(in.Dir, "conformance")
	before := len(in.Problems)
	runs, err := in.readConformanceDir(dir, Target{})
	// A directory whose every report was unreadable has its problems
	// listed already.
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(runs) == 0 && len(in.Problems) == before) {
		in.problem(in.rel(dir), "no conformance reports (<backend>.json): run `make conformance`")
		return
	}
	if err != nil {
		in.problem(in.rel(dir), "unreadable: %v", err)
		return
	}
	in.Conformance = append(in.Conformance, runs...)
}

// readConformanceDir reads every <backend>.json in dir; a corrupt file is a
// problem and is left out.
func (in *Inputs) readConformanceDir(dir string, target Target) ([]ConformanceRun, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var runs []ConformanceRun
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || name == "bench.json" {
			continue
		}
		path := filepath.Join(dir, name)
		run, err := readConformance(path)
		if err != nil {
			in.problem(in.rel(path), "left out of the conformance matrix: %v", err)
			continue
		}
		run.Backend = strings.TrimSuffix(name, ".json")
		run.Target = target
		run.Path = in.rel(path)
		if len(run.Specs) == 0 {
			in.problem(run.Path, "no specs ran for %s", run.Column())
		}
		for _, note := range run.SuiteNotes {
			in.problem(run.Path, "%s", note)
		}
		runs = append(runs, run)
	}
	sort.Slice(runs, func(i, j int) bool { return backendLess(runs[i].Backend, runs[j].Backend) })
	return runs, nil
}

// backendOrder puts the project's backends first, the external peer next,
// unknown ones after and the floor (none) last: it is calibration, not a
// contender.
var backendOrder = map[string]int{"oneshot": 1, "container": 2, "slots": 3, "bwrap": 4, floorBackend: 6}

func backendLess(a, b string) bool {
	ra, rb := backendOrder[a], backendOrder[b]
	if ra == 0 {
		ra = 5
	}
	if rb == 0 {
		rb = 5
	}
	if ra != rb {
		return ra < rb
	}
	return a < b
}

// readConformance decodes a Ginkgo v2 JSON report ([]types.Report) into spec
// outcomes.
func readConformance(path string) (ConformanceRun, error) {
	var run ConformanceRun
	data, err := os.ReadFile(path)
	if err != nil {
		return run, err
	}
	var suites []types.Report
	if err := json.Unmarshal(data, &suites); err != nil {
		return run, fmt.Errorf("corrupt Ginkgo JSON report: %w", err)
	}
	if len(suites) == 0 {
		return run, errors.New("empty Ginkgo JSON report (no suite)")
	}
	for _, suite := range suites {
		for _, reason := range suite.SpecialSuiteFailureReasons {
			run.SuiteNotes = append(run.SuiteNotes, "suite: "+reason)
		}
		notRun := notRunReason(suite)
		for _, sr := range suite.SpecReports {
			if sr.LeafNodeType != types.NodeTypeIt {
				// Suite-level nodes only matter when they failed: a failed
				// BeforeSuite is why every spec was skipped.
				if sr.State.Is(types.SpecStateFailureStates) {
					run.SuiteNotes = append(run.SuiteNotes,
						fmt.Sprintf("%s %s: %s", sr.LeafNodeType, sr.State, firstLine(sr.Failure.Message)))
				}
				continue
			}
			o := specOutcome(sr)
			if o.State == StateSkip && o.Reason == "" {
				o.Reason = notRun
			}
			run.Specs = append(run.Specs, o)
		}
	}
	return run, nil
}

// notRunReason explains specs Ginkgo skipped without a message: they were
// not selected by the run's filters, or the suite stopped before them.
func notRunReason(suite types.Report) string {
	c := suite.SuiteConfig
	var filters []string
	if c.LabelFilter != "" {
		filters = append(filters, "--label-filter="+c.LabelFilter)
	}
	for _, f := range c.FocusStrings {
		filters = append(filters, "--focus="+f)
	}
	for _, f := range c.SkipStrings {
		filters = append(filters, "--skip="+f)
	}
	for _, f := range c.FocusFiles {
		filters = append(filters, "--focus-file="+f)
	}
	if len(filters) > 0 {
		return "not run: not selected by " + strings.Join(filters, " ")
	}
	return "not run (no skip message: the suite may have stopped before this spec)"
}

func specOutcome(sr types.SpecReport) SpecOutcome {
	o := SpecOutcome{Text: sr.FullText(), State: reduceState(sr.State)}
	// Container labels first: the area is normally on the Describe.
	var labels []string
	for _, ls := range sr.ContainerHierarchyLabels {
		labels = append(labels, ls...)
	}
	labels = append(labels, sr.LeafNodeLabels...)
	var other string
	for _, l := range labels {
		switch {
		case catalogue.LooksLikeID(l):
			if o.Property == "" {
				o.Property = l
			}
		case catalogue.IsArea(l):
			if o.Area == "" {
				o.Area = l
			}
		case other == "":
			other = l
		}
	}
	// The catalogue decides a property's area; the labels only where the
	// property is not in it.
	if p, ok := catalogue.Lookup(o.Property); ok {
		o.Area = p.Area
	}
	if o.Area == "" {
		o.Area = other
	}
	if o.State != StatePass {
		o.Reason = strings.TrimSpace(sr.Failure.Message)
		if o.Reason == "" {
			o.Reason = entriesText(sr.ReportEntries)
		}
	}
	return o
}

func reduceState(s types.SpecState) string {
	switch {
	case s == types.SpecStatePassed:
		return StatePass
	case s == types.SpecStateSkipped:
		return StateSkip
	case s == types.SpecStatePending:
		return StatePending
	}
	return StateFail // failed, panicked, timed out, aborted, interrupted
}

func entriesText(entries types.ReportEntries) string {
	var parts []string
	for _, e := range entries {
		if v := strings.TrimSpace(e.Value.Representation); v != "" {
			parts = append(parts, e.Name+": "+v)
		}
	}
	return strings.Join(parts, "; ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// matrixSummary is the part of out/matrix/matrix.json (written by the
// kernel-matrix runner, harness/vm) that the report uses: which directories
// are targets and why a target has no results.
type matrixSummary struct {
	Accel       string         `json:"accel"`
	LabelFilter string         `json:"label_filter"`
	Columns     []matrixColumn `json:"columns"`
}

type matrixColumn struct {
	Name           string   `json:"name"` // directory under out/matrix
	Kernel         string   `json:"kernel"`
	KernelRelease  string   `json:"kernel_release"`
	Cgroup         string   `json:"cgroup"`
	Booted         bool     `json:"booted"`
	Completed      bool     `json:"completed"`
	Reason         string   `json:"reason"`
	Bench          bool     `json:"bench"`
	Problems       []string `json:"problems"`
	CgroupProblems []string `json:"cgroup_problems"`
}

// cgroupModes are the cgroup parts a target directory name ends with; other
// directories under out/matrix (caches) are not targets.
var cgroupModes = map[string]bool{"v1": true, "v2": true, "hybrid": true}

// loadMatrix reads out/matrix/<kernel>-<cgroup>/: conformance reports either
// directly in the target directory or in its conformance/ subdirectory, and
// bench.json either directly or in bench/. The targets are the columns of
// matrix.json when it exists, else the directories named kernel-cgroup, and
// the columns of vagrant.json (vagrant-<machine>-<cgroup>) either way.
func (in *Inputs) loadMatrix() {
	root := filepath.Join(in.Dir, "matrix")
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return // no matrix run: nothing to report, nothing missing
	}
	if err != nil {
		in.problem(in.rel(root), "unreadable: %v", err)
		return
	}
	summary, columns := in.readMatrixSummary(root, "matrix.json")
	// The Vagrant matrix (vagrant/run-matrix.sh) writes its own summary:
	// its columns stand beside the qemu ones.
	vagrant, vagrantColumns := in.readMatrixSummary(root, "vagrant.json")
	if summary == nil {
		listed := map[string]bool{}
		for _, col := range vagrantColumns {
			listed[col.Name] = true
		}
		for _, e := range entries {
			if t := parseTarget(e.Name()); e.IsDir() && cgroupModes[t.Cgroup] && !listed[e.Name()] {
				columns = append(columns, matrixColumn{Name: e.Name(), Kernel: t.Kernel, Cgroup: t.Cgroup, Booted: true, Completed: true, Bench: true})
			}
		}
	}
	columns = append(columns, vagrantColumns...)
	for _, col := range columns {
		target := Target{Kernel: col.Kernel, Cgroup: col.Cgroup}
		if target.Kernel == "" {
			target = parseTarget(col.Name)
		}
		dir := filepath.Join(root, col.Name)
		if !col.Booted && strings.HasPrefix(col.Reason, "skipped") {
			// Not run at all (its box cannot be had): one line, not three.
			in.problem(in.rel(dir), "kernel %s: %s", target, firstLine(col.Reason))
			continue
		}
		if !col.Booted || !col.Completed {
			what := "did not complete"
			if !col.Booted {
				what = "did not boot"
			}
			if col.Reason != "" {
				what += ": " + firstLine(col.Reason)
			}
			in.problem(in.rel(dir), "kernel %s: %s", target, what)
		}
		for _, p := range col.Problems {
			in.problem(in.rel(dir), "kernel %s: %s", target, p)
		}
		for _, p := range col.CgroupProblems {
			in.problem(in.rel(dir), "kernel %s: cgroup: %s", target, p)
		}
		var found bool
		for _, cdir := range []string{dir, filepath.Join(dir, "conformance")} {
			runs, err := in.readConformanceDir(cdir, target)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				in.problem(in.rel(cdir), "unreadable: %v", err)
			}
			found = found || len(runs) > 0
			in.Conformance = append(in.Conformance, runs...)
		}
		if !found {
			in.problem(in.rel(dir), "no conformance reports for kernel target %s", target)
		}
		in.loadMatrixBench(dir, target)
	}
	var notes []string
	if summary != nil && summary.LabelFilter != "" {
		notes = append(notes, fmt.Sprintf("the kernel matrix ran only the specs matching --label-filter=%q", summary.LabelFilter))
	}
	if vagrant != nil && vagrant.LabelFilter != "" {
		notes = append(notes, fmt.Sprintf("the Vagrant matrix ran only the specs matching %q", vagrant.LabelFilter))
	}
	in.MatrixNote = strings.Join(notes, "; ")
}

// readMatrixSummary reads a summary (matrix.json of the qemu matrix,
// vagrant.json of the Vagrant one); nil when there is none or it is
// unreadable (then the directory names decide).
func (in *Inputs) readMatrixSummary(root, name string) (*matrixSummary, []matrixColumn) {
	path := filepath.Join(root, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var m matrixSummary
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		in.problem(in.rel(path), "unreadable, its targets taken from directory names: %v", err)
		return nil, nil
	}
	return &m, m.Columns
}

func (in *Inputs) loadMatrixBench(dir string, target Target) {
	for _, path := range []string{filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench", "bench.json")} {
		r, err := readBench(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			in.problem(in.rel(path), "unreadable, left out of the per-kernel figures: %v", err)
			return
		}
		in.benchProblems(in.rel(path), r)
		in.MatrixBench = append(in.MatrixBench, TargetBench{Target: target, Path: in.rel(path), Report: r})
		return
	}
	in.problem(in.rel(dir), "no bench.json for kernel target %s: no startup figures for it", target)
}

// parseTarget splits a matrix directory name at its last '-': kernel versions
// may contain dashes ("6.1.0-18-amd64-v2"), cgroup modes do not.
func parseTarget(name string) Target {
	if i := strings.LastIndexByte(name, '-'); i > 0 && i < len(name)-1 {
		return Target{Kernel: name[:i], Cgroup: name[i+1:]}
	}
	return Target{Kernel: name}
}

// checkCoverage notes inputs that are present but too thin to compare.
func (in *Inputs) checkCoverage() {
	var host []string
	for _, r := range in.Conformance {
		if r.Target.IsHost() {
			host = append(host, r.Backend)
		}
	}
	if len(host) == 1 {
		in.problem("conformance", "only one backend (%s): nothing to compare it with", host[0])
	}
	if in.Bench != nil {
		backends := map[string]bool{}
		for _, sc := range in.Bench.Scenarios {
			for _, s := range sc.Series {
				backends[s.Backend] = true
			}
		}
		if len(backends) == 1 {
			for b := range backends {
				in.problem(in.BenchPath, "only one backend (%s): no side-by-side figures", b)
			}
		}
	}
}
