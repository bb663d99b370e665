package reports

import (
	"fmt"
	"math"
	"strings"
	"time"

	"gosandbox/bench/benchjson"
)

// view is the report laid out for the page writers: every figure already
// formatted, every section in order. HTML and Markdown render the same view
// so the two say the same thing.
type view struct {
	Generated   string
	InDir       string
	Quick       bool
	QuickBanner string
	SideBySide  *sideView
	Summary     []string
	Problems    []Problem
	Matrix      matrixView
	MatrixNote  string
	Sections    []section
	Kernel      *kernelView
	Claims      []benchjson.Claim
	Scenarios   []scenarioView
	Env         []EnvBlock
	Notes       []string
}

// section is a titled group of charts, with a table of the figures when
// the charts alone would hide them.
type section struct {
	ID     string
	Title  string
	Intro  string
	Table  *tableView
	Charts []Chart
}

// tableView is a table already formatted: the first Num columns are text,
// the rest numbers; Note is printed under it.
type tableView struct {
	Header []string
	Rows   [][]string
	Num    int
	Note   string
}

type matrixView struct {
	Targets []targetHeader // column groups, one per kernel target
	Columns []string       // backend name of each column
	Totals  []string       // "58/61 pass" per column
	Rows    []matrixRowView
	Details []columnDetails
}

type targetHeader struct {
	Name string
	Span int
}

type matrixRowView struct {
	Property, Area, Title string
	Cells                 []cellView
}

type cellView struct {
	Class   string // pass, fail, skip, pending, none
	Text    string // "pass", "fail 1/2", "—"
	Tooltip string // each spec with its state and reason
}

// columnDetails lists one column's failed, skipped and pending specs with
// their reasons, so the reasons are readable without hovering.
type columnDetails struct {
	Column  string
	Summary string
	Open    bool
	Items   []detailItem
}

type detailItem struct {
	Property, State, Text, Reason string
}

type kernelView struct {
	Rows []kernelRowView
}

type kernelRowView struct {
	Target, Backend, Program, P50, Ratio string
	Quick                                bool
}

type scenarioView struct {
	Name, Description, Noisy string
	Rows                     [][]string
}

var scenarioHeader = []string{"backend", "program", "variant", "parameter", "n", "min", "p50", "p90", "p99", "max", "ratio to floor"}

const quickBanner = "QUICK RUN: these figures come from `gosandbox bench --quick`, a smoke run with too few samples. They are not to be quoted."

// sectionOrder lists the chart sections in page order with what each shows;
// charts are assigned by their Section field.
var sectionOrder = []section{
	{ID: sectionLatency, Title: "Startup latency", Intro: "Time from Run to the program's exit, every sample kept. The floor is backend none: a plain fork+exec+wait of the same program in the same run."},
	{ID: sectionArrivals, Title: "Runs arriving on a schedule", Intro: "Open-loop arrivals: runs started one at a time on a schedule (fixed gaps between scheduled starts, and Poisson arrivals), latency from each run's scheduled start so that queueing is not hidden. This is what a judge sees; a back-to-back loop hides kernel work deferred until runs arrive apart."},
	{ID: sectionThroughput, Title: "Throughput", Intro: "Completed runs per second as concurrency grows to twice the cores."},
	{ID: sectionServe, Title: "gosandbox serve over HTTP", Intro: "The server behind gosandbox serve on a loopback port, driven by an HTTP client in the same run: POST /run of /bin/true at each concurrency, requests per second and client-side latency per backend. A published figure of go-judge is set beside them as a reference only: it was not measured here, nor on this machine."},
	{ID: sectionPool, Title: "Pool warm-up", Intro: "Time until N pooled containers are ready to run."},
	{ID: sectionReset, Title: "Reset cost", Intro: "Time to reset a pooled container between runs, every sample kept."},
	{ID: sectionMemory, Title: "Memory per slot", Intro: "Memory each variant keeps alive per slot: one-shot against pooled. User space is PSS; the kernel's share is the growth of unreclaimable slab, kernel stacks and page tables in /proc/meminfo; total is their sum, what the machine pays."},
	{ID: sectionDisk, Title: "Disk per sandbox", Intro: "Bytes written to disk per sandbox: per-run rootfs copy, overlay upper dir, shared read-only binds."},
	{ID: sectionKernels, Title: "Startup per kernel", Intro: "The startup scenario on each kernel and cgroup mode of the matrix."},
}

