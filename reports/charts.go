package reports

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Chart is one rendered figure: a PNG and an SVG of the same plot.
type Chart struct {
	ID      string // file stem, unique in the report
	Section string // the report section it belongs to
	Title   string
	Caption string
	PNG     string // path relative to the report directory, slash-separated
	SVG     string
}

// Report sections the charts go into.
const (
	sectionLatency    = "latency"
	sectionArrivals   = "arrivals"
	sectionThroughput = "throughput"
	sectionServe      = "serve"
	sectionPool       = "pool"
	sectionReset      = "reset"
	sectionMemory     = "memory"
	sectionDisk       = "disk"
	sectionKernels    = "kernels"
)

// chartDir is where the images go, under the report directory.
const chartDir = "charts"

const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 4 * vg.Inch
)

// backendColors keeps one colour per backend across every chart.
var backendColors = map[string]color.Color{
	"none":      color.RGBA{R: 0x70, G: 0x70, B: 0x70, A: 0xff},
	"oneshot":   color.RGBA{R: 0xd6, G: 0x5f, B: 0x00, A: 0xff},
	"container": color.RGBA{R: 0x1f, G: 0x6f, B: 0xb4, A: 0xff},
	"slots":     color.RGBA{R: 0x00, G: 0x99, B: 0x99, A: 0xff},
	"bwrap":     color.RGBA{R: 0x2c, G: 0x9a, B: 0x3c, A: 0xff},
	"firejail":  color.RGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff},
	"runc":      color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff},
}

var extraColors = []color.Color{
	color.RGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff},
	color.RGBA{R: 0xc0, G: 0x39, B: 0x2b, A: 0xff},
	color.RGBA{R: 0x16, G: 0xa0, B: 0x85, A: 0xff},
	color.RGBA{R: 0xb7, G: 0x95, B: 0x0b, A: 0xff},
	color.RGBA{R: 0x34, G: 0x49, B: 0x5e, A: 0xff},
}

// colorFor returns the backend's colour; labels that are not backends
// ("container idle", "overlay") get the first word's colour or, failing that,
// one from extraColors by their place in the chart.
func colorFor(label string, i int) color.Color {
	if c, ok := backendColors[label]; ok {
		return c
	}
	if first, _, _ := strings.Cut(label, " "); backendColors[first] != nil {
		return backendColors[first]
	}
	return extraColors[i%len(extraColors)]
}

// renderer draws charts into dir/charts and remembers what it drew and what
// went wrong.
type renderer struct {
	dir      string
	charts   []Chart
	problems []Problem
}

