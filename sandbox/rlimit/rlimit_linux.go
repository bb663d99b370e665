package rlimit

// The rlimits of a box's Limits, and the raise of this process's hard limits they need.

import (
	"fmt"
	"sync"
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
	// sigpendingCount bounds the signals queued to the box at once: plenty
	// for any program, and charged to the box's own host id (H1).
	sigpendingCount = 1024
	// coreBytes is 1, not 0: a pipe core_pattern (systemd-coredump, apport)
	// ignores a zero RLIMIT_CORE but skips a process whose limit is 1, and
	// a core file needs at least a page, so no core is written either way
	// (H2).
	coreBytes = 1
)

// FromLimits returns the rlimits that back l in the child. Zero fields of l
// take sandbox.DefaultLimits; a negative value means unlimited.
//
// With cgroups the box-wide memory and process caps belong to the cgroup, so
// RLIMIT_AS is set only when l.AddressSpace asks for it and RLIMIT_NPROC is not
// set at all (it counts every process of the uid, not of the box). Without
// cgroups RLIMIT_DATA (per process) and RLIMIT_NPROC are the only memory and
// process caps there are.
//
// RLIMIT_CPU is a per-process backstop in whole seconds, one second above the
// limit rounded up: the supervisor kills the box at the exact total of all its
// processes, and the kernel's tick-based CPU clock must not get there first
// (a backstop at the limit itself fires a little early and reads as a plain
// signal instead of cpu-limit).
func FromLimits(l sandbox.Limits, cgroups bool) []RLimit {
	l = l.WithDefaults()
	out := []RLimit{
		same(unix.RLIMIT_CPU, cpuSeconds(l.CPU, CPUBackstopMargin)),
		same(unix.RLIMIT_FSIZE, bytes(l.Output)),
		same(unix.RLIMIT_STACK, bytes(l.Stack)),
		same(unix.RLIMIT_NOFILE, count(l.OpenFiles)),
		same(unix.RLIMIT_CORE, coreBytes),
		same(unix.RLIMIT_MEMLOCK, memlockBytes),
		same(unix.RLIMIT_MSGQUEUE, msgqueueBytes),
		same(unix.RLIMIT_SIGPENDING, sigpendingCount),
	}
	if l.AddressSpace != 0 {
		out = append(out, same(unix.RLIMIT_AS, bytes(l.AddressSpace)))
	}
	if !cgroups {
		// RLIMIT_DATA, not RLIMIT_AS: runtimes such as Go reserve far more
		// address space than they use (PROT_NONE arenas), which RLIMIT_AS
		// counts and RLIMIT_DATA does not.
		out = append(out,
			same(unix.RLIMIT_DATA, bytes(l.Memory)),
			same(unix.RLIMIT_NPROC, count(l.Procs)))
	}
	return out
}

// same makes soft and hard equal: the program may lower its limits but never
// raise them again (R11).
func same(resource int, v uint64) RLimit {
	return RLimit{Resource: resource, Limit: unix.Rlimit{Cur: v, Max: v}}
}

// CPUBackstopMargin is how far RLIMIT_CPU sits above the CPU limit.
const CPUBackstopMargin = time.Second

func cpuSeconds(d, margin time.Duration) uint64 {
	if d < 0 {
		return unix.RLIM_INFINITY
	}
	return uint64((d + margin + time.Second - 1) / time.Second)
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

var raiseMu sync.Mutex

// RaiseHardLimits lifts this process's hard limits to what rl asks of its
// children, where they are lower: a child cannot raise a hard limit itself
// once it is in the box's user namespace, and a supervisor started with a
// low one (`sudo` gives RLIMIT_CORE 0:0) would otherwise fail every run. Only
// hard limits move (soft ones stay), and only up. It needs CAP_SYS_RESOURCE;
// without it RLIMIT_CORE in rl is lowered to this process's hard limit (0
// writes no core file either; only a pipe core_pattern would still take a
// dump), and any other limit that cannot be lifted is an error naming it.
func RaiseHardLimits(rl []RLimit) error {
	// The limits are the process's: concurrent runs must not lower what
	// another just raised (each reads afresh under the lock, and only raises).
	raiseMu.Lock()
	defer raiseMu.Unlock()
	for i, r := range rl {
		var have unix.Rlimit
		if err := unix.Getrlimit(r.Resource, &have); err != nil {
			return fmt.Errorf("rlimit: read limit %d: %w", r.Resource, err)
		}
		if have.Max == unix.RLIM_INFINITY || (r.Limit.Max != unix.RLIM_INFINITY && have.Max >= r.Limit.Max) {
			continue
		}
		lifted := unix.Rlimit{Cur: have.Cur, Max: r.Limit.Max}
		if err := unix.Setrlimit(r.Resource, &lifted); err != nil {
			if r.Resource == unix.RLIMIT_CORE {
				rl[i].Limit = unix.Rlimit{Cur: have.Max, Max: have.Max}
				continue
			}
			return fmt.Errorf("rlimit: the box asks for %d of limit %d, above this process's hard limit %d, which cannot be raised: %w",
				r.Limit.Max, r.Resource, have.Max, err)
		}
	}
	return nil
}
