package suites

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"

	"gosandbox/catalogue"
)

// The reports: out/conformance/<backend>.json (Ginkgo's JSON report, which
// the report generator and the teeth test read) and .xml (JUnit), plus a
// short summary per area on stdout.
var _ = ReportAfterSuite("conformance reports", func(r Report) {
	dir := *reportDir
	if dir == "" {
		dir = filepath.Join(repoRoot(), "out", "conformance")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: report directory: %v\n", err)
		return
	}
	base := filepath.Join(dir, *backendName)
	if err := reporters.GenerateJSONReport(r, base+".json"); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: JSON report: %v\n", err)
	}
	if err := reporters.GenerateJUnitReport(r, base+".xml"); err != nil {
		fmt.Fprintf(os.Stderr, "conformance: JUnit report: %v\n", err)
	}
	writeSummary(os.Stdout, *backendName, r)
	fmt.Printf("reports: %s.json, %s.xml\n", base, base)
})

// areaTally counts the specs of one area and notes which properties failed.
type areaTally struct {
	passed, failed, skipped int
	failing                 map[string]bool
}

func writeSummary(w io.Writer, backendName string, r Report) {
	tallies := map[string]*areaTally{}
	for _, a := range catalogue.Areas() {
		tallies[a.Label] = &areaTally{failing: map[string]bool{}}
	}
	other := &areaTally{failing: map[string]bool{}}
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		// The catalogue decides a property's area; an area label counts
		// only for a spec without a property.
		t := other
		var ids []string
		for _, l := range s.Labels() {
			if tl, ok := tallies[l]; ok && len(ids) == 0 {
				t = tl
			}
			if p, ok := catalogue.Lookup(l); ok {
				if len(ids) == 0 {
					t = tallies[p.Area]
				}
				ids = append(ids, l)
			}
		}
		switch {
		case s.State.Is(types.SpecStatePassed):
			t.passed++
		case s.State.Is(types.SpecStateFailureStates):
			t.failed++
			for _, id := range ids {
				t.failing[id] = true
			}
		default: // skipped, pending
			t.skipped++
		}
	}
	fmt.Fprintf(w, "\nconformance summary, backend %s\n", backendName)
	fmt.Fprintf(w, "%-11s %6s %6s %7s  %s\n", "area", "passed", "failed", "skipped", "failing properties")
	row := func(name string, t *areaTally) {
		if t.passed+t.failed+t.skipped == 0 {
			return
		}
		ids := make([]string, 0, len(t.failing))
		for id := range t.failing {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return catalogue.Less(ids[i], ids[j]) })
		fmt.Fprintf(w, "%-11s %6d %6d %7d  %s\n", name, t.passed, t.failed, t.skipped, strings.Join(ids, " "))
	}
	for _, a := range catalogue.Areas() {
		row(a.Label, tallies[a.Label])
	}
	row("(no area)", other)
}
