package reports

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"gosandbox/bench/benchjson"
	"gosandbox/catalogue"
)

// Dataset is what the charts plot and the writers print, reduced from Inputs.
// Values keep the bench's units (ns, bytes, runs/s); the charts choose display
// units. It is plain data so that tests can compare it with golden files.
type Dataset struct {
	Quick   bool     `json:"quick"`
	Summary []string `json:"summary"`
	// SideBySide compares this host's backends on the catalogue and the
	// main scenarios: the report's first section.
	SideBySide SideBySide `json:"side_by_side"`
	// Latency has one entry per latency scenario and program (startup of each
	// program, reset): a box and an ECDF per backend.
	Latency []LatencyGroup `json:"latency"`
	// Ratios are p50 ratios to the floor (backend none), grouped by program.
	Ratios     []Bar  `json:"ratios"`
	Throughput []Line `json:"throughput"` // runs/s (p50) against concurrency
	// Serve is gosandbox serve over HTTP: a row per backend and
	// concurrency; ServeReference is a published figure set beside it
	// (not measured here), present when Serve is.
	Serve          []ServeRow      `json:"serve"`
	ServeReference *ServeReference `json:"serve_reference,omitempty"`
	Warmup         []Line          `json:"warmup"` // ns to N ready containers (p50) against N
	Memory         []Line          `json:"memory"` // bytes per slot (p50) against slots
	// Arrivals is the arrivals scenario, a row per backend and schedule.
	Arrivals []ArrivalRow `json:"arrivals"`
	// KernelMemory is the kernel's share per slot (p50 of the meminfo
	// delta) against slots; MemoryTable sets it beside PSS.
	KernelMemory []Line      `json:"kernel_memory"`
	MemoryTable  []MemoryRow `json:"memory_table"`
	Disk         []Bar       `json:"disk"` // bytes written per sandbox (p50), by layout
	// Scenarios tabulates every scenario's series, known or not.
	Scenarios []ScenarioTable `json:"scenarios"`
	Matrix    Matrix          `json:"matrix"`
	// MatrixNote says how the kernel matrix limited its run.
	MatrixNote string            `json:"matrix_note,omitempty"`
	Claims     []benchjson.Claim `json:"claims"`
	// KernelStartup is the startup scenario of each kernel-matrix target.
	KernelStartup []KernelStartup `json:"kernel_startup"`
	Env           []EnvBlock      `json:"environment"`
	Problems      []Problem       `json:"problems"`
	// Notes are caveats the bench recorded (noisy scenarios).
	Notes []string `json:"notes"`
}

// LatencyGroup is one program's latency under each backend.
type LatencyGroup struct {
	Scenario string `json:"scenario"`
	Program  string `json:"program"`
	Unit     string `json:"unit"`
	Boxes    []Box  `json:"boxes"`
	ECDF     []Line `json:"ecdf"`
	// LogScale is set when the slowest sample is more than logSpread times
	// the fastest: on a linear axis the fast backends would be a flat line.
	LogScale bool `json:"log_scale"`
}

// logSpread is the max/min ratio above which latency axes become logarithmic.
const logSpread = 20

// Box is one backend's raw samples, sorted.
type Box struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
}

// Line is a labelled series of points, in X order.
type Line struct {
	Label  string `json:"label"`
	Unit   string `json:"unit"`
	Points []XY   `json:"points"`
}

