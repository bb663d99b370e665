// Package bench measures sandboxes side by side through harness.Backend:
// startup latency, latency of runs arriving on a schedule, throughput,
// gosandbox serve over HTTP, pool warm-up, reset cost, memory (PSS and
// kernel) and disk,
// interleaving the variants in one run and keeping every raw sample. Its
// output is out/bench/bench.json, whose layout is benchjson.Report; `gosandbox bench`
// is its command line and Run its entry point.
//
// Use it to compare backends on one machine at one time. Do not use its
// figures as absolute numbers across machines: the machines are shared and
// noisy, so every figure that matters is a ratio to the floor (backend none, a
// plain fork+exec+wait from the bench process) or to another backend,
// measured in the same run.
//
// # Method
//
// Variants are interleaved round by round (A B C A B C ...) after warm-up
// rounds that are thrown away, so that a drift of the machine hits every
// variant alike. A backend that cannot be opened is named in Report.Errors
// and left out; a scenario that cannot measure something says why in
// Scenario.Errors; the rest still runs. A scenario is Noisy when a series has
// p90/p50 > 3 or the load average at its start or end exceeds the core count.
//
// A pooled backend may implement Resetter (reset one idle container, timed
// apart from exec), found by type assertion.
//
// The layout of bench.json is package bench/benchjson, which the reports read.
package bench