func newView(d *Dataset, in *Inputs, charts []Chart, now time.Time) *view {
	v := &view{
		Generated:  now.UTC().Format("2006-01-02 15:04:05 UTC"),
		InDir:      in.Dir,
		Quick:      d.Quick,
		Summary:    d.Summary,
		Problems:   d.Problems,
		Matrix:     newMatrixView(d.Matrix, in.Conformance),
		MatrixNote: d.MatrixNote,
		Claims:     d.Claims,
		Env:        d.Env,
		Notes:      d.Notes,
		SideBySide: newSideView(d.SideBySide, charts),
	}
	if d.Quick {
		v.QuickBanner = quickBanner
	}
	tables := map[string]*tableView{sectionArrivals: arrivalsTable(d.Arrivals), sectionMemory: memoryTable(d.MemoryTable),
		sectionServe: serveTable(d.Serve, d.ServeReference)}
	for _, s := range sectionOrder {
		for _, c := range charts {
			if c.Section == s.ID {
				s.Charts = append(s.Charts, c)
			}
		}
		s.Table = tables[s.ID]
		if len(s.Charts) > 0 || s.Table != nil {
			v.Sections = append(v.Sections, s)
		}
	}
	if len(d.KernelStartup) > 0 {
		kv := &kernelView{}
		for _, r := range d.KernelStartup {
			row := kernelRowView{Target: r.Target, Backend: r.Backend, Program: r.Program,
				P50: formatQuantity(r.P50, r.Unit), Ratio: "—", Quick: r.Quick}
			if r.Ratio > 0 {
				row.Ratio = fmt.Sprintf("%.2fx", r.Ratio)
			}
			kv.Rows = append(kv.Rows, row)
		}
		v.Kernel = kv
	}
	for _, sc := range d.Scenarios {
		sv := scenarioView{Name: sc.Name, Description: sc.Description, Noisy: sc.Noisy}
		for _, r := range sc.Rows {
			s := r.Summary
			ratio := "—"
			if r.Ratio > 0 {
				ratio = fmt.Sprintf("%.2fx", r.Ratio)
			}
			f := func(x float64) string { return formatQuantity(x, r.Unit) }
			sv.Rows = append(sv.Rows, []string{r.Backend, orDash(r.Program), orDash(r.Variant), orDash(r.Param), fmt.Sprint(s.N),
				f(s.Min), f(s.P50), f(s.P90), f(s.P99), f(s.Max), ratio})
		}
		v.Scenarios = append(v.Scenarios, sv)
	}
	return v
}

// arrivalsTable tabulates the arrivals rows; nil without any.
func arrivalsTable(rows []ArrivalRow) *tableView {
	if len(rows) == 0 {
		return nil
	}
	t := &tableView{Header: []string{"schedule", "backend", "n", "p50", "p90", "p99", "min", "max", "p50 / floor", "p90 / floor"}, Num: 2,
		Note: "Latency from the scheduled start to the return of Run; ratios are to the floor (backend none) on the same schedule in the same run."}
	ratio := func(x float64) string {
		if x > 0 {
			return fmt.Sprintf("%.2fx", x)
		}
		return "—"
	}
	for _, r := range rows {
		s := r.Summary
		f := func(x float64) string { return formatQuantity(x, r.Unit) }
		t.Rows = append(t.Rows, []string{scheduleLabel(r), r.Backend, fmt.Sprint(s.N), f(s.P50), f(s.P90), f(s.P99), f(s.Min), f(s.Max),
			ratio(r.Ratio), ratio(r.RatioP90)})
	}
	return t
}

