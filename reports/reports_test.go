package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gosandbox/catalogue"

	"golang.org/x/net/html"
)

var (
	update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the fixtures")
	keep   = flag.String("keep", "", "also write the report of testdata/full into this directory, to look at")
)

// fixtures are the input directories under testdata, each an out/ tree:
// full, partial and corrupt are written by testdata/genfixtures; ginkgo holds
// a report written by Ginkgo itself (the suite in ginkgo/check_test.go.txt,
// run with -ginkgo.json-report); "missing" does not exist on purpose.
var fixtures = []string{"full", "partial", "corrupt", "ginkgo", "missing"}

// TestBuildGolden checks the data-to-series step: from the fixture results to
// the series the charts plot and the tables the pages print.
func TestBuildGolden(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			d := Build(Load(filepath.Join("testdata", name)))
			got, err := json.MarshalIndent(d, "", " ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./reports -run BuildGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("series differ from %s (rerun with -update if the change is intended):\n%s", golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) && i < len(g); i++ {
		if w[i] != g[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w[i] + "\n  got:  " + g[i]
		}
	}
	return "lengths differ: want " + strconv.Itoa(len(w)) + " lines, got " + strconv.Itoa(len(g))
}

// TestLoadFull pins down what the full fixture must yield, independent of
// the golden file: every backend and target, no problems.
func TestLoadFull(t *testing.T) {
	in := Load(filepath.Join("testdata", "full"))
	// The only problems are the matrix target that did not boot; the cache
	// directory beside the targets is not one.
	if len(in.Problems) == 0 {
		t.Error("no problem reported for the matrix target that did not boot")
	}
	for _, p := range in.Problems {
		if p.Input != "matrix/6.1-v1" {
			t.Errorf("unexpected problem: %s", p)
		}
	}
	if in.Bench == nil || in.Bench.Quick {
		t.Fatalf("bench not loaded as a full run: %+v", in.Bench)
	}
	var cols []string
	for _, r := range in.Conformance {
		cols = append(cols, r.Column())
	}
	want := "oneshot container bwrap none oneshot @ 5.10-v1 oneshot @ 6.12-v2 container @ 6.12-v2"
	if got := strings.Join(cols, " "); got != want {
		t.Errorf("columns %q, want %q", got, want)
	}
	if len(in.MatrixBench) != 2 {
		t.Errorf("%d matrix bench results, want 2", len(in.MatrixBench))
	}
	for _, r := range in.Conformance {
		for _, s := range r.Specs {
			if s.Property == "" || s.Area == "" {
				t.Errorf("%s: spec %q lost its labels", r.Column(), s.Text)
			}
			if s.State != StatePass && s.Reason == "" {
				t.Errorf("%s: %s spec %q has no reason", r.Column(), s.State, s.Text)
			}
		}
	}
}

// TestLoadRealGinkgoReport reads a report Ginkgo wrote, so that the loader
// is checked against Ginkgo's own encoding: labels on containers and on
// table entries, skip and failure messages, pending specs, suite nodes.
func TestLoadRealGinkgoReport(t *testing.T) {
	in := Load(filepath.Join("testdata", "ginkgo"))
	if len(in.Conformance) != 1 {
		t.Fatalf("%d conformance runs, want 1 (problems: %v)", len(in.Conformance), in.Problems)
	}
	run := in.Conformance[0]
	if run.Backend != "fake" || len(run.Specs) != 6 {
		t.Fatalf("backend %q with %d specs, want fake with 6 (the BeforeSuite is not a spec)", run.Backend, len(run.Specs))
	}
	want := []struct{ property, state, reason string }{
		{"R5", StatePass, ""},
		{"R8", StateFail, "tmpfs pages not charged"},
		{"R6", StateSkip, "address-space mode not configured"},
		{"R11", StatePass, ""},
		{"R11", StateFail, "to be >"},
		{"R12", StatePending, ""},
	}
	for i, w := range want {
		s := run.Specs[i]
		if s.Property != w.property || s.State != w.state || s.Area != "limits" || !strings.Contains(s.Reason, w.reason) {
			t.Errorf("spec %d = %+v, want property %s, area limits, state %s, reason containing %q", i, s, w.property, w.state, w.reason)
		}
	}
}

