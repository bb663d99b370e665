// Package teeth keeps the conformance suites honest: its test runs the
// isolation specs against the none backend, which isolates nothing, and
// fails unless nearly every isolation property has a failing spec there. A
// spec that passes on none asserts nothing about isolation.
//
// It holds no code for other packages to use.
package teeth
