package reports

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gosandbox/bench/benchjson"
	"gosandbox/catalogue"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// SideBySide is the report's first section: every sandbox of this host on
// the same catalogue and the same scenarios, so that a reader choosing one
// sees what each holds and what it costs without reading the rest.
type SideBySide struct {
	// Backends are the columns: the backends with conformance results on
	// this host, in the matrix's order.
	Backends []string `json:"backends"`
	// Rows has one row per catalogue property.
	Rows []SideRow `json:"rows"`
	// Startup is the p50 start latency of /bin/true per backend.
	Startup []Bar `json:"startup"`
	// Throughput is each backend's best p50 throughput over the measured
	// concurrencies; Group names that concurrency.
	Throughput []Bar `json:"throughput"`
	// Memory is each backend at its largest slot count.
	Memory []SideMemory `json:"memory"`
	// Missing says which of the figures could not be shown and why.
	Missing []string `json:"missing,omitempty"`
}

// SideRow is one property across the backends.
type SideRow struct {
	Property string     `json:"property"`
	Title    string     `json:"title"`
	Cells    []SideCell `json:"cells"`
}

// SideCell is one property on one backend: fail when any spec failed, pass
// when every spec that ran passed, skip when none ran. Reason is the first
// line of the first failure (or skip reason).
type SideCell struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// SideMemory is a backend's memory per slot (p50) with Slots slots: PSS
// and, where the bench measured it, PSS plus the kernel's share.
type SideMemory struct {
	Backend   string  `json:"backend"`
	Slots     float64 `json:"slots"`
	PSSIdle   float64 `json:"pss_idle"`
	PSSBusy   float64 `json:"pss_busy"`
	TotalIdle float64 `json:"total_idle,omitempty"`
	TotalBusy float64 `json:"total_busy,omitempty"`
	HasTotal  bool    `json:"has_total"`
}

// sideProgram is the startup program the comparison uses.
const sideProgram = "true"

// buildSideBySide reads the host's columns of the conformance matrix and the
// host's bench scenarios.
func buildSideBySide(m Matrix, runs []ConformanceRun, b *benchjson.Report) SideBySide {
	var sb SideBySide
	var cols []int
	for i, r := range runs {
		if r.Target.IsHost() {
			cols = append(cols, i)
			sb.Backends = append(sb.Backends, r.Backend)
		}
	}
	rows := map[string]MatrixRow{}
	for _, r := range m.Rows {
		rows[r.Property] = r
	}
	for _, p := range catalogue.All() {
		row := SideRow{Property: p.ID, Title: p.Title}
		for _, c := range cols {
			var cell Cell
			if r, ok := rows[p.ID]; ok && c < len(r.Cells) {
				cell = r.Cells[c]
			}
			row.Cells = append(row.Cells, sideCell(cell))
		}
		sb.Rows = append(sb.Rows, row)
	}

	var startup, tput, memory *benchjson.Scenario
	if b != nil {
		for i := range b.Scenarios {
			switch sc := &b.Scenarios[i]; sc.Name {
			case "startup":
				startup = sc
			case "throughput":
				tput = sc
			case "memory":
				memory = sc
			}
		}
	}
	if startup != nil {
		for _, s := range startup.Series {
			if s.Program == sideProgram && summaryOf(s).N > 0 {
				sb.Startup = append(sb.Startup, Bar{Label: s.Backend, Value: p50(s), Unit: s.Unit})
			}
		}
	}
	if len(sb.Startup) == 0 {
		sb.Missing = append(sb.Missing, "start latency: no startup figures for /bin/true in the bench results")
	}
	if tput != nil {
		sb.Throughput = peakThroughput(*tput)
	}
	if len(sb.Throughput) == 0 {
		sb.Missing = append(sb.Missing, "throughput: no throughput figures in the bench results")
	}
	if memory != nil {
		sb.Memory = sideMemory(*memory)
	}
	if len(sb.Memory) == 0 {
		sb.Missing = append(sb.Missing, "memory: no memory figures in the bench results")
	}
	return sb
}

