package reports

import (
	"fmt"
	"gosandbox/bench/benchjson"
	"slices"
	"strings"
)

// ServeRow is one backend behind gosandbox serve at one concurrency: the
// requests per second of its windows (p50) and the client-side latency of
// its requests, with the rate over the first backend's (one-shot's when
// measured) at the same concurrency.
type ServeRow struct {
	Backend     string            `json:"backend"`
	Concurrency float64           `json:"concurrency"`
	Windows     int               `json:"windows"`
	Rate        float64           `json:"rate"` // requests/s, p50 over the windows
	Latency     benchjson.Summary `json:"latency"`
	// RateRatio is Rate over the rate of RatioTo at the same concurrency
	// (0 on RatioTo's own rows or without it).
	RateRatio float64 `json:"rate_ratio,omitempty"`
	RatioTo   string  `json:"ratio_to,omitempty"`
}

// ServeReference is a figure published elsewhere, set beside the serve
// rows as a reference; it was not measured here.
type ServeReference struct {
	Name        string  `json:"name"`
	Source      string  `json:"source"`
	Setup       string  `json:"setup"`
	Concurrency float64 `json:"concurrency"`
	Requests    int     `json:"requests"`
	Rate        float64 `json:"rate"` // requests/s
	P50         float64 `json:"p50"`  // ns
	P90         float64 `json:"p90"`
	P99         float64 `json:"p99"`
}

// goJudgeReference is go-judge's own single-connection benchmark from its
// README (section Benchmark): wrk with one thread and one connection for
// 30 s, each request running /bin/cat on a file copied in, on Windows 10
// WSL2 on a Ryzen 7 5800X. Not measured here and not on this machine: a
// reference for the order of magnitude, not a comparison.
var goJudgeReference = ServeReference{
	Name:   "go-judge (reference)",
	Source: "go-judge README, section Benchmark (github.com/criyle/go-judge)",
	Setup: "wrk -c 1 -t 1 -d 30s, POST /run of /bin/cat with one copy-in file, Windows 10 WSL2 on a Ryzen 7 5800X; " +
		"its README quotes ~800-860 requests/s single-threaded",
	Concurrency: 1, Requests: 25956, Rate: 864.88, P50: 1.13e6, P90: 1.27e6, P99: 1.61e6,
}

// serveRows pairs each backend's rate and latency series at each
// concurrency, in the bench's order.
func serveRows(sc benchjson.Scenario) []ServeRow {
	var rows []ServeRow
	index := map[[2]any]int{}
	row := func(s benchjson.Series) *ServeRow {
		k := [2]any{s.Backend, s.Value}
		i, ok := index[k]
		if !ok {
			i = len(rows)
			index[k] = i
			rows = append(rows, ServeRow{Backend: s.Backend, Concurrency: s.Value})
		}
		return &rows[i]
	}
	for _, s := range sc.Series {
		sum := summaryOf(s)
		if sum.N == 0 {
			continue
		}
		switch s.Variant {
		case benchjson.VariantRequestRate:
			r := row(s)
			r.Rate, r.Windows = sum.P50, sum.N
		case benchjson.VariantLatency:
			row(s).Latency = sum
		}
	}
	rows = slices.DeleteFunc(rows, func(r ServeRow) bool { return r.Rate == 0 || r.Latency.N == 0 })
	if len(rows) == 0 {
		return nil
	}
	base := rows[0].Backend
	if slices.ContainsFunc(rows, func(r ServeRow) bool { return r.Backend == "oneshot" }) {
		base = "oneshot"
	}
	for i := range rows {
		if rows[i].Backend == base {
			continue
		}
		for _, b := range rows {
			if b.Backend == base && b.Concurrency == rows[i].Concurrency {
				rows[i].RateRatio, rows[i].RatioTo = rows[i].Rate/b.Rate, base
			}
		}
	}
	return rows
}

// serveRateLines is requests/s (p50) against concurrency, a line per
// backend.
func serveRateLines(rows []ServeRow) []Line {
	return serveLines(rows, func(r ServeRow) []serveY { return []serveY{{"", r.Rate, "requests/s"}} })
}

// serveLatencyLines is the latency p50 and p99 against concurrency, two
// lines per backend.
func serveLatencyLines(rows []ServeRow) []Line {
	return serveLines(rows, func(r ServeRow) []serveY {
		return []serveY{{" p50", r.Latency.P50, "ns"}, {" p99", r.Latency.P99, "ns"}}
	})
}

