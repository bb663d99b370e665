// Package suites is the conformance kit: Ginkgo specs that state what a sandbox
// for untrusted programs must guarantee, one or more per property ID of the
// catalogue (package catalogue, docs/conformance.md), each labelled with its
// ID and its area as the catalogue has them (property("R5") is
// Label("R5", "limits")). They drive a sandbox only through harness.Backend:
//
//	ginkgo -p ./suites -- --backend=oneshot [--pool=N] [--report-dir=DIR]
//
// Specs run the probe program (harness/probes) inside the box, bound read-only
// at /opt/probe, and assert on the facts it prints; the host side of a spec
// sets up what the box must not reach (a host process, a listener, a SysV
// object, a file outside the mounts) and removes it afterwards. A spec whose
// property the backend cannot express skips with the reason (needs,
// skipIfUnsupported) rather than fail.
//
// Reports go to out/conformance/<backend>.json (Ginkgo JSON) and .xml (JUnit),
// with a passed/failed/skipped summary per area on stdout. The teeth
// subpackage runs the isolation specs on the none backend and fails unless
// they fail there: a spec that passes without isolation proves nothing.
package suites
