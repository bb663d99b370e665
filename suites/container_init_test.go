package suites

import "gosandbox/harness"

// The container backend re-executes this test binary as the init of each
// container; it must take over before Ginkgo starts. An init function runs
// before TestMain and RunSpecs, and returns at once in any other process.
func init() { harness.MaybeRunInit() }