// renderCharts draws every chart the dataset has data for.
func renderCharts(d *Dataset, dir string) ([]Chart, []Problem, error) {
	if err := os.MkdirAll(filepath.Join(dir, chartDir), 0o755); err != nil {
		return nil, nil, fmt.Errorf("reports: create chart directory: %w", err)
	}
	r := &renderer{dir: dir}
	r.sideChart(d.SideBySide)
	for _, g := range d.Latency {
		r.latencyBoxes(g)
		r.latencyECDF(g)
	}
	if len(d.Ratios) > 0 {
		r.bars("startup-ratio", sectionLatency, "Startup p50 ratio to floor (backend none)",
			"p50 latency divided by the p50 of a plain fork+exec+wait of the same program in the same run; 1 = the floor.",
			"program", "ratio to floor (x)", d.Ratios, true)
	}
	if len(d.Arrivals) > 0 {
		r.arrivals(d.Arrivals)
		if bars := arrivalRatioBars(d.Arrivals); len(bars) > 0 {
			r.bars("arrivals-ratio", sectionArrivals, "Arrivals: p50 ratio to floor by schedule",
				"p50 latency from the scheduled start divided by the floor's p50 (backend none) on the same schedule in the same run; 1 = the floor. "+
					"A ratio that grows with the gap is a stall that only runs arriving apart meet.",
				"schedule (gap between scheduled starts)", "ratio to floor (x)", bars, true)
		}
	}
	if len(d.Throughput) > 0 {
		r.lines("throughput", sectionThroughput, "Throughput vs concurrency",
			"Completed runs per second (p50 of the repeated measurements) at each concurrency.",
			"concurrency", "throughput", d.Throughput)
	}
	if len(d.Serve) > 0 {
		r.lines("serve-rate", sectionServe, "gosandbox serve: requests/s vs concurrency",
			"Successful POST /run requests of /bin/true per second (p50 over the windows), as the HTTP client counts them; "+
				"a pooled backend has a pool of as many boxes as clients. Measured here; the go-judge reference is in the table, not drawn.",
			"concurrency (clients = run slots)", "rate", serveRateLines(d.Serve))
		r.lines("serve-latency", sectionServe, "gosandbox serve: latency vs concurrency",
			"Client-side latency of POST /run of /bin/true, from the send to the last byte of the answer: p50 solid, p99 dashed.",
			"concurrency (clients = run slots)", "latency", serveLatencyLines(d.Serve))
	}
	if len(d.Warmup) > 0 {
		r.lines("warmup", sectionPool, "Pool warm-up vs N",
			"Time until N pooled containers are ready (p50).", "pool size N", "time to N ready", d.Warmup)
	}
	if len(d.Memory) > 0 {
		r.lines("memory", sectionMemory, "Memory per slot vs N",
			"PSS of every process a backend keeps alive, per slot (p50): idle after warm-up, busy while N runs are in flight.",
			"slots N", "PSS per slot", d.Memory)
	}
	if len(d.KernelMemory) > 0 {
		r.lines("memory-kernel", sectionMemory, "Kernel memory per slot vs N",
			"Growth of unreclaimable slab + kernel stacks + page tables (/proc/meminfo) per slot (p50), from before Open: idle after warm-up, "+
				"busy while N runs are in flight. Host-wide counters: small figures are within the host's own drift (see the table).",
			"slots N", "kernel memory per slot", d.KernelMemory)
	}
	if len(d.Disk) > 0 {
		r.bars("disk", sectionDisk, "Disk per sandbox",
			"Bytes a sandbox puts on disk (p50), by root filesystem layout; the statfs delta of the shared layout is in the tables.", "layout", "disk", d.Disk, false)
	}
	if bars, program := kernelBars(d.KernelStartup); len(bars) > 0 {
		ylabel := "ratio to floor (x)"
		if bars[0].Unit != "x" {
			ylabel = "startup p50"
		}
		r.bars("kernel-startup", sectionKernels, "Startup per kernel ("+program+")",
			"Startup p50 on each kernel target of the matrix"+ratioNote(bars)+".", "kernel target", ylabel, bars, bars[0].Unit == "x")
	}
	return r.charts, r.problems, nil
}

func ratioNote(bars []Bar) string {
	if bars[0].Unit == "x" {
		return ", as a ratio to that kernel's floor"
	}
	return " (no floor measured, absolute times)"
}

// kernelBars picks the first program of the matrix startup figures and makes
// a bar per target and backend: ratios when every row has one, else p50s.
func kernelBars(rows []KernelStartup) ([]Bar, string) {
	if len(rows) == 0 {
		return nil, ""
	}
	program := rows[0].Program
	useRatio := true
	for _, r := range rows {
		if r.Program == program && r.Backend != floorBackend && r.Ratio == 0 {
			useRatio = false
		}
	}
	var bars []Bar
	for _, r := range rows {
		if r.Program != program || (useRatio && r.Backend == floorBackend) {
			continue
		}
		if useRatio {
			bars = append(bars, Bar{Group: r.Target, Label: r.Backend, Value: r.Ratio, Unit: "x"})
		} else {
			bars = append(bars, Bar{Group: r.Target, Label: r.Backend, Value: r.P50, Unit: r.Unit})
		}
	}
	return bars, program
}

// save writes the plot as PNG and SVG. gonum/plot panics on some degenerate
// data (a log axis over zero); such a chart becomes a problem, not a crash.
func (r *renderer) save(p *plot.Plot, c Chart) {
	defer func() {
		if v := recover(); v != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + c.ID, What: fmt.Sprintf("not drawn: %v", v)})
		}
	}()
	c.PNG = chartDir + "/" + c.ID + ".png"
	c.SVG = chartDir + "/" + c.ID + ".svg"
	for _, f := range []string{c.PNG, c.SVG} {
		if err := p.Save(chartWidth, chartHeight, filepath.Join(r.dir, filepath.FromSlash(f))); err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + c.ID, What: fmt.Sprintf("not written: %v", err)})
			return
		}
	}
	r.charts = append(r.charts, c)
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	return p
}

