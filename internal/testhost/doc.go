// Package testhost holds the host checks tests share: whether the test runs
// as root, whether user namespaces can be made, where a cgroup v2 hierarchy
// is mounted. Each Need function skips the test with the reason when the
// host lacks what it needs, so that a test never passes by asserting
// nothing on a host that cannot run it.
//
// It is for tests only and imports nothing of the repository, so any
// package's tests may use it without an import cycle.
package testhost
