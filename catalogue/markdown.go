package catalogue

import (
	"bytes"
	"fmt"
	"strings"
)

// Markdown renders the catalogue as docs/conformance.md.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString(`<!-- Generated from package catalogue (catalogue/catalogue.go) by "make docs"; edit that file, not this one. -->

# The conformance catalogue

Every property a sandbox for untrusted programs must hold, by ID. The conformance suites
(` + "`suites/`" + `) check each property with one spec or more, labelled with its ID and its area
(` + "`Label(\"R5\", \"limits\")`" + `), so that ` + "`--label-filter='R5'`" + ` or ` + "`'limits'`" + ` selects them; the
reports show one row per property and backend. IDs are never reused: a property that is dropped
leaves a gap.

A spec whose property the backend cannot express, or whose kernel feature the host lacks, skips
with the reason. A spec that cannot fail is a defect: run on the backend ` + "`none`" + ` (no isolation
at all), the isolation specs must fail, and ` + "`suites/teeth`" + ` keeps it so.
`)
	for _, a := range areas {
		fmt.Fprintf(&b, "\n## %s (`%s`)\n\n", a.Heading, a.Label)
		b.WriteString("| ID | property | what it covers |\n| --- | --- | --- |\n")
		for _, p := range properties {
			if p.Area != a.Label {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", p.ID, cell(p.Title), cell(p.Detail))
		}
	}
	return b.Bytes()
}

// cell escapes the characters a Markdown table cell cannot hold as they are.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