// TestLoadBadInputs checks that each kind of bad input is named in the
// problems rather than crashing or passing silently.
func TestLoadBadInputs(t *testing.T) {
	cases := map[string][]string{
		"partial": {
			"conformance/container.json: left out of the conformance matrix: corrupt Ginkgo JSON report",
			"conformance: only one backend (oneshot)",
			"bench/bench.json: bench error: backend none: skipped by --backends",
			"bench/bench.json: scenario throughput: backend container: open: backend unavailable",
			"matrix/6.1-v2: no bench.json for kernel target 6.1-v2",
		},
		"corrupt": {
			"bench/bench.json: unreadable, benchmark sections left out: corrupt JSON",
			"conformance: no conformance reports",
		},
		"missing": {"input directory missing or unreadable"},
	}
	for name, wants := range cases {
		in := Load(filepath.Join("testdata", name))
		var got []string
		for _, p := range in.Problems {
			got = append(got, p.String())
		}
		all := strings.Join(got, "\n")
		for _, w := range wants {
			if !strings.Contains(all, w) {
				t.Errorf("%s: no problem containing %q in:\n%s", name, w, all)
			}
		}
	}
}

// TestRender writes the report of every fixture and checks the pages: the
// HTML parses, every image and link it references exists in the report
// folder, nothing is fetched from elsewhere, the Markdown's images exist, and
// the sections that must be there are there.
func TestRender(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			res, err := Generate(filepath.Join("testdata", name), out)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			page, err := os.ReadFile(res.HTML)
			if err != nil {
				t.Fatal(err)
			}
			imgs := checkHTML(t, out, page)
			if len(imgs) != len(res.Charts) {
				t.Errorf("HTML shows %d images, %d charts were drawn", len(imgs), len(res.Charts))
			}
			for _, c := range res.Charts {
				checkPNG(t, filepath.Join(out, c.PNG))
				checkSVG(t, filepath.Join(out, c.SVG))
			}
			md, err := os.ReadFile(res.Markdown)
			if err != nil {
				t.Fatal(err)
			}
			checkMarkdown(t, out, string(md), len(res.Charts))

			text := string(page)
			if hasProblems := len(res.Dataset.Problems) > 0; hasProblems != strings.Contains(text, `id="missing"`) {
				t.Errorf("problems %v but Missing inputs section present=%v", res.Dataset.Problems, !hasProblems)
			}
			if res.Dataset.Quick != strings.Contains(text, `id="quick"`) {
				t.Errorf("quick=%v but the quick banner present=%v", res.Dataset.Quick, !res.Dataset.Quick)
			}
			if name == "full" {
				if len(res.Charts) < 9 {
					t.Errorf("only %d charts from the full fixture", len(res.Charts))
				}
				for _, want := range []string{`id="conformance"`, `id="latency"`, `id="throughput"`, `id="pool"`,
					`id="memory"`, `id="disk"`, `id="kernels"`, `id="claims"`, `id="environment"`, "oneshot @ 5.10-v1",
					`id="arrivals"`, "charts/arrivals.png", "charts/arrivals-ratio.svg", "charts/memory-kernel.png",
					"p90 / floor", "kernel busy/slot", "total busy/slot", "noisy (idle: host drift",
					`id="serve"`, "charts/serve-rate.png", "charts/serve-latency.svg", "NOT MEASURED HERE, NOT THE SAME MACHINE"} {
					if !strings.Contains(text, want) && !strings.Contains(string(md), want) {
						t.Errorf("report lacks %s", want)
					}
				}
			}
			if *keep != "" && name == "full" {
				if _, err := Generate(filepath.Join("testdata", name), *keep); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// checkHTML parses the page and checks every src and href; it returns the
// img sources.
func checkHTML(t *testing.T, dir string, page []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("HTML does not parse: %v", err)
	}
	var imgs []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "link", "iframe", "object", "embed":
				t.Errorf("page has a <%s>: it must be self-contained with inline CSS only", n.Data)
			}
			for _, a := range n.Attr {
				if a.Key != "src" && a.Key != "href" {
					continue
				}
				if strings.Contains(a.Val, "://") || strings.HasPrefix(a.Val, "//") {
					t.Errorf("<%s %s=%q>: an external reference", n.Data, a.Key, a.Val)
					continue
				}
				if strings.HasPrefix(a.Val, "#") {
					continue
				}
				if n.Data == "img" {
					imgs = append(imgs, a.Val)
				}
				if st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(a.Val))); err != nil || st.Size() == 0 {
					t.Errorf("<%s %s=%q>: not in the report folder (%v)", n.Data, a.Key, a.Val, err)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if bytes.Contains(page, []byte("@import")) || bytes.Contains(page, []byte("url(")) {
		t.Errorf("CSS fetches something (@import or url())")
	}
	return imgs
}

