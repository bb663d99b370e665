package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report file names inside the output directory.
const (
	HTMLFile     = "index.html"
	MarkdownFile = "report.md"
)

// Result is what Generate wrote.
type Result struct {
	Dataset  *Dataset
	Charts   []Chart
	HTML     string // path of index.html
	Markdown string // path of report.md
}

// Generate reads the results under inDir and writes the report into outDir:
// index.html, report.md and charts/ (PNG and SVG). Missing or bad inputs are
// reported inside the report; the error is only for failing to write it.
func Generate(inDir, outDir string) (*Result, error) {
	return generate(inDir, outDir, time.Now())
}

func generate(inDir, outDir string, now time.Time) (*Result, error) {
	in := Load(inDir)
	d := Build(in)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("reports: create output directory: %w", err)
	}
	charts, problems, err := renderCharts(d, outDir)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		d.Problems = append(d.Problems, problems...)
		d.Summary = d.summarise(in)
	}
	if err := removeStaleCharts(outDir, charts); err != nil {
		return nil, err
	}
	v := newView(d, in, charts, now)
	res := &Result{Dataset: d, Charts: charts,
		HTML: filepath.Join(outDir, HTMLFile), Markdown: filepath.Join(outDir, MarkdownFile)}
	if err := writeFile(res.HTML, func(f *os.File) error { return writeHTML(f, v) }); err != nil {
		return nil, err
	}
	if err := writeFile(res.Markdown, func(f *os.File) error { return writeMarkdown(f, v) }); err != nil {
		return nil, err
	}
	return res, nil
}

// writeFile writes through a temporary file so that a reader never sees half
// a report.
func writeFile(path string, write func(*os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	return nil
}

// removeStaleCharts deletes images a previous report left in charts/ that
// this one did not draw, so the folder holds exactly what the pages show.
// Only .png and .svg files are touched.
func removeStaleCharts(outDir string, charts []Chart) error {
	keep := map[string]bool{}
	for _, c := range charts {
		keep[filepath.Base(c.PNG)] = true
		keep[filepath.Base(c.SVG)] = true
	}
	dir := filepath.Join(outDir, chartDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reports: list old charts: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.Type().IsRegular() && (ext == ".png" || ext == ".svg") && !keep[name] {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("reports: remove old chart: %w", err)
			}
		}
	}
	return nil
}
