// Package catalogue is the conformance catalogue: every property a sandbox
// for untrusted programs must hold, with its ID (P1, F11, R5, ...), its area
// and its statement. It is the one place these are written down: the suites
// label their specs with its IDs and areas, the reports take its titles and
// its order, and docs/conformance.md is generated from it (`make docs`, or
// `go generate ./catalogue`; a test fails when the file is stale).
//
// It holds the data and its Markdown form only, and imports nothing of the
// repository, so any package, library code included, may cite a property by
// its ID. It does not say how a property is checked: that is the suites'
// business (package suites).
package catalogue

//go:generate go run gendoc.go ../docs/conformance.md
