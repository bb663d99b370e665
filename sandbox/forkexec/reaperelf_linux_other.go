//go:build linux && !amd64

package forkexec

// reaperImage: no machine code for this architecture; the reaper stays a
// copy of the child (reaperLoop).
func reaperImage() []byte { return nil }
