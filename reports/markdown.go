package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// writeMarkdown writes the same content as the HTML page for a repository
// page: images are referenced relatively, reasons are listed under the
// matrix instead of in tooltips.
func writeMarkdown(w io.Writer, v *view) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }

	p("# gosandbox report\n\nGenerated %s from `%s`.\n\n", v.Generated, v.InDir)
	if v.QuickBanner != "" {
		p("> **%s**\n\n", v.QuickBanner)
	}
	writeSideBySide(b, v.SideBySide)
	p("## Summary\n\n")
	for _, s := range v.Summary {
		p("- %s\n", mdText(s))
	}
	p("\n")
	if len(v.Problems) > 0 {
		p("## Missing inputs\n\nThe report was written from what could be read; these inputs were missing, partial or unreadable:\n\n")
		for _, pr := range v.Problems {
			p("- `%s`: %s\n", pr.Input, mdText(pr.What))
		}
		p("\n")
	}

	for _, s := range v.Sections {
		p("## %s\n\n%s\n\n", s.Title, s.Intro)
		if s.ID == sectionKernels && v.Kernel != nil {
			mdRow(b, []string{"kernel-cgroup", "backend", "program", "p50", "ratio to floor"})
			mdRule(b, 5)
			for _, r := range v.Kernel.Rows {
				target := r.Target
				if r.Quick {
					target += " (quick)"
				}
				mdRow(b, []string{target, r.Backend, r.Program, r.P50, r.Ratio})
			}
			p("\n")
		}
		if t := s.Table; t != nil {
			mdRow(b, t.Header)
			mdRule(b, len(t.Header))
			for _, r := range t.Rows {
				cells := make([]string, len(r))
				for i, c := range r {
					cells[i] = mdText(c)
				}
				mdRow(b, cells)
			}
			p("\n")
			if t.Note != "" {
				p("%s\n\n", mdText(t.Note))
			}
		}
		for _, c := range s.Charts {
			p("![%s](%s)\n\n%s [SVG](%s)\n\n", mdText(c.Title), c.PNG, mdText(c.Caption), c.SVG)
		}
	}

	p("## Conformance\n\n")
	m := v.Matrix
	if len(m.Columns) == 0 {
		p("No conformance results.\n\n")
	} else {
		p("A property passes when all its specs pass; it fails when any fails. Every failure and skip is listed with its reason below the table.")
		if v.MatrixNote != "" {
			p(" Note: %s.", mdText(v.MatrixNote))
		}
		p("\n\n")
		header := []string{"property", "area", "what must hold"}
		col := 0
		for _, t := range m.Targets {
			for i := 0; i < t.Span; i++ {
				name := m.Columns[col]
				if t.Name != "this host" {
					name += " @ " + strings.TrimPrefix(t.Name, "kernel ")
				}
				header = append(header, name)
				col++
			}
		}
		mdRow(b, header)
		mdRule(b, len(header))
		for _, r := range m.Rows {
			cells := []string{"**" + r.Property + "**", r.Area, r.Title}
			for _, c := range r.Cells {
				text := c.Text
				if c.Class == StateFail {
					text = "**" + text + "**"
				}
				cells = append(cells, text)
			}
			mdRow(b, cells)
		}
		mdRow(b, append([]string{"**specs**", "", ""}, m.Totals...))
		p("\n")
		for _, d := range m.Details {
			p("### %s\n\n", mdText(d.Summary))
			for _, it := range d.Items {
				p("- **%s** %s: %s", it.Property, it.State, mdText(it.Text))
				if it.Reason != "" {
					p(" — %s", mdText(oneLine(shorten(it.Reason, 600))))
				}
				p("\n")
			}
			p("\n")
		}
	}

	p("## The seed's claims\n\n")
	if len(v.Claims) == 0 {
		p("No claims: the bench results are missing or recorded none.\n\n")
	} else {
		mdRow(b, []string{"claim", "seed", "measured", "verdict", "rule"})
		mdRule(b, 5)
		for _, c := range v.Claims {
			mdRow(b, []string{mdText(c.Claim), mdText(c.Seed), mdText(orDash(c.Measured)), "**" + orDash(c.Verdict) + "**", mdText(c.Rule)})
		}
		p("\n")
		if v.Quick {
			p("> **Measured on a quick run: not to be quoted.**\n\n")
		}
	}

	p("## All figures\n\n")
	if len(v.Scenarios) == 0 {
		p("No bench results.\n\n")
	}
	for _, sc := range v.Scenarios {
		p("### %s\n\n%s", sc.Name, mdText(sc.Description))
		if sc.Noisy != "" {
			p(" **Noisy:** %s", mdText(sc.Noisy))
		}
		p("\n\n")
		mdRow(b, scenarioHeader)
		mdRule(b, len(scenarioHeader))
		for _, r := range sc.Rows {
			mdRow(b, r)
		}
		p("\n")
	}
	if len(v.Notes) > 0 {
		p("**Caveats recorded by the bench:**\n\n")
		for _, n := range v.Notes {
			p("- %s\n", mdText(n))
		}
		p("\n")
	}

	p("## Environment\n\n")
	if len(v.Env) == 0 {
		p("Unknown: no bench results.\n")
	}
	for _, e := range v.Env {
		p("### %s\n\n", mdText(e.Title))
		if e.Quick {
			p("> **Quick run: not to be quoted.**\n\n")
		}
		mdRow(b, []string{"", ""})
		mdRule(b, 2)
		for _, f := range e.Fields {
			mdRow(b, []string{"**" + f[0] + "**", f[1]})
		}
		p("\n")
	}
	return b.Flush()
}

