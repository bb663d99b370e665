// Package reports turns the lab's raw results into a report a person can read:
// it loads conformance reports (Ginkgo JSON, one file per backend, plus the
// kernel matrix under out/matrix/<kernel>-<cgroup>/) and out/bench/bench.json,
// reduces them to plain series (Build), draws the charts with gonum/plot as
// PNG and SVG, and writes a self-contained index.html and a report.md.
//
// Every input is optional: a missing, partial or corrupt file becomes a line in
// the report's "Missing inputs" section rather than an error, so a report can
// always be written. Only failing to write the output is an error.
//
// It is for the gosandbox lab's own outputs; it is not a general Ginkgo or
// benchmark report tool, and it computes no statistics the bench did not
// record beyond ratios, ECDFs and per-slot divisions.
package reports