// memoryTable sets PSS, kernel and total per slot side by side; nil
// without kernel figures.
func memoryTable(rows []MemoryRow) *tableView {
	if len(rows) == 0 {
		return nil
	}
	t := &tableView{Header: []string{"backend", "slots", "PSS idle/slot", "kernel idle/slot", "total idle/slot",
		"PSS busy/slot", "kernel busy/slot", "total busy/slot", "memcg kmem busy/slot", "host drift", "noisy"}, Num: 1,
		Note: "p50 per slot. Kernel: growth of SUnreclaim + KernelStack + PageTables from before Open (busy includes the idle slots, as PSS busy does). " +
			"memcg kmem: the kernel memory charged to the boxes' own memory cgroups, where they have one. Host drift: median change of the same sum " +
			"over a quiet window before each measurement; a kernel figure not above it is marked noisy."}
	b := func(x float64) string { return formatQuantity(x, "bytes") }
	for _, r := range rows {
		kmem := "—"
		if r.HasKmem {
			kmem = b(r.KmemBusy)
		}
		noisy := "—"
		if r.Noisy != "" {
			noisy = "noisy (" + r.Noisy + ")"
		}
		t.Rows = append(t.Rows, []string{r.Backend, trimFloat(r.Slots), b(r.PSSIdle), b(r.KernelIdle), b(r.TotalIdle),
			b(r.PSSBusy), b(r.KernelBusy), b(r.TotalBusy), kmem, b(r.Drift), noisy})
	}
	return t
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// formatQuantity prints one value in a unit chosen for that value.
func formatQuantity(x float64, unit string) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	div, u := displayUnit(unit, math.Abs(x))
	return formatValue(x/div, u)
}

var stateSymbol = map[string]string{StatePass: "pass", StateFail: "FAIL", StateSkip: "skip", StatePending: "pending", "": "—"}

func newMatrixView(m Matrix, runs []ConformanceRun) matrixView {
	var mv matrixView
	for i, r := range runs {
		name := "this host"
		if !r.Target.IsHost() {
			name = "kernel " + r.Target.String()
		}
		if n := len(mv.Targets); n > 0 && mv.Targets[n-1].Name == name {
			mv.Targets[n-1].Span++
		} else {
			mv.Targets = append(mv.Targets, targetHeader{Name: name, Span: 1})
		}
		mv.Columns = append(mv.Columns, r.Backend)
		t := m.Totals[i]
		mv.Totals = append(mv.Totals, fmt.Sprintf("%d/%d pass", t.Pass, t.Specs))
	}
	for _, row := range m.Rows {
		rv := matrixRowView{Property: orDash(row.Property), Area: row.Area, Title: row.Title}
		for _, c := range row.Cells {
			rv.Cells = append(rv.Cells, newCellView(c))
		}
		mv.Rows = append(mv.Rows, rv)
	}
	for i, r := range runs {
		cd := columnDetails{Column: r.Column()}
		for _, row := range m.Rows {
			for _, s := range row.Cells[i].Specs {
				if s.State != StatePass {
					cd.Items = append(cd.Items, detailItem{Property: orDash(s.Property), State: s.State, Text: s.Text, Reason: s.Reason})
				}
			}
		}
		t := m.Totals[i]
		cd.Summary = fmt.Sprintf("%s: %d pass, %d fail, %d skip", r.Column(), t.Pass, t.Fail, t.Skip)
		if t.Pending > 0 {
			cd.Summary += fmt.Sprintf(", %d pending", t.Pending)
		}
		if r.Backend == floorBackend {
			cd.Summary += " (no isolation: the floor; isolation specs are expected to fail)"
		}
		cd.Open = t.Fail > 0 && r.Backend != floorBackend
		if len(cd.Items) > 0 {
			mv.Details = append(mv.Details, cd)
		}
	}
	return mv
}

func newCellView(c Cell) cellView {
	cv := cellView{Class: c.State, Text: stateSymbol[c.State]}
	if c.State == "" {
		cv.Class = "none"
		cv.Tooltip = "no spec covers this property here"
		return cv
	}
	if n := len(c.Specs); n > 1 {
		same := 0
		for _, s := range c.Specs {
			if s.State == c.State {
				same++
			}
		}
		cv.Text += fmt.Sprintf(" %d/%d", same, n)
	}
	var lines []string
	for _, s := range c.Specs {
		line := s.State + ": " + s.Text
		if s.Reason != "" {
			line += "\n    " + shorten(s.Reason, 400)
		}
		lines = append(lines, line)
	}
	cv.Tooltip = strings.Join(lines, "\n")
	return cv
}

// shorten cuts long Gomega messages for tooltips and tables; the details
// list keeps them whole.
func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
	}
	return s[:cut] + " …"
}
