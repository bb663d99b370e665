// Package sandbox is gosandbox's neutral API: what to run (Spec, Limits), how it
// ended (Result, Status) and the Runner interface that every way of isolating a
// run implements (the one-shot runner in sandbox/oneshot, pooled containers in
// sandbox/container).
//
// The package holds no Linux code and starts no process; its subpackages do the
// work. Callers that only need to describe a run and read its verdict import this
// package alone.
//
// Comments here and in the subpackages cite conformance properties by their ID
// (B4, R13, U7): the catalogue (package gosandbox/catalogue, rendered as
// docs/conformance.md) says what each one requires.
package sandbox
