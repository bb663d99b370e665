// Package suites is the conformance kit: Ginkgo specs that state what a sandbox
// for untrusted programs must guarantee, one or more per property ID of the
// catalogue in DESIGN.md, each labelled with its ID and its area
// (Label("R5", "limits")). They drive a sandbox only through harness.Backend:
//
//	ginkgo ./suites -- --backend=oneshot
//
// Reports go to out/conformance/<backend>.json and .xml.
package suites