func mdRow(w io.Writer, cells []string) {
	escaped := make([]string, len(cells))
	for i, c := range cells {
		escaped[i] = strings.ReplaceAll(oneLine(c), "|", `\|`)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(escaped, " | "))
}

func mdRule(w io.Writer, n int) {
	fmt.Fprintf(w, "|%s\n", strings.Repeat(" --- |", n))
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdText keeps text from turning into Markdown markup by accident: results
// quote paths, globs and Gomega output full of * _ < > characters.
func mdText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "`", "\\`")
	return r.Replace(s)
}

// writeSideBySide writes the first section; the reasons of failed and
// skipped cells are listed under the table, as Markdown has no hover.
func writeSideBySide(b *bufio.Writer, sv *sideView) {
	if sv == nil {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("## Sandboxes side by side\n\n%s\n\n", mdText(sv.Intro))
	if c := sv.Chart; c != nil {
		p("![%s](%s)\n\n%s [SVG](%s)\n\n", mdText(c.Title), c.PNG, mdText(c.Caption), c.SVG)
	}
	if t := sv.Memory; t != nil {
		p("### Memory per backend\n\n")
		mdRow(b, t.Header)
		mdRule(b, len(t.Header))
		for _, r := range t.Rows {
			mdRow(b, r)
		}
		p("\n%s\n\n", mdText(t.Note))
	}
	if len(sv.Backends) == 0 {
		p("No conformance results for this host.\n\n")
	} else {
		mdRow(b, append([]string{"property", "what must hold"}, sv.Backends...))
		mdRule(b, 2+len(sv.Backends))
		for _, r := range sv.Rows {
			cells := []string{"**" + r.Property + "**", r.Title}
			for _, c := range r.Cells {
				text := c.Text
				if c.Class == StateFail {
					text = "**" + text + "**"
				}
				cells = append(cells, text)
			}
			mdRow(b, cells)
		}
		p("\n")
		if len(sv.Reasons) > 0 {
			p("Failed and skipped cells (first line of the reason; the Conformance section has every spec in full):\n\n")
			for _, r := range sv.Reasons {
				p("- %s\n", oneLine(r))
			}
			p("\n")
		}
	}
	if len(sv.Missing) > 0 {
		p("Not shown: %s.\n\n", mdText(strings.Join(sv.Missing, "; ")))
	}
}
