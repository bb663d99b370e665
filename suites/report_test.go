package suites

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
)

// areas are the area labels of the catalogue, in the catalogue's order (reports/catalogue.go).
var areas = []string{"process", "filesystem", "limits", "syscalls", "privilege", "network", "host", "reuse", "robustness"}

// propertyID matches a catalogue property label (P1, F11, ...).
var propertyID = regexp.MustCompile(`^[PFRSCNIHUB][0-9]+$`)

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
	for _, a := range areas {
		tallies[a] = &areaTally{failing: map[string]bool{}}
	}
	other := &areaTally{failing: map[string]bool{}}
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		t := other
		var ids []string
		for _, l := range s.Labels() {
			if tl, ok := tallies[l]; ok {
				t = tl
			}
			if propertyID.MatchString(l) {
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
		sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
		fmt.Fprintf(w, "%-11s %6d %6d %7d  %s\n", name, t.passed, t.failed, t.skipped, strings.Join(ids, " "))
	}
	for _, a := range areas {
		row(a, tallies[a])
	}
	row("(no area)", other)
}

// idLess orders property IDs by letter, then number (F2 before F10).
func idLess(a, b string) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