func sideCell(c Cell) SideCell {
	var failed, skipped string
	var ran, fails bool
	for _, s := range c.Specs {
		switch s.State {
		case StateFail:
			if !fails {
				failed = firstLine(s.Reason)
			}
			fails = true
		case StatePass:
			ran = true
		default:
			if skipped == "" {
				skipped = firstLine(s.Reason)
			}
		}
	}
	switch {
	case fails:
		return SideCell{State: StateFail, Reason: orText(failed, "failed (no message)")}
	case ran:
		return SideCell{State: StatePass}
	case len(c.Specs) == 0:
		return SideCell{State: StateSkip, Reason: "no spec covers this property in this run"}
	}
	return SideCell{State: StateSkip, Reason: orText(skipped, "skipped (no reason given)")}
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// peakThroughput is a bar per backend: its highest p50 over the measured
// concurrencies, the concurrency in Group.
func peakThroughput(sc benchjson.Scenario) []Bar {
	var bars []Bar
	index := map[string]int{}
	for _, s := range sc.Series {
		if summaryOf(s).N == 0 {
			continue
		}
		bar := Bar{Label: s.Backend, Value: p50(s), Unit: s.Unit}
		if s.Param != "" {
			bar.Group = s.Param + "=" + trimFloat(s.Value)
		}
		i, ok := index[s.Backend]
		if !ok {
			index[s.Backend] = len(bars)
			bars = append(bars, bar)
		} else if bar.Value > bars[i].Value {
			bars[i] = bar
		}
	}
	return bars
}

// sideMemory picks each backend's largest slot count with PSS figures.
func sideMemory(sc benchjson.Scenario) []SideMemory {
	var rows []SideMemory
	index := map[string]int{}
	find := func(backend, variant string, slots float64) (float64, bool) {
		for _, s := range sc.Series {
			if s.Backend == backend && s.Variant == variant && s.Value == slots && summaryOf(s).N > 0 {
				return p50(s), true
			}
		}
		return 0, false
	}
	for _, s := range sc.Series {
		if s.Variant != "idle-per-slot" && s.Variant != "busy-per-slot" {
			continue
		}
		if i, ok := index[s.Backend]; ok && rows[i].Slots >= s.Value {
			continue
		}
		row := SideMemory{Backend: s.Backend, Slots: s.Value}
		row.PSSIdle, _ = find(s.Backend, "idle-per-slot", s.Value)
		row.PSSBusy, _ = find(s.Backend, "busy-per-slot", s.Value)
		ti, okI := find(s.Backend, "total-idle-per-slot", s.Value)
		tb, okB := find(s.Backend, "total-busy-per-slot", s.Value)
		if okI || okB {
			row.TotalIdle, row.TotalBusy, row.HasTotal = ti, tb, true
		}
		if i, ok := index[s.Backend]; ok {
			rows[i] = row
		} else {
			index[s.Backend] = len(rows)
			rows = append(rows, row)
		}
	}
	return rows
}

// sectionSideBySide is the id of the first section.
const sectionSideBySide = "side-by-side"

// sideView is the section laid out for the page writers.
type sideView struct {
	Intro    string
	Backends []string
	Rows     []sideRowView
	Reasons  []string // Markdown: "**R5** bwrap fail: reason"
	Chart    *Chart
	Memory   *tableView
	Missing  []string
}

type sideRowView struct {
	Property, Title string
	Cells           []cellView
}

// sideReasonLen bounds each reason in the Markdown list; the HTML title
// and the Conformance section keep more.
const sideReasonLen = 200

func newSideView(sb SideBySide, charts []Chart) *sideView {
	sv := &sideView{Backends: sb.Backends, Missing: sb.Missing,
		Intro: "Every sandbox of this host on the same catalogue and the same scenarios. A property fails on a backend when any of its specs failed, " +
			"passes when every spec that ran passed, and is skipped when none ran (unsupported, not configured or not selected). " +
			"Backend none is the floor: no isolation, for calibration."}
	for _, r := range sb.Rows {
		rv := sideRowView{Property: r.Property, Title: r.Title}
		for i, c := range r.Cells {
			rv.Cells = append(rv.Cells, cellView{Class: c.State, Text: stateSymbol[c.State], Tooltip: c.Reason})
			if c.State != StatePass && i < len(sb.Backends) {
				sv.Reasons = append(sv.Reasons, fmt.Sprintf("**%s** %s %s: %s", r.Property, mdText(sb.Backends[i]), c.State,
					mdText(shorten(c.Reason, sideReasonLen))))
			}
		}
		sv.Rows = append(sv.Rows, rv)
	}
	for i := range charts {
		if charts[i].Section == sectionSideBySide {
			sv.Chart = &charts[i]
		}
	}
	if len(sb.Memory) > 0 {
		t := &tableView{Header: []string{"backend", "slots", "PSS idle/slot", "PSS busy/slot", "total idle/slot", "total busy/slot"}, Num: 1,
			Note: "p50 per slot at each backend's largest slot count. PSS: user-space memory of every process the backend keeps alive; " +
				"total: PSS plus the kernel's share (unreclaimable slab, kernel stacks, page tables), where the bench measured it. " +
				"For one-shot backends idle is nothing kept alive and busy is the cost of a run in flight."}
		b := func(x float64) string { return formatQuantity(x, "bytes") }
		for _, m := range sb.Memory {
			ti, tb := "—", "—"
			if m.HasTotal {
				ti, tb = b(m.TotalIdle), b(m.TotalBusy)
			}
			t.Rows = append(t.Rows, []string{m.Backend, trimFloat(m.Slots), b(m.PSSIdle), b(m.PSSBusy), ti, tb})
		}
		sv.Memory = t
	}
	return sv
}

// sideChart draws start latency and throughput per backend as two panels of
// one figure; a panel whose scenario is missing is left out (the section
// says so), and no figure is drawn when both are.
func (r *renderer) sideChart(sb SideBySide) {
	var panels []*plot.Plot
	var parts []string
	if len(sb.Startup) > 0 {
		panels = append(panels, sidePanel("Start latency of /bin/true (p50)", "start latency", sb.Startup))
		parts = append(parts, "left: p50 time from Run to the exit of /bin/true (startup scenario); lower is better")
	}
	if len(sb.Throughput) > 0 {
		panels = append(panels, sidePanel("Throughput (best p50 over concurrency)", "throughput", sb.Throughput))
		var at []string
		for _, b := range sb.Throughput {
			if b.Group != "" {
				at = append(at, b.Label+" at "+b.Group)
			}
		}
		part := "right: completed runs per second, the best p50 over the measured concurrencies (throughput scenario); higher is better"
		if len(at) > 0 {
			part += " (" + strings.Join(at, ", ") + ")"
		}
		parts = append(parts, part)
	}
	if len(panels) == 0 {
		return
	}
	caption := strings.ToUpper(parts[0][:1]) + parts[0][1:] + "; " + strings.Join(parts[1:], "; ") + "."
	if len(parts) == 1 {
		caption = strings.ToUpper(parts[0][:1]) + parts[0][1:] + ". The other panel is missing: " + strings.Join(sb.Missing, "; ") + "."
	}
	r.saveTiles(panels, Chart{ID: "side-by-side", Section: sectionSideBySide, Title: "Start latency and throughput per backend", Caption: caption})
}

// sidePanel is one panel: a bar per backend in its colour, the value above.
func sidePanel(title, ylabel string, bars []Bar) *plot.Plot {
	hi := 0.0
	for _, b := range bars {
		hi = math.Max(hi, b.Value)
	}
	div, unit := displayUnit(bars[0].Unit, hi)
	p := newPlot(title, "backend", ylabel+" ("+unit+")")
	names := make([]string, len(bars))
	width := vg.Points(math.Min(40, 220/float64(len(bars))))
	for i, b := range bars {
		vals := make(plotter.Values, len(bars))
		vals[i] = math.Max(b.Value, 0) / div
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			continue
		}
		bc.Color = colorFor(b.Label, i)
		bc.LineStyle.Width = 0
		p.Add(bc)
		names[i] = b.Label
		if b.Value > 0 {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(i), Y: b.Value / div}},
				Labels: []string{formatQuantity(b.Value, b.Unit)}})
			if err == nil {
				l.TextStyle[0].XAlign = draw.XCenter
				l.TextStyle[0].Font.Size = vg.Points(7)
				l.Offset = vg.Point{Y: vg.Points(3)}
				p.Add(l)
			}
		}
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(bars))-0.4
	p.Y.Min = 0
	p.Y.Max = math.Max(hi/div*1.2, 1e-9)
	if len(bars) > 4 {
		p.X.Tick.Label.Rotation = math.Pi / 8
		p.X.Tick.Label.XAlign = draw.XRight
	}
	return p
}

