package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"gosandbox/reports"
)

func init() {
	commands["report"] = command{
		summary: "turn conformance and bench results under out/ into out/report/ (HTML, Markdown, charts)",
		run:     runReport,
	}
}

func runReport(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "out", "directory holding conformance/, bench/bench.json and matrix/")
	out := fs.String("out", filepath.Join("out", "report"), "directory to write index.html, report.md and charts/ into")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: gosandbox report [--in DIR] [--out DIR]\n\n"+
			"Writes a report of whatever results exist; missing or unreadable inputs are\n"+
			"listed in the report's \"Missing inputs\" section, not treated as errors.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gosandbox report: unexpected arguments %q\n", fs.Args())
		return 2
	}
	res, err := reports.Generate(*in, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox report: %v\n", err)
		return 1
	}
	for _, line := range res.Dataset.Summary {
		fmt.Println(line)
	}
	for _, p := range res.Dataset.Problems {
		fmt.Fprintf(os.Stderr, "gosandbox report: missing input: %s\n", p)
	}
	fmt.Printf("wrote %s, %s and %d charts\n", res.HTML, res.Markdown, len(res.Charts))
	return 0
}