// XY is one point of a Line.
type XY struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Bar is one bar of a grouped bar chart.
type Bar struct {
	Group string  `json:"group"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// ScenarioTable is a scenario's series as summary rows.
type ScenarioTable struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Noisy       string     `json:"noisy,omitempty"` // the reason, when noisy
	Rows        []TableRow `json:"rows"`
}

// TableRow is one series' summary.
type TableRow struct {
	Backend string            `json:"backend"`
	Program string            `json:"program"`
	Variant string            `json:"variant"` // what was measured ("idle-per-slot", "rootfs-copy")
	Param   string            `json:"param"`   // "concurrency=4"; "" without a parameter
	Unit    string            `json:"unit"`
	Summary benchjson.Summary `json:"summary"`
	Ratio   float64           `json:"ratio,omitempty"` // p50 over the floor's p50
}

// ArrivalRow is one backend on one arrival schedule: order statistics of
// the latency from the scheduled start, and p50 and p90 over the floor's at
// the same schedule.
type ArrivalRow struct {
	Backend  string            `json:"backend"`
	Schedule string            `json:"schedule"` // "fixed" or "poisson"
	GapMS    float64           `json:"gap_ms"`   // the gap, or the Poisson mean gap
	Unit     string            `json:"unit"`
	Summary  benchjson.Summary `json:"summary"`
	Ratio    float64           `json:"ratio,omitempty"`     // p50 over the floor's p50
	RatioP90 float64           `json:"ratio_p90,omitempty"` // p90 over the floor's p90
}

// MemoryRow is one backend with N slots: p50s per slot of PSS, kernel
// memory (meminfo delta) and their sum, idle and busy, and the memcg kmem
// figure when the bench found one.
type MemoryRow struct {
	Backend    string  `json:"backend"`
	Slots      float64 `json:"slots"`
	PSSIdle    float64 `json:"pss_idle"`
	KernelIdle float64 `json:"kernel_idle"`
	TotalIdle  float64 `json:"total_idle"`
	PSSBusy    float64 `json:"pss_busy"`
	KernelBusy float64 `json:"kernel_busy"`
	TotalBusy  float64 `json:"total_busy"`
	KmemBusy   float64 `json:"kmem_busy,omitempty"`
	HasKmem    bool    `json:"has_kmem"`
	Drift      float64 `json:"drift"` // median |kernel-drift| over the quiet window
	Noisy      string  `json:"noisy,omitempty"`
}

// Matrix is the conformance matrix: a row per property, a column per
// backend (and kernel target).
type Matrix struct {
	Columns []string      `json:"columns"`
	Rows    []MatrixRow   `json:"rows"`
	Totals  []ColumnTotal `json:"totals"`
}

// MatrixRow is one property across the columns.
type MatrixRow struct {
	Property string `json:"property"`
	Area     string `json:"area"`
	Title    string `json:"title"`
	Cells    []Cell `json:"cells"`
}

// Cell is one property under one column: the worst state of its specs (fail
// over pass over skip over pending; "" when no spec covers it) and the specs.
type Cell struct {
	State string        `json:"state"`
	Specs []SpecOutcome `json:"specs,omitempty"`
}

// ColumnTotal counts a column's specs by state.
type ColumnTotal struct {
	Column  string `json:"column"`
	Specs   int    `json:"specs"`
	Pass    int    `json:"pass"`
	Fail    int    `json:"fail"`
	Skip    int    `json:"skip"`
	Pending int    `json:"pending"`
}

// KernelStartup is one startup series on one kernel-matrix target.
type KernelStartup struct {
	Target  string  `json:"target"`
	Backend string  `json:"backend"`
	Program string  `json:"program"`
	P50     float64 `json:"p50"`
	Unit    string  `json:"unit"`
	Ratio   float64 `json:"ratio,omitempty"`
	Quick   bool    `json:"quick"`
}

// EnvBlock is the environment of one bench run, as label/value pairs.
type EnvBlock struct {
	Title  string      `json:"title"`
	Quick  bool        `json:"quick"`
	Fields [][2]string `json:"fields"`
}

// floorBackend is the backend whose plain fork+exec+wait is the floor.
const floorBackend = "none"

// Build reduces the inputs to the series and tables the report shows.
func Build(in *Inputs) *Dataset {
	d := &Dataset{Problems: append([]Problem(nil), in.Problems...)}
	if b := in.Bench; b != nil {
		d.Quick = b.Quick
		d.Env = append(d.Env, envBlock("this host ("+in.BenchPath+")", b))
		d.Claims = b.Claims
		for _, sc := range b.Scenarios {
			d.addScenario(sc)
		}
	}
	for _, tb := range in.MatrixBench {
		d.Env = append(d.Env, envBlock("kernel "+tb.Target.String()+" ("+tb.Path+")", tb.Report))
		d.KernelStartup = append(d.KernelStartup, kernelStartup(tb)...)
	}
	d.Matrix = buildMatrix(in.Conformance)
	d.MatrixNote = in.MatrixNote
	d.SideBySide = buildSideBySide(d.Matrix, in.Conformance, in.Bench)
	d.Summary = d.summarise(in)
	return d
}

func (d *Dataset) addScenario(sc benchjson.Scenario) {
	table := ScenarioTable{Name: sc.Name, Description: sc.Description}
	if sc.Noisy {
		table.Noisy = sc.NoisyReason
		if table.Noisy == "" {
			table.Noisy = "marked noisy by the bench"
		}
		d.Notes = append(d.Notes, fmt.Sprintf("%s: noisy: %s", sc.Name, table.Noisy))
	}
	for _, s := range sc.Series {
		row := TableRow{Backend: s.Backend, Program: s.Program, Variant: s.Variant, Unit: s.Unit,
			Summary: summaryOf(s), Ratio: ratioToFloor(sc, s)}
		if s.Param != "" && s.Param != "layout" {
			row.Param = s.Param + "=" + trimFloat(s.Value)
		}
		table.Rows = append(table.Rows, row)
	}
	d.Scenarios = append(d.Scenarios, table)

	switch sc.Name {
	case "startup", "reset":
		d.Latency = append(d.Latency, latencyGroups(sc)...)
		if sc.Name == "startup" {
			d.Ratios = append(d.Ratios, ratioBars(sc)...)
		}
	case "throughput":
		d.Throughput = append(d.Throughput, paramLines(sc, p50)...)
	case "serve":
		d.Serve = append(d.Serve, serveRows(sc)...)
		if len(d.Serve) > 0 {
			ref := goJudgeReference
			d.ServeReference = &ref
		}
	case "warmup":
		d.Warmup = append(d.Warmup, paramLines(sc, p50)...)
	case "memory":
		d.Memory = append(d.Memory, memoryLines(sc)...)
		d.KernelMemory = append(d.KernelMemory, kernelLines(sc)...)
		d.MemoryTable = append(d.MemoryTable, memoryRows(sc)...)
	case "arrivals":
		d.Arrivals = append(d.Arrivals, arrivalRows(sc)...)
	case "disk":
		d.Disk = append(d.Disk, diskBars(sc)...)
	}
}

// summaryOf returns the bench's summary, or one computed from the samples
// when the bench left it empty.
func summaryOf(s benchjson.Series) benchjson.Summary {
	if s.Summary.N > 0 || len(s.Samples) == 0 {
		return s.Summary
	}
	v := sortedCopy(s.Samples)
	var sum float64
	for _, x := range v {
		sum += x
	}
	return benchjson.Summary{N: len(v), Min: v[0], Max: v[len(v)-1],
		P50: quantile(v, 0.5), P90: quantile(v, 0.9), P99: quantile(v, 0.99), Mean: sum / float64(len(v))}
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func sortedCopy(v []float64) []float64 {
	out := append([]float64(nil), v...)
	sort.Float64s(out)
	return out
}

func p50(s benchjson.Series) float64 { return summaryOf(s).P50 }

// memoryLines draws PSS per slot against the slot count. The bench
// records totals and per-slot figures as variants ("idle-total",
// "idle-per-slot", "busy-per-slot"); the per-slot PSS ones are plotted (the
// kernel and total ones have their own chart and table). Without per-slot
// variants a total in bytes is divided by the slot count.
func memoryLines(sc benchjson.Scenario) []Line {
	perSlot := benchjson.Scenario{Name: sc.Name}
	for _, s := range sc.Series {
		if s.Variant == "idle-per-slot" || s.Variant == "busy-per-slot" {
			perSlot.Series = append(perSlot.Series, s)
		}
	}
	if len(perSlot.Series) > 0 {
		return paramLines(perSlot, func(s benchjson.Series) float64 { return p50(s) })
	}
	return paramLines(sc, func(s benchjson.Series) float64 {
		if s.Value > 0 && !strings.Contains(s.Unit, "/") {
			return p50(s) / s.Value
		}
		return p50(s)
	})
}

// kernelLines draws the kernel's memory per slot (the meminfo delta of
// unreclaimable slab, kernel stacks and page tables) against the slot count.
func kernelLines(sc benchjson.Scenario) []Line {
	perSlot := benchjson.Scenario{Name: sc.Name}
	for _, s := range sc.Series {
		if s.Variant == "kernel-idle-per-slot" || s.Variant == "kernel-busy-per-slot" {
			s.Variant = strings.TrimPrefix(s.Variant, "kernel-")
			perSlot.Series = append(perSlot.Series, s)
		}
	}
	return paramLines(perSlot, p50)
}

// memoryRows sets PSS, kernel and total per slot side by side, a row per
// backend and slot count that has kernel figures.
func memoryRows(sc benchjson.Scenario) []MemoryRow {
	type key struct {
		backend string
		slots   float64
	}
	var order []key
	byKey := map[key]map[string]benchjson.Series{}
	for _, s := range sc.Series {
		k := key{s.Backend, s.Value}
		if byKey[k] == nil {
			byKey[k] = map[string]benchjson.Series{}
			order = append(order, k)
		}
		byKey[k][s.Variant] = s
	}
	var rows []MemoryRow
	for _, k := range order {
		m := byKey[k]
		kb, ok := m["kernel-busy-per-slot"]
		if !ok {
			continue
		}
		get := func(v string) float64 {
			if s, ok := m[v]; ok {
				return p50(s)
			}
			return 0
		}
		row := MemoryRow{Backend: k.backend, Slots: k.slots,
			PSSIdle: get("idle-per-slot"), KernelIdle: get("kernel-idle-per-slot"), TotalIdle: get("total-idle-per-slot"),
			PSSBusy: get("busy-per-slot"), KernelBusy: p50(kb), TotalBusy: get("total-busy-per-slot")}
		if s, ok := m["kmem-busy-per-slot"]; ok && len(s.Samples) > 0 {
			row.KmemBusy, row.HasKmem = p50(s), true
		}
		if s, ok := m["kernel-drift"]; ok && len(s.Samples) > 0 {
			abs := make([]float64, len(s.Samples))
			for i, x := range s.Samples {
				abs[i] = math.Abs(x)
			}
			row.Drift = quantile(sortedCopy(abs), 0.5)
		}
		var noisy []string
		for _, v := range []string{"kernel-idle-per-slot", "kernel-busy-per-slot"} {
			if s := m[v]; s.Noisy != "" {
				noisy = append(noisy, strings.TrimSuffix(strings.TrimPrefix(v, "kernel-"), "-per-slot")+": "+s.Noisy)
			}
		}
		row.Noisy = strings.Join(noisy, "; ")
		rows = append(rows, row)
	}
	return rows
}

// arrivalRows is a row per backend and schedule: fixed gaps in increasing
// order, then Poisson; backends in the bench's order within each.
func arrivalRows(sc benchjson.Scenario) []ArrivalRow {
	var rows []ArrivalRow
	for _, s := range sc.Series {
		if summaryOf(s).N == 0 {
			continue
		}
		row := ArrivalRow{Backend: s.Backend, Schedule: s.Variant, GapMS: s.Value, Unit: s.Unit,
			Summary: summaryOf(s), Ratio: ratioToFloor(sc, s)}
		if s.Backend != floorBackend {
			for _, f := range sc.Series {
				if f.Backend == floorBackend && f.Variant == s.Variant && f.Value == s.Value && f.Program == s.Program {
					if fp := summaryOf(f).P90; fp > 0 {
						row.RatioP90 = row.Summary.P90 / fp
					}
				}
			}
		}
		rows = append(rows, row)
	}
	rank := func(r ArrivalRow) int {
		if r.Schedule == benchjson.SchedulePoisson {
			return 1
		}
		return 0
	}
	sort.SliceStable(rows, func(a, b int) bool {
		if ra, rb := rank(rows[a]), rank(rows[b]); ra != rb {
			return ra < rb
		}
		return rows[a].GapMS < rows[b].GapMS
	})
	return rows
}

// scheduleLabel names an arrival schedule for axes and tables.
func scheduleLabel(r ArrivalRow) string {
	if r.Schedule == benchjson.SchedulePoisson {
		if r.GapMS > 0 {
			return fmt.Sprintf("Poisson %s/s", trimFloat(math.Round(10000/r.GapMS)/10))
		}
		return "Poisson"
	}
	return trimFloat(r.GapMS) + " ms"
}

// ratioToFloor is the series' p50 over the floor's p50 for the same program
// in the same scenario: the bench's figure when it recorded one.
func ratioToFloor(sc benchjson.Scenario, s benchjson.Series) float64 {
	if s.RatioToFloor > 0 {
		return s.RatioToFloor
	}
	if s.Backend == floorBackend {
		return 0
	}
	for _, f := range sc.Series {
		if f.Backend == floorBackend && f.Program == s.Program && f.Param == s.Param && f.Value == s.Value && f.Variant == s.Variant {
			if fp := p50(f); fp > 0 {
				return p50(s) / fp
			}
		}
	}
	return 0
}

// programName is the series' program; a scenario without programs (reset)
// has one unnamed group.
func programName(s benchjson.Series) string { return s.Program }

// latencyGroups makes a box and an ECDF per backend for each program of a
// latency scenario, in the bench's order.
func latencyGroups(sc benchjson.Scenario) []LatencyGroup {
	var groups []LatencyGroup
	index := map[string]int{}
	for _, s := range sc.Series {
		if len(s.Samples) == 0 {
			continue
		}
		prog := programName(s)
		i, ok := index[prog]
		if !ok {
			i = len(groups)
			index[prog] = i
			groups = append(groups, LatencyGroup{Scenario: sc.Name, Program: prog, Unit: s.Unit})
		}
		g := &groups[i]
		sorted := sortedCopy(s.Samples)
		g.Boxes = append(g.Boxes, Box{Label: s.Backend, Values: sorted})
		g.ECDF = append(g.ECDF, Line{Label: s.Backend, Unit: s.Unit, Points: ecdf(sorted)})
	}
	for i := range groups {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, b := range groups[i].Boxes {
			lo = math.Min(lo, b.Values[0])
			hi = math.Max(hi, b.Values[len(b.Values)-1])
		}
		groups[i].LogScale = lo > 0 && hi/lo > logSpread
	}
	return groups
}

// ecdf is the empirical distribution of sorted samples: the i-th smallest
// sample at fraction (i+1)/n, drawn as a step line.
func ecdf(sorted []float64) []XY {
	pts := make([]XY, len(sorted))
	n := float64(len(sorted))
	for i, x := range sorted {
		pts[i] = XY{X: x, Y: float64(i+1) / n}
	}
	return pts
}

func ratioBars(sc benchjson.Scenario) []Bar {
	var bars []Bar
	for _, s := range sc.Series {
		if s.Backend == floorBackend {
			continue
		}
		if r := ratioToFloor(sc, s); r > 0 {
			bars = append(bars, Bar{Group: programName(s), Label: s.Backend, Value: r, Unit: "x"})
		}
	}
	return bars
}

// paramLines makes one line per backend (and program, when a scenario has
// several) through the parameter values, sorted by value.
func paramLines(sc benchjson.Scenario, y func(benchjson.Series) float64) []Line {
	programs := map[string]bool{}
	for _, s := range sc.Series {
		programs[s.Program] = true
	}
	var lines []Line
	index := map[string]int{}
	for _, s := range sc.Series {
		if summaryOf(s).N == 0 {
			continue
		}
		label := s.Backend
		if len(programs) > 1 && s.Program != "" {
			label += " " + s.Program
		}
		if v := strings.TrimSuffix(s.Variant, "-per-slot"); v != "" {
			label += " " + v
		}
		i, ok := index[label]
		if !ok {
			i = len(lines)
			index[label] = i
			unit := s.Unit
			if sc.Name == "memory" && !strings.Contains(unit, "/") {
				unit += "/slot"
			}
			lines = append(lines, Line{Label: label, Unit: unit})
		}
		lines[i].Points = append(lines[i].Points, XY{X: s.Value, Y: y(s)})
	}
	for i := range lines {
		sort.SliceStable(lines[i].Points, func(a, b int) bool { return lines[i].Points[a].X < lines[i].Points[b].X })
	}
	return lines
}

// diskBars has a bar per layout (rootfs copy, overlay upper, shared binds per
// backend). The layout is the series' variant, or failing that its program
// or backend. The statfs delta of the shared layout is left to the tables:
// other writers on the machine make it noise next to the du figures.
func diskBars(sc benchjson.Scenario) []Bar {
	var bars []Bar
	for _, s := range sc.Series {
		if summaryOf(s).N == 0 || strings.HasSuffix(s.Variant, "fs-delta") {
			continue
		}
		label := s.Variant
		if label == "" {
			label = s.Program
		}
		if label == "" {
			label = s.Backend
		} else if s.Backend != "" && s.Backend != label {
			label += " (" + s.Backend + ")"
		}
		bars = append(bars, Bar{Label: label, Value: p50(s), Unit: s.Unit})
	}
	return bars
}

func kernelStartup(tb TargetBench) []KernelStartup {
	var rows []KernelStartup
	for _, sc := range tb.Report.Scenarios {
		if sc.Name != "startup" {
			continue
		}
		for _, s := range sc.Series {
			if summaryOf(s).N == 0 {
				continue
			}
			rows = append(rows, KernelStartup{Target: tb.Target.String(), Backend: s.Backend,
				Program: programName(s), P50: p50(s), Unit: s.Unit, Ratio: ratioToFloor(sc, s), Quick: tb.Report.Quick})
		}
	}
	return rows
}

func envBlock(title string, r *benchjson.Report) EnvBlock {
	e := r.Env
	b := EnvBlock{Title: title, Quick: r.Quick}
	add := func(k, v string) {
		if v != "" {
			b.Fields = append(b.Fields, [2]string{k, v})
		}
	}
	if r.Quick {
		add("run", "QUICK (smoke run: too few samples; figures are not to be quoted)")
	} else {
		add("run", "full")
	}
	add("kernel", e.Kernel)
	add("cgroup mode", e.CgroupMode)
	add("CPU", e.CPUModel)
	if e.Cores > 0 {
		add("cores", fmt.Sprint(e.Cores))
	}
	add("load average before", loadString(e.LoadBefore))
	add("load average after", loadString(e.LoadAfter))
	add("Go", e.GoVersion)
	keys := make([]string, 0, len(e.Versions))
	for k := range e.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("version of "+k, e.Versions[k])
	}
	if !r.Started.IsZero() {
		add("started", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
		if r.Finished.After(r.Started) {
			add("duration", r.Finished.Sub(r.Started).Round(1e9).String())
		}
	}
	add("schema", r.Schema)
	return b
}

// envLine says in one line where the figures came from.
func envLine(r *benchjson.Report) string {
	e := r.Env
	var parts []string
	if r.Quick {
		parts = append(parts, "QUICK run")
	} else {
		parts = append(parts, "full run")
	}
	if e.Kernel != "" {
		parts = append(parts, "kernel "+e.Kernel)
	}
	if e.CgroupMode != "" {
		parts = append(parts, "cgroup "+e.CgroupMode)
	}
	if e.Cores > 0 {
		parts = append(parts, fmt.Sprintf("%d cores", e.Cores))
	}
	if e.CPUModel != "" {
		parts = append(parts, e.CPUModel)
	}
	if l := loadString(e.LoadBefore); l != "" {
		parts = append(parts, "load before "+l)
	}
	return strings.Join(parts, ", ")
}

func loadString(l [3]float64) string {
	if l == [3]float64{} {
		return ""
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2])
}

// stateRank orders cell states: a property fails if any spec fails.
var stateRank = map[string]int{StatePending: 1, StateSkip: 2, StatePass: 3, StateFail: 4}

func buildMatrix(runs []ConformanceRun) Matrix {
	var m Matrix
	rowIndex := map[string]int{}
	addRow := func(id, area, title string) int {
		if i, ok := rowIndex[id]; ok {
			return i
		}
		rowIndex[id] = len(m.Rows)
		m.Rows = append(m.Rows, MatrixRow{Property: id, Area: area, Title: title, Cells: make([]Cell, len(runs))})
		return rowIndex[id]
	}
	for _, p := range catalogue.All() {
		addRow(p.ID, p.Area, p.Title)
	}
	// Properties outside the catalogue, then unlabelled specs, go below it.
	var extra []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, s := range r.Specs {
			if _, ok := rowIndex[s.Property]; !ok && !seen[s.Property] {
				seen[s.Property] = true
				extra = append(extra, s.Property)
			}
		}
	}
	sort.Slice(extra, func(i, j int) bool {
		if (extra[i] == "") != (extra[j] == "") {
			return extra[j] == ""
		}
		return extra[i] < extra[j]
	})
	for _, id := range extra {
		if id == "" {
			addRow("", "", "specs without a property label")
		} else {
			addRow(id, "", "not in the catalogue")
		}
	}

	for c, r := range runs {
		m.Columns = append(m.Columns, r.Column())
		total := ColumnTotal{Column: r.Column(), Specs: len(r.Specs)}
		for _, s := range r.Specs {
			row := &m.Rows[rowIndex[s.Property]]
			if row.Area == "" {
				row.Area = s.Area
			}
			cell := &row.Cells[c]
			cell.Specs = append(cell.Specs, s)
			if stateRank[s.State] > stateRank[cell.State] {
				cell.State = s.State
			}
			switch s.State {
			case StatePass:
				total.Pass++
			case StateFail:
				total.Fail++
			case StateSkip:
				total.Skip++
			case StatePending:
				total.Pending++
			}
		}
		m.Totals = append(m.Totals, total)
	}
	return m
}

// summarise writes the few lines at the top of the report.
func (d *Dataset) summarise(in *Inputs) []string {
	var lines []string
	if d.Quick {
		lines = append(lines, "QUICK bench run: too few samples, the figures below are not to be quoted.")
	}
	if len(d.Matrix.Totals) > 0 {
		var parts []string
		var matrixFails, matrixTargets int
		targets := map[string]bool{}
		for i, t := range d.Matrix.Totals {
			run := in.Conformance[i]
			if !run.Target.IsHost() {
				targets[run.Target.String()] = true
				matrixFails += t.Fail
				continue
			}
			part := fmt.Sprintf("%s %d/%d pass", t.Column, t.Pass, t.Specs)
			var rest []string
			for _, c := range []struct {
				n    int
				what string
			}{{t.Fail, "fail"}, {t.Skip, "skip"}, {t.Pending, "pending"}} {
				if c.n > 0 {
					rest = append(rest, fmt.Sprintf("%d %s", c.n, c.what))
				}
			}
			if len(rest) > 0 {
				part += " (" + strings.Join(rest, ", ") + ")"
			}
			if run.Backend == floorBackend {
				part += " [no isolation: floor, expected to fail]"
			}
			parts = append(parts, part)
		}
		matrixTargets = len(targets)
		if len(parts) > 0 {
			lines = append(lines, "conformance: "+strings.Join(parts, "; "))
		}
		if matrixTargets > 0 {
			lines = append(lines, fmt.Sprintf("kernel matrix: %d target(s), %d failing spec(s)", matrixTargets, matrixFails))
		}
	} else {
		lines = append(lines, "conformance: no results")
	}
	if in.Bench == nil {
		lines = append(lines, "bench: no results")
	} else {
		lines = append(lines, "bench figures from: "+envLine(in.Bench))
	}
	byProgram := map[string][]string{}
	var programs []string
	for _, b := range d.Ratios {
		if _, ok := byProgram[b.Group]; !ok {
			programs = append(programs, b.Group)
		}
		byProgram[b.Group] = append(byProgram[b.Group], fmt.Sprintf("%s %.1fx", b.Label, b.Value))
	}
	for _, p := range programs {
		lines = append(lines, fmt.Sprintf("startup p50 ratio to floor (%s): %s", p, strings.Join(byProgram[p], ", ")))
	}
	if line := arrivalSummary(d.Arrivals); line != "" {
		lines = append(lines, line)
	}
	if line := serveSummary(d.Serve, d.ServeReference); line != "" {
		lines = append(lines, line)
	}
	if len(d.Claims) > 0 {
		counts := map[string]int{}
		var verdicts []string
		for _, c := range d.Claims {
			v := c.Verdict
			if v == "" {
				v = "no verdict"
			}
			if counts[v] == 0 {
				verdicts = append(verdicts, v)
			}
			counts[v]++
		}
		var parts []string
		for _, v := range verdicts {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
		lines = append(lines, "seed claims: "+strings.Join(parts, ", "))
	}
	if n := len(d.Problems); n > 0 {
		lines = append(lines, fmt.Sprintf("missing inputs: %d problem(s), listed under Missing inputs", n))
	}
	return lines
}

// trimFloat prints a parameter value without a pointless fraction.
func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// arrivalSummary is one line: each backend's p50 ratio to the floor at each
// arrival schedule.
func arrivalSummary(rows []ArrivalRow) string {
	var schedules, backends []string
	ratio := map[[2]string]float64{}
	for _, r := range rows {
		if r.Backend == floorBackend || r.Ratio == 0 {
			continue
		}
		l := scheduleLabel(r)
		if !slices.Contains(schedules, l) {
			schedules = append(schedules, l)
		}
		if !slices.Contains(backends, r.Backend) {
			backends = append(backends, r.Backend)
		}
		ratio[[2]string{r.Backend, l}] = r.Ratio
	}
	if len(backends) == 0 {
		return ""
	}
	var parts []string
	for _, b := range backends {
		var xs []string
		for _, l := range schedules {
			if v, ok := ratio[[2]string{b, l}]; ok {
				xs = append(xs, fmt.Sprintf("%.1f", v))
			} else {
				xs = append(xs, "-")
			}
		}
		parts = append(parts, b+" "+strings.Join(xs, "/")+"x")
	}
	return "arrivals p50 ratio to floor (" + strings.Join(schedules, ", ") + "): " + strings.Join(parts, ", ")
}