// prefixed is prefix+s, or "" when s is empty.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// slug makes a file or CSS name from the non-empty parts.
func slug(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	s := strings.ToLower(strings.Join(nonEmpty, "-"))
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// displayUnit picks a divisor and a unit name that keep the largest value
// readable: ns become µs, ms or s; bytes become KiB, MiB or GiB.
func displayUnit(unit string, maxValue float64) (float64, string) {
	base, rest, _ := strings.Cut(unit, "/")
	suffix := ""
	if rest != "" {
		suffix = "/" + rest
	}
	switch base {
	case "ns":
		switch {
		case maxValue >= 10e9:
			return 1e9, "s" + suffix
		case maxValue >= 1e6:
			return 1e6, "ms" + suffix
		case maxValue >= 1e3:
			return 1e3, "µs" + suffix
		}
	case "bytes", "B":
		switch {
		case maxValue >= 1<<30:
			return 1 << 30, "GiB" + suffix
		case maxValue >= 1<<20:
			return 1 << 20, "MiB" + suffix
		case maxValue >= 1<<10:
			return 1 << 10, "KiB" + suffix
		}
	}
	return 1, unit
}

// useLogAxis applies a logarithmic axis when the values span more than
// logSpread; it reports whether it did.
func useLogAxis(a *plot.Axis, lo, hi float64) bool {
	if lo <= 0 || hi/lo <= logSpread {
		return false
	}
	a.Scale = clampedLog{}
	a.Tick.Marker = ticks125{}
	a.Min, a.Max = lo/1.3, hi*1.3
	return true
}

// clampedLog is a log scale that draws values at or below the axis minimum
// (a bar's zero base) at the axis instead of panicking.
type clampedLog struct{}

func (clampedLog) Normalize(lo, hi, x float64) float64 {
	if lo <= 0 {
		lo = math.SmallestNonzeroFloat64
	}
	x = math.Max(x, lo)
	return (math.Log(x) - math.Log(lo)) / (math.Log(hi) - math.Log(lo))
}

// ticks125 labels a log axis at 1, 2 and 5 times powers of ten, so that a
// range of less than two decades still gets several labels.
type ticks125 struct{}

func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * base
			if v < lo || v > hi {
				continue
			}
			out = append(out, plot.Tick{Value: v, Label: trimLabel(v)})
		}
		for m := 3.0; m <= 9; m++ { // unlabelled minor ticks
			if v := m * base; v >= lo && v <= hi && m != 5 {
				out = append(out, plot.Tick{Value: v})
			}
		}
	}
	return out
}

func trimLabel(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

func (r *renderer) latencyBoxes(g LatencyGroup) {
	var lo, hi float64 = math.Inf(1), 0
	for _, b := range g.Boxes {
		lo = math.Min(lo, b.Values[0])
		hi = math.Max(hi, b.Values[len(b.Values)-1])
	}
	div, unit := displayUnit(g.Unit, hi)
	title := g.Scenario + " latency" + prefixed(": ", g.Program)
	p := newPlot(title, "backend", "latency ("+unit+")")
	names := make([]string, len(g.Boxes))
	for i, b := range g.Boxes {
		vals := make(plotter.Values, len(b.Values))
		for j, v := range b.Values {
			vals[j] = v / div
		}
		box, err := plotter.NewBoxPlot(vg.Points(40), float64(i), vals)
		if err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + title, What: err.Error()})
			return
		}
		box.FillColor = withAlpha(colorFor(b.Label, i), 0x60)
		box.BoxStyle.Color = colorFor(b.Label, i)
		p.Add(box)
		names[i] = fmt.Sprintf("%s (n=%d)", b.Label, len(b.Values))
	}
	p.NominalX(names...)
	caption := "Box: quartiles and median; whiskers: 1.5 IQR; points: outliers."
	if useLogAxis(&p.Y, lo/div, hi/div) {
		caption += " Logarithmic axis: the backends differ by more than " + fmt.Sprint(logSpread) + "x."
	} else {
		pad := (hi - lo) / div * 0.06
		p.Y.Min, p.Y.Max = math.Max(0, lo/div-pad), hi/div+pad
	}
	r.save(p, Chart{ID: slug(g.Scenario, g.Program, "box"), Section: latencySection(g), Title: title, Caption: caption})
}

