package rlimit

import (
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// RLimit is one resource limit for setrlimit(2) (or prlimit(2)) in the child.
type RLimit struct {
	Resource int
	Limit    unix.Rlimit
}

// Caps on resources the neutral Limits do not mention. Locked memory and POSIX
// message queues are charged to the user outside any cgroup, so a box gets just
// enough for programs that probe them and no more.
const (
	memlockBytes  = 64 << 10
	msgqueueBytes = 64 << 10
)

// FromLimits returns the rlimits that back l in the child. Zero fields of l
// take sandbox.DefaultLimits; a negative value means unlimited.
//
// With cgroups the box-wide memory and process caps belong to the cgroup, so
// RLIMIT_AS is set only when l.AddressSpace asks for it and RLIMIT_NPROC is not
// set at all (it counts every process of the uid, not of the box). Without
// cgroups these two rlimits are the only memory and process caps there are.
//
// RLIMIT_CPU is a per-process backstop in whole seconds (rounded up): the
// supervisor kills the box at the exact total of all its processes.
func FromLimits(l sandbox.Limits, cgroups bool) []RLimit {
	l = l.WithDefaults()
	out := []RLimit{
		same(unix.RLIMIT_CPU, cpuSeconds(l.CPU)),
		same(unix.RLIMIT_FSIZE, bytes(l.Output)),
		same(unix.RLIMIT_STACK, bytes(l.Stack)),
		same(unix.RLIMIT_NOFILE, count(l.OpenFiles)),
		same(unix.RLIMIT_CORE, 0),
		same(unix.RLIMIT_MEMLOCK, memlockBytes),
		same(unix.RLIMIT_MSGQUEUE, msgqueueBytes),
	}
	switch {
	case l.AddressSpace != 0:
		out = append(out, same(unix.RLIMIT_AS, bytes(l.AddressSpace)))
	case !cgroups:
		out = append(out, same(unix.RLIMIT_AS, bytes(l.Memory)))
	}
	if !cgroups {
		out = append(out, same(unix.RLIMIT_NPROC, count(l.Procs)))
	}
	return out
}

// same makes soft and hard equal: the program may lower its limits but never
// raise them again (R11).
func same(resource int, v uint64) RLimit {
	return RLimit{Resource: resource, Limit: unix.Rlimit{Cur: v, Max: v}}
}

func cpuSeconds(d time.Duration) uint64 {
	if d < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64((d + time.Second - 1) / time.Second)
}

func bytes(n int64) uint64 {
	if n < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64(n)
}

func count(n int) uint64 {
	if n < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64(n)
}
