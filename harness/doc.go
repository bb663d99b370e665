// Package harness is the one place that knows every sandbox backend. The
// conformance suites and the benchmarks drive sandboxes only through Backend,
// so any sandbox that implements it gets the whole kit.
//
// Backends: none (plain fork+exec, no isolation: the calibration of the suites
// and the floor of the benchmarks), oneshot (sandbox/oneshot), container
// (pooled containers, sandbox/container) and bwrap (Debian's bubblewrap through
// its command line, when installed).
package harness