// saveTiles writes the panels side by side in one PNG and one SVG.
func (r *renderer) saveTiles(panels []*plot.Plot, c Chart) {
	defer func() {
		if v := recover(); v != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + c.ID, What: fmt.Sprintf("not drawn: %v", v)})
		}
	}()
	c.PNG = chartDir + "/" + c.ID + ".png"
	c.SVG = chartDir + "/" + c.ID + ".svg"
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Points(12), PadTop: vg.Points(4), PadBottom: vg.Points(4),
		PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	for _, f := range []string{c.PNG, c.SVG} {
		cv, err := draw.NewFormattedCanvas(chartWidth, chartHeight, strings.TrimPrefix(filepath.Ext(f), "."))
		if err == nil {
			dc := draw.New(cv)
			// The padding between the panels would be transparent.
			dc.FillPolygon(color.White, []vg.Point{dc.Min, {X: dc.Max.X, Y: dc.Min.Y}, dc.Max, {X: dc.Min.X, Y: dc.Max.Y}})
			canvases := plot.Align([][]*plot.Plot{panels}, tiles, dc)
			for i, p := range panels {
				p.Draw(canvases[0][i])
			}
			err = writeCanvas(filepath.Join(r.dir, filepath.FromSlash(f)), cv)
		}
		if err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + c.ID, What: fmt.Sprintf("not written: %v", err)})
			return
		}
	}
	r.charts = append(r.charts, c)
}

func writeCanvas(path string, cv vg.CanvasWriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := cv.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
