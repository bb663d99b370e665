// Package bench measures sandboxes side by side through harness.Backend:
// startup latency, throughput, pool warm-up, reset cost, memory and disk,
// interleaving the variants in one run and keeping every raw sample. Its output
// is out/bench/bench.json, whose layout is Report.
package bench