func latencySection(g LatencyGroup) string {
	if g.Scenario == "reset" {
		return sectionReset
	}
	return sectionLatency
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	// Non-premultiplied, so the fill keeps its hue on any background.
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

func (r *renderer) latencyECDF(g LatencyGroup) {
	var lo, hi float64 = math.Inf(1), 0
	for _, l := range g.ECDF {
		lo = math.Min(lo, l.Points[0].X)
		hi = math.Max(hi, l.Points[len(l.Points)-1].X)
	}
	div, unit := displayUnit(g.Unit, hi)
	title := g.Scenario + " latency ECDF" + prefixed(": ", g.Program)
	p := newPlot(title, "latency ("+unit+")", "fraction of runs at or below")
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(6), vg.Points(6)
	for i, l := range g.ECDF {
		// Start each curve at 0 so the first step is drawn.
		xys := plotter.XYs{{X: l.Points[0].X / div, Y: 0}}
		for _, pt := range l.Points {
			xys = append(xys, plotter.XY{X: pt.X / div, Y: pt.Y})
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + title, What: err.Error()})
			return
		}
		line.StepStyle = plotter.PostStep
		line.Color = colorFor(l.Label, i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.Label, line)
	}
	caption := "Each step is one run: the curve reaches y at the latency below which that fraction of runs finished."
	if useLogAxis(&p.X, lo/div, hi/div) {
		caption += " Logarithmic axis."
	} else {
		pad := (hi - lo) / div * 0.04
		p.X.Min, p.X.Max = math.Max(0, lo/div-pad), hi/div+pad
	}
	r.save(p, Chart{ID: slug(g.Scenario, g.Program, "ecdf"), Section: latencySection(g), Title: title, Caption: caption})
}

// lines draws labelled lines with points; the y unit comes from the lines.
func (r *renderer) lines(id, section, title, caption, xlabel, ylabel string, lines []Line) {
	var lo, hi float64 = math.Inf(1), 0
	for _, l := range lines {
		for _, pt := range l.Points {
			lo = math.Min(lo, pt.Y)
			hi = math.Max(hi, pt.Y)
		}
	}
	div, unit := displayUnit(lines[0].Unit, hi)
	p := newPlot(title, xlabel, ylabel+" ("+unit+")")
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(6)
	xs := map[float64]bool{}
	for i, l := range lines {
		xys := make(plotter.XYs, len(l.Points))
		for j, pt := range l.Points {
			xys[j] = plotter.XY{X: pt.X, Y: pt.Y / div}
			xs[pt.X] = true
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + title, What: err.Error()})
			return
		}
		c := colorFor(l.Label, i)
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		// Busy figures and tail percentiles share the backend's colour, so
		// they differ by dash.
		if strings.Contains(l.Label, "busy") || strings.HasSuffix(l.Label, " p99") {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			points.Shape = draw.BoxGlyph{}
		}
		p.Add(line, points)
		p.Legend.Add(l.Label, line, points)
	}
	p.X.Tick.Marker = valueTicks(xs)
	// Pad the X range so the end points are not drawn on the frame.
	if pad := (p.X.Max - p.X.Min) * 0.04; pad > 0 {
		p.X.Min, p.X.Max = p.X.Min-pad, p.X.Max+pad
	}
	if useLogAxis(&p.Y, lo/div, hi/div) {
		caption += " Logarithmic axis."
	} else {
		// A delta may be negative (kernel memory freed meanwhile).
		p.Y.Min = math.Min(0, lo/div*1.1)
		p.Y.Max = math.Max(hi/div, 0) * (1.05 + 0.1*float64(len(lines))) // room for the legend
		if p.Y.Max <= p.Y.Min {
			p.Y.Max = p.Y.Min + 1
		}
	}
	r.save(p, Chart{ID: id, Section: section, Title: title, Caption: caption})
}

// arrivalRatioBars is a bar per backend (not the floor) and schedule: p50
// over the floor's p50.
func arrivalRatioBars(rows []ArrivalRow) []Bar {
	var bars []Bar
	for _, r := range rows {
		if r.Backend != floorBackend && r.Ratio > 0 {
			bars = append(bars, Bar{Group: scheduleLabel(r), Label: r.Backend, Value: r.Ratio, Unit: "x"})
		}
	}
	return bars
}

