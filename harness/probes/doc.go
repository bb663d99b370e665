// Package probes builds the probe program that the conformance suites and the
// benchmarks run inside sandboxes. The probe is one static binary with many
// actions (`probe ACTION [ARGS...]`), each doing one observing or hostile thing
// and printing what it saw. Hostile actions refuse to act outside a pid
// namespace, so a probe run by mistake on the host harms nothing.
package probes