var mdImage = regexp.MustCompile(`!\[[^\]]*\]\(([^)]+)\)`)

func checkMarkdown(t *testing.T, dir, md string, charts int) {
	t.Helper()
	refs := mdImage.FindAllStringSubmatch(md, -1)
	if len(refs) != charts {
		t.Errorf("report.md shows %d images, %d charts were drawn", len(refs), charts)
	}
	for _, m := range refs {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("report.md image %q: %v", m[1], err)
		}
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if n := distinctColors(img, 10); n < 10 {
		t.Errorf("%s: only %d colours: an empty chart?", path, n)
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if !bytes.Contains(data, []byte("<svg")) {
		t.Errorf("%s: not an SVG", path)
	}
}

// TestGenerateReplacesStaleCharts checks that a second report into the same
// folder leaves only its own charts.
func TestGenerateReplacesStaleCharts(t *testing.T) {
	out := t.TempDir()
	if _, err := Generate(filepath.Join("testdata", "full"), out); err != nil {
		t.Fatal(err)
	}
	res, err := Generate(filepath.Join("testdata", "partial"), out)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(out, chartDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2*len(res.Charts) {
		t.Errorf("charts/ holds %d files after the second report, want %d", len(entries), 2*len(res.Charts))
	}
}

// TestGenerateUnwritable checks that failing to write is the one error.
func TestGenerateUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(filepath.Join("testdata", "full"), filepath.Join(file, "report")); err == nil {
		t.Error("Generate into a path under a regular file succeeded")
	}
}

func TestFormatQuantity(t *testing.T) {
	cases := []struct {
		v    float64
		unit string
		want string
	}{
		{11_500_000, "ns", "11.5 ms"},
		{850, "ns", "850 ns"},
		{2_500, "ns", "2.50 µs"},
		{12 << 10, "bytes", "12.0 KiB"},
		{118 << 20, "bytes", "118 MiB"},
		{3.1 * (1 << 20), "bytes/slot", "3.10 MiB/slot"},
		{523.4, "runs/s", "523 runs/s"},
		{-228 << 10, "bytes", "-228 KiB"},
	}
	for _, c := range cases {
		if got := formatQuantity(c.v, c.unit); got != c.want {
			t.Errorf("formatQuantity(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// TestGenerateOddBench feeds shapes a bench may write when things go wrong
// (all zeros, one sample, no samples, an unknown scenario, a matrix
// directory without matrix.json) and checks a report still comes out.
func TestGenerateOddBench(t *testing.T) {
	in := t.TempDir()
	odd := `{"schema": "gosandbox-bench/1", "quick": false, "environment": {"kernel": "x"},
	 "scenarios": [
	  {"name": "startup", "series": [
	    {"backend": "none", "program": "true", "unit": "ns", "samples": [0, 0]},
	    {"backend": "oneshot", "program": "true", "unit": "ns", "samples": [5]},
	    {"backend": "container", "program": "true", "unit": "ns", "samples": []}]},
	  {"name": "disk", "series": [{"backend": "oneshot", "variant": "shared-binds", "unit": "bytes", "samples": [0]}]},
	  {"name": "memory", "series": [{"backend": "oneshot", "variant": "idle-per-slot", "param": "slots", "value": 1, "unit": "bytes", "samples": [0]}]},
	  {"name": "throughput", "series": [{"backend": "oneshot", "param": "concurrency", "value": 1, "unit": "runs/s", "samples": [-1]}]},
	  {"name": "something-new", "series": [{"backend": "oneshot", "unit": "widgets", "samples": [1, 2, 3]}]}],
	 "claims": [{"claim": "c", "verdict": ""}]}`
	for path, content := range map[string]string{
		"bench/bench.json":         odd,
		"conformance/oneshot.json": "[]",
		"matrix/5.4-v1/bench.json": odd,
		"matrix/notes/readme.txt":  "not a target",
	} {
		p := filepath.Join(in, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Generate(in, filepath.Join(t.TempDir(), "report"))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	all := ""
	for _, p := range res.Dataset.Problems {
		all += p.String() + "\n"
	}
	for _, want := range []string{"conformance/oneshot.json: left out", "matrix/5.4-v1: no conformance reports"} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem containing %q in:\n%s", want, all)
		}
	}
	t.Logf("problems:\n%s", all)
	if strings.Contains(all, "notes") {
		t.Errorf("matrix/notes taken for a kernel target:\n%s", all)
	}
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	checkHTML(t, filepath.Dir(res.HTML), page)
	if !strings.Contains(string(page), "something-new") {
		t.Error("the unknown scenario is not tabulated")
	}
}

// TestArrivalsAndKernelMemory pins down what the full fixture's arrivals
// and kernel-memory series must yield: a row per backend and schedule in
// schedule order with ratios to the floor, kernel lines beside the PSS ones,
// and the memory table with the noisy figures marked.
func TestArrivalsAndKernelMemory(t *testing.T) {
	d := Build(Load(filepath.Join("testdata", "full")))
	if len(d.Arrivals) != 15 {
		t.Fatalf("%d arrival rows, want 15 (3 backends x 5 schedules)", len(d.Arrivals))
	}
	var order []string
	for _, r := range d.Arrivals {
		if l := scheduleLabel(r); len(order) == 0 || order[len(order)-1] != l {
			order = append(order, l)
		}
		if r.Backend != floorBackend && (r.Ratio <= 0 || r.RatioP90 <= 0) {
			t.Errorf("arrivals %s %s: ratios %g %g, want both > 0", r.Backend, scheduleLabel(r), r.Ratio, r.RatioP90)
		}
	}
	if got := strings.Join(order, ", "); got != "0 ms, 5 ms, 20 ms, 100 ms, Poisson 20/s" {
		t.Errorf("schedules in order %q", got)
	}
	var summary bool
	for _, l := range d.Summary {
		summary = summary || strings.HasPrefix(l, "arrivals p50 ratio to floor (0 ms, 5 ms, 20 ms, 100 ms, Poisson 20/s): oneshot ")
	}
	if !summary {
		t.Errorf("no arrivals line in the summary: %q", d.Summary)
	}
	var labels []string
	for _, l := range d.KernelMemory {
		labels = append(labels, l.Label)
	}
	if got := strings.Join(labels, ", "); got != "oneshot idle, oneshot busy, container idle, container busy" {
		t.Errorf("kernel memory lines %q", got)
	}
	for _, l := range d.Memory {
		if strings.Contains(l.Label, "kernel") || strings.Contains(l.Label, "total") || strings.Contains(l.Label, "slab") {
			t.Errorf("PSS chart draws a kernel series: %q", l.Label)
		}
	}
	if len(d.MemoryTable) != 10 {
		t.Fatalf("%d memory rows, want 10 (2 backends x 5 slot counts)", len(d.MemoryTable))
	}
	for _, r := range d.MemoryTable {
		if wantNoisy := r.Backend == "oneshot" && r.Slots < 4; (r.Noisy != "") != wantNoisy {
			t.Errorf("memory %s slots=%g: noisy %q, want noisy=%v", r.Backend, r.Slots, r.Noisy, wantNoisy)
		}
		if !r.HasKmem || r.Drift <= 0 || r.TotalBusy <= r.PSSBusy {
			t.Errorf("memory %s slots=%g: %+v: want kmem, a drift and total above PSS", r.Backend, r.Slots, r)
		}
	}
}

// TestServe pins down the serve section from the full fixture: a row per
// backend and concurrency with the rate over one-shot's, the go-judge
// reference beside them and marked as not measured here, in the summary,
// the table of both pages and two charts; none of it without serve figures.
func TestServe(t *testing.T) {
	d := Build(Load(filepath.Join("testdata", "full")))
	if len(d.Serve) != 6 {
		t.Fatalf("%d serve rows, want 6 (2 backends x 3 concurrencies)", len(d.Serve))
	}
	for _, r := range d.Serve {
		if r.Rate <= 0 || r.Windows != 5 || r.Latency.N != 80 || r.Latency.P99 < r.Latency.P50 {
			t.Errorf("serve %s c=%g: %+v", r.Backend, r.Concurrency, r)
		}
		if wantRatio := r.Backend != "oneshot"; (r.RateRatio > 0) != wantRatio || (wantRatio && r.RatioTo != "oneshot") {
			t.Errorf("serve %s c=%g: ratio %g to %q", r.Backend, r.Concurrency, r.RateRatio, r.RatioTo)
		}
	}
	if d.ServeReference == nil || d.ServeReference.Rate != 864.88 || d.ServeReference.P50 != 1.13e6 {
		t.Fatalf("serve reference %+v, want go-judge's 864.88 requests/s, p50 1.13 ms", d.ServeReference)
	}
	var line string
	for _, l := range d.Summary {
		if strings.HasPrefix(l, "serve requests/s") {
			line = l
		}
	}
	if !strings.Contains(line, "container/oneshot ") || !strings.Contains(line, "not measured here and not the same machine") {
		t.Errorf("summary serve line %q: want the ratios and the reference marked", line)
	}
	out := t.TempDir()
	res, err := Generate(filepath.Join("testdata", "full"), out)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range res.Charts {
		if c.Section == sectionServe {
			ids = append(ids, c.ID)
		}
	}
	if got := strings.Join(ids, ", "); got != "serve-rate, serve-latency" {
		t.Errorf("serve charts %q", got)
	}
	for _, page := range []string{res.HTML, res.Markdown} {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range []string{"gosandbox serve over HTTP", "requests/s vs oneshot", "go-judge (reference): NOT MEASURED HERE, NOT THE SAME MACHINE",
			"864.9", "1.13 ms", "charts/serve-rate.png", "charts/serve-latency.png"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", filepath.Base(page), want)
			}
		}
	}
	partial := Build(Load(filepath.Join("testdata", "partial")))
	if len(partial.Serve) != 0 || partial.ServeReference != nil {
		t.Errorf("serve rows or reference without serve figures: %+v %+v", partial.Serve, partial.ServeReference)
	}
}

// TestSideBySide checks the first section: it comes before every other one
// in both pages, has a cell per catalogue property and host backend with
// the first line of the reason on failed and skipped cells, and survives a
// missing scenario.
func TestSideBySide(t *testing.T) {
	out := t.TempDir()
	res, err := Generate(filepath.Join("testdata", "full"), out)
	if err != nil {
		t.Fatal(err)
	}
	sb := res.Dataset.SideBySide
	if got := strings.Join(sb.Backends, " "); got != "oneshot container bwrap none" {
		t.Errorf("side-by-side columns %q", got)
	}
	if n := len(catalogue.All()); len(sb.Rows) != n {
		t.Errorf("%d rows, want one per catalogue property (%d)", len(sb.Rows), n)
	}
	cell := func(prop, backend string) SideCell {
		for _, r := range sb.Rows {
			if r.Property == prop {
				for i, b := range sb.Backends {
					if b == backend {
						return r.Cells[i]
					}
				}
			}
		}
		t.Fatalf("no cell %s %s", prop, backend)
		return SideCell{}
	}
	wantS1 := "backend bwrap: denied call not reported: the run ended ok, want a syscall-denied verdict naming ptrace"
	for _, c := range []struct {
		prop, backend, state, reason string
	}{
		{"P1", "bwrap", StatePass, ""},
		{"S1", "bwrap", StateFail, wantS1},
		{"R5", "bwrap", StateSkip, "backend bwrap: unsupported: bwrap sets no cgroup limits"},
		{"U6", "container", StateFail, "after 1000 runs"},
		{"H1", "oneshot", StateSkip, "no spec covers this property"},
	} {
		got := cell(c.prop, c.backend)
		if got.State != c.state || !strings.HasPrefix(got.Reason, c.reason) || (c.reason == "") != (got.Reason == "") {
			t.Errorf("%s on %s = %+v, want %s with a reason starting %q", c.prop, c.backend, got, c.state, c.reason)
		}
		if strings.Contains(got.Reason, "\n") {
			t.Errorf("%s on %s: reason is not one line: %q", c.prop, c.backend, got.Reason)
		}
	}
	if len(sb.Startup) != 4 || len(sb.Throughput) != 4 || len(sb.Memory) != 3 || len(sb.Missing) != 0 {
		t.Errorf("startup %d, throughput %d, memory %d bars, missing %q: want 4, 4, 3 and none",
			len(sb.Startup), len(sb.Throughput), len(sb.Memory), sb.Missing)
	}

	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var firstH2 string
	var titled bool
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "h2" && firstH2 == "" {
			for _, a := range n.Attr {
				if a.Key == "id" {
					firstH2 = a.Val
				}
			}
		}
		if n.Type == html.ElementNode && n.Data == "td" {
			for _, a := range n.Attr {
				titled = titled || (a.Key == "title" && a.Val == wantS1)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if firstH2 != sectionSideBySide {
		t.Errorf("first section of index.html is %q, want %q", firstH2, sectionSideBySide)
	}
	if !titled {
		t.Errorf("index.html has no cell titled with the reason %q", wantS1)
	}
	for _, want := range []string{"charts/side-by-side.png", `id="side-by-side-memory"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %s", want)
		}
	}

	md, err := os.ReadFile(res.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	var firstMD string
	var longest int
	for _, l := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(l, "## ") && firstMD == "" {
			firstMD = l
		}
		if strings.HasPrefix(l, "- **F11** bwrap fail: ") {
			longest = len(l)
		}
	}
	if firstMD != "## Sandboxes side by side" {
		t.Errorf("first section of report.md is %q", firstMD)
	}
	if !strings.Contains(string(md), "- **S1** bwrap fail: "+wantS1) {
		t.Error("report.md does not list the S1 failure of bwrap with its reason")
	}
	if longest == 0 || longest > len("- **F11** bwrap fail: ")+sideReasonLen+10 {
		t.Errorf("report.md: the F11 reason of bwrap is missing or not bounded (%d characters)", longest)
	}

	// The partial fixture's throughput scenario measured nothing: the chart
	// keeps the latency panel and the section says what is missing.
	res, err = Generate(filepath.Join("testdata", "partial"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	md, err = os.ReadFile(res.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"charts/side-by-side.png", "throughput: no throughput figures", "memory: no memory figures"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("partial report.md lacks %q", want)
		}
	}
}

// TestLoadVagrantBesideQemu checks that the Vagrant matrix's columns
// (vagrant.json) come in beside the qemu matrix's (matrix.json, which alone
// would hide every directory it does not list), and that a machine skipped
// for want of its box is one problem naming the reason.
func TestLoadVagrantBesideQemu(t *testing.T) {
	in := t.TempDir()
	report, err := os.ReadFile(filepath.Join("testdata", "full", "matrix", "6.12-v2", "oneshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"matrix/matrix.json": `{"accel": "tcg", "columns": [
		  {"name": "6.12-v2", "kernel": "6.12", "cgroup": "v2", "booted": true, "completed": true, "bench": false}]}`,
		"matrix/6.12-v2/oneshot.json": string(report),
		"matrix/vagrant.json": `{"runner": "vagrant", "label_filter": "P1", "columns": [
		  {"name": "vagrant-debian12-6.1-v2", "kernel": "vagrant-debian12-6.1", "cgroup": "v2", "booted": true, "completed": true, "bench": false, "reason": ""},
		  {"name": "vagrant-alma8-4.18-v1", "kernel": "vagrant-alma8-4.18", "cgroup": "v1", "booted": false, "completed": false, "bench": false,
		   "reason": "skipped: the box generic/alma8 is neither in Vagrant's box store nor downloadable"}]}`,
		"matrix/vagrant-debian12-6.1-v2/oneshot.json": string(report),
	}
	for path, content := range files {
		p := filepath.Join(in, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := Load(in)
	var cols []string
	for _, r := range got.Conformance {
		cols = append(cols, r.Column())
	}
	if want := "oneshot @ 6.12-v2 oneshot @ vagrant-debian12-6.1-v2"; strings.Join(cols, " ") != want {
		t.Errorf("columns %q, want %q", strings.Join(cols, " "), want)
	}
	var alma []string
	for _, p := range got.Problems {
		if strings.Contains(p.Input, "alma8") {
			alma = append(alma, p.String())
		}
	}
	if len(alma) != 1 || !strings.Contains(alma[0], "skipped: the box generic/alma8") {
		t.Errorf("problems about the skipped machine: %q, want one naming its box", alma)
	}
	if !strings.Contains(got.MatrixNote, `Vagrant matrix ran only the specs matching "P1"`) {
		t.Errorf("matrix note %q does not say the Vagrant matrix was filtered", got.MatrixNote)
	}
}