// arrivals draws latency from the scheduled start against the schedule:
// p50 (solid) and p90 (dashed) per backend, the schedules as categories
// (fixed gaps in increasing order, then Poisson).
func (r *renderer) arrivals(rows []ArrivalRow) {
	var cats, backends []string
	var lo, hi float64 = math.Inf(1), 0
	for _, row := range rows {
		if l := scheduleLabel(row); !slices.Contains(cats, l) {
			cats = append(cats, l)
		}
		if !slices.Contains(backends, row.Backend) {
			backends = append(backends, row.Backend)
		}
		lo = math.Min(lo, row.Summary.P50)
		hi = math.Max(hi, row.Summary.P90)
	}
	unit := rows[0].Unit
	div, dunit := displayUnit(unit, hi)
	title := "Arrivals: latency from the scheduled start"
	p := newPlot(title, "schedule (gap between scheduled starts)", "latency ("+dunit+")")
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), -vg.Points(6)
	for i, b := range backends {
		for _, q := range []string{"p50", "p90"} {
			var xys plotter.XYs
			for _, row := range rows {
				if row.Backend != b {
					continue
				}
				y := row.Summary.P50
				if q == "p90" {
					y = row.Summary.P90
				}
				xys = append(xys, plotter.XY{X: float64(slices.Index(cats, scheduleLabel(row))), Y: y / div})
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				r.problems = append(r.problems, Problem{Input: "chart " + title, What: err.Error()})
				return
			}
			c := colorFor(b, i)
			line.Color, points.Color = c, c
			line.Width = vg.Points(1.5)
			points.Shape = draw.CircleGlyph{}
			if q == "p90" {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				points.Shape = draw.BoxGlyph{}
			}
			p.Add(line, points)
			p.Legend.Add(b+" "+q, line, points)
		}
	}
	p.NominalX(cats...)
	p.X.Min, p.X.Max = -0.3, float64(len(cats))-0.7
	caption := "Open-loop: each run's latency counts from its scheduled start, so waiting behind the previous run is included. " +
		"Solid: p50; dashed: p90. Gap 0 is back to back."
	if useLogAxis(&p.Y, lo/div, hi/div) {
		caption += " Logarithmic axis."
		p.Y.Max = hi / div * 3 // room for the legend
	} else {
		p.Y.Min = 0
		p.Y.Max = hi / div * (1.1 + 0.07*float64(2*len(backends)))
	}
	r.save(p, Chart{ID: "arrivals", Section: sectionArrivals, Title: title, Caption: caption})
}

// valueTicks labels exactly the measured parameter values (1 2 3 4 slots).
func valueTicks(xs map[float64]bool) plot.Ticker {
	vals := make([]float64, 0, len(xs))
	for x := range xs {
		vals = append(vals, x)
	}
	sort.Float64s(vals)
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ticks := make([]plot.Tick, len(vals))
		for i, v := range vals {
			ticks[i] = plot.Tick{Value: v, Label: trimFloat(v)}
		}
		return ticks
	})
}

