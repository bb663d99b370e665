//go:build linux && !amd64

package forkexec

// No machine-code reaper on this architecture: the set-up process stays on as pid 1.

// reaperImage: no machine code for this architecture; the reaper stays a
// copy of the child (reaperLoop).
func reaperImage() []byte { return nil }

// idleReaperImage: none on this architecture; Runner.ReaperApart is
// ignored.
func idleReaperImage() []byte { return nil }