type serveY struct {
	suffix string
	y      float64
	unit   string
}

func serveLines(rows []ServeRow, ys func(ServeRow) []serveY) []Line {
	var lines []Line
	index := map[string]int{}
	for _, r := range rows {
		for _, y := range ys(r) {
			label := r.Backend + y.suffix
			i, ok := index[label]
			if !ok {
				i = len(lines)
				index[label] = i
				lines = append(lines, Line{Label: label, Unit: y.unit})
			}
			lines[i].Points = append(lines[i].Points, XY{X: r.Concurrency, Y: y.y})
		}
	}
	return lines
}

// serveTable tabulates the serve rows and, below them, the reference row,
// marked as not measured here; nil without rows.
func serveTable(rows []ServeRow, ref *ServeReference) *tableView {
	if len(rows) == 0 {
		return nil
	}
	t := &tableView{Header: []string{"backend", "concurrency", "windows", "requests", "requests/s (p50)", "latency p50", "latency p90",
		"latency p99", "latency max", "requests/s vs " + orDash(rows[0].RatioTo)}, Num: 2,
		Note: "Measured here, in one run: requests/s is the p50 over the windows of successful requests per second; latency is " +
			"every request's time from the client's send to the last byte of the answer."}
	for _, r := range rows {
		if r.RatioTo != "" {
			t.Header[len(t.Header)-1] = "requests/s vs " + r.RatioTo
			break
		}
	}
	ms := func(x float64) string { return formatQuantity(x, "ns") }
	for _, r := range rows {
		ratio := "—"
		if r.RateRatio > 0 {
			ratio = fmt.Sprintf("%.2fx", r.RateRatio)
		}
		l := r.Latency
		t.Rows = append(t.Rows, []string{r.Backend, trimFloat(r.Concurrency), fmt.Sprint(r.Windows), fmt.Sprint(l.N),
			fmt.Sprintf("%.1f", r.Rate), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), ratio})
	}
	if ref != nil {
		t.Rows = append(t.Rows, []string{ref.Name + ": NOT MEASURED HERE, NOT THE SAME MACHINE", trimFloat(ref.Concurrency), "—",
			fmt.Sprint(ref.Requests), fmt.Sprintf("%.1f", ref.Rate), ms(ref.P50), ms(ref.P90), ms(ref.P99), "—", "—"})
		t.Note += " The last row is a reference, not a comparison: " + ref.Source + " (" + ref.Setup + "). " +
			"It was measured elsewhere: another machine, another program, another client; only figures measured in the same run are compared."
	}
	return t
}

// serveSummary is one line: each backend's requests/s per concurrency, the
// ratios to the base backend, and the reference marked as such.
func serveSummary(rows []ServeRow, ref *ServeReference) string {
	if len(rows) == 0 {
		return ""
	}
	var concs []string
	var backends []string
	rate := map[[2]string]ServeRow{}
	for _, r := range rows {
		c := trimFloat(r.Concurrency)
		if !slices.Contains(concs, c) {
			concs = append(concs, c)
		}
		if !slices.Contains(backends, r.Backend) {
			backends = append(backends, r.Backend)
		}
		rate[[2]string{r.Backend, c}] = r
	}
	var parts, ratios []string
	for _, b := range backends {
		var xs, rs []string
		for _, c := range concs {
			r, ok := rate[[2]string{b, c}]
			if !ok {
				xs, rs = append(xs, "-"), append(rs, "-")
				continue
			}
			xs = append(xs, fmt.Sprintf("%.0f", r.Rate))
			if r.RateRatio > 0 {
				rs = append(rs, fmt.Sprintf("%.1f", r.RateRatio))
			} else {
				rs = append(rs, "-")
			}
		}
		parts = append(parts, b+" "+strings.Join(xs, "/"))
		for _, r := range rows {
			if r.Backend == b && r.RatioTo != "" {
				ratios = append(ratios, b+"/"+r.RatioTo+" "+strings.Join(rs, "/")+"x")
				break
			}
		}
	}
	line := "serve requests/s (p50) at concurrency " + strings.Join(concs, ", ") + ": " + strings.Join(parts, ", ")
	if len(ratios) > 0 {
		line += "; " + strings.Join(ratios, ", ")
	}
	if ref != nil {
		line += fmt.Sprintf("; reference, not measured here and not the same machine: %s %.0f requests/s at concurrency %s, p50 %s",
			ref.Name, ref.Rate, trimFloat(ref.Concurrency), formatQuantity(ref.P50, "ns"))
	}
	return line
}