// bars draws grouped bars: groups along X, one bar per label in each group,
// with the value written above each bar; floorLine draws y=1. Bars without
// groups, or all in one group (the disk layouts of one backend), get one X
// position per label instead.
func (r *renderer) bars(id, section, title, caption, xlabel, ylabel string, bars []Bar, floorLine bool) {
	var groups, labels []string
	gi, li := map[string]int{}, map[string]int{}
	var lo, hi float64 = math.Inf(1), 0
	for _, b := range bars {
		if _, ok := gi[b.Group]; !ok {
			gi[b.Group] = len(groups)
			groups = append(groups, b.Group)
		}
		if _, ok := li[b.Label]; !ok {
			li[b.Label] = len(labels)
			labels = append(labels, b.Label)
		}
		if b.Value > 0 {
			lo = math.Min(lo, b.Value)
		}
		hi = math.Max(hi, b.Value)
	}
	ungrouped := len(groups) == 1
	if ungrouped && groups[0] != "" {
		xlabel += " (" + groups[0] + ")"
	}
	div, unit := displayUnit(bars[0].Unit, hi)
	switch {
	case ylabel == "":
		ylabel = unit
	case unit != "x":
		ylabel += " (" + unit + ")"
	}
	p := newPlot(title, xlabel, ylabel)
	perGroup := len(labels)
	if ungrouped {
		perGroup = 1
	}
	width := vg.Points(math.Min(60, 360/float64(perGroup*max(len(groups), len(labels)))))
	var zeros []string
	for i, label := range labels {
		n := len(groups)
		if ungrouped {
			n = len(labels)
		}
		vals := make(plotter.Values, n)
		var tops plotter.XYLabels
		for _, b := range bars {
			if b.Label != label {
				continue
			}
			x := gi[b.Group]
			if ungrouped {
				x = i
			}
			vals[x] = b.Value / div
			if b.Value <= 0 {
				// A label at the foot of a log axis upsets gonum's padding;
				// the caption names the zero bars instead.
				zeros = append(zeros, strings.TrimSpace(b.Group+" "+b.Label))
				continue
			}
			tops.XYs = append(tops.XYs, plotter.XY{X: float64(x), Y: b.Value / div})
			tops.Labels = append(tops.Labels, formatQuantity(b.Value, b.Unit))
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			r.problems = append(r.problems, Problem{Input: "chart " + title, What: err.Error()})
			return
		}
		bc.Color = colorFor(label, i)
		bc.LineStyle.Width = 0
		if !ungrouped {
			bc.Offset = vg.Length(float64(i)-float64(len(labels)-1)/2) * width
		}
		p.Add(bc)
		if !ungrouped && len(labels) > 1 {
			p.Legend.Add(label, bc)
		}
		if len(tops.Labels) > 0 {
			l, err := plotter.NewLabels(tops)
			if err == nil {
				for j := range l.TextStyle {
					l.TextStyle[j].XAlign = draw.XCenter
					l.TextStyle[j].Font.Size = vg.Points(8)
				}
				l.Offset = vg.Point{X: bc.Offset, Y: vg.Points(3)}
				p.Add(l)
			}
		}
	}
	if ungrouped {
		p.NominalX(labels...)
		// Long layout names ("shared-binds (container)") would overlap
		// their neighbours: slant them.
		longest := 0
		for _, l := range labels {
			longest = max(longest, len(l))
		}
		if longest*len(labels) > 80 {
			p.X.Tick.Label.Rotation = math.Pi / 12
			p.X.Tick.Label.XAlign = draw.XRight
		}
	} else {
		p.NominalX(groups...)
	}
	p.Legend.Top = true
	logAxis := useLogAxis(&p.Y, lo/div, hi/div)
	if logAxis {
		caption += " Logarithmic axis."
		// Room for the value labels above, and the smallest bar visible.
		p.Y.Min, p.Y.Max = lo/div/3, hi/div*2.5
	} else {
		p.Y.Min = 0
		p.Y.Max = hi / div * 1.25
	}
	if floorLine {
		floor := plotter.NewFunction(func(float64) float64 { return 1 })
		floor.Color = color.Gray{Y: 0x40}
		floor.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(floor)
		p.Legend.Add("floor (none) = 1", floor)
		if !logAxis {
			p.Y.Max = math.Max(p.Y.Max, 1.25)
		} else {
			p.Y.Min = math.Min(p.Y.Min, 0.8)
		}
	}
	if len(zeros) > 0 {
		caption += " Zero: " + strings.Join(zeros, ", ") + "."
	}
	// Keep the nominal axis wide enough for the outermost bars.
	p.X.Min, p.X.Max = -0.6, float64(max(len(groups), len(labels)))-0.4
	if !ungrouped {
		p.X.Max = float64(len(groups)) - 0.4
	}
	r.save(p, Chart{ID: id, Section: section, Title: title, Caption: caption})
}

// formatValue prints a value in a display unit for a label.
func formatValue(v float64, unit string) string {
	switch {
	case v == 0:
		return "0 " + unit
	case unit == "x" || strings.HasSuffix(unit, "(x)"):
		return fmt.Sprintf("%.1fx", v)
	case math.Abs(v) >= 100: // a delta may be negative
		return fmt.Sprintf("%.0f %s", v, unit)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}
