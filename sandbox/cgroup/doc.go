// Package cgroup creates, limits, accounts and removes the control group of
// each sandboxed run, on cgroup v1 and v2 alike, chosen at run time.
//
// A Manager owns a root group named "gosandbox"; each run gets a Group below
// it with a memory cap (swap never allowed), a process cap and optionally a
// CPU set. The supervisor adds the box's first process right after fork (or,
// on v2, starts it inside with clone3 CLONE_INTO_CGROUP and Group.FD), polls
// Group.CPU to enforce the CPU limit across all threads and children, and
// reads Group.Usage at the end: CPU time, peak memory, whether the kernel's
// OOM killer acted (the run is then memory-limit, R5), and peak process
// count. Group.Remove kills whatever is left and deletes the group; pooled
// boxes call Group.Reset between runs instead (U4, U5).
//
// Placement:
//
//   - v1 (also hybrid hosts, whose cgroup2 mount holds no memory controller):
//     the root is made in each hierarchy we use (memory, pids, cpuacct;
//     cpuset only for groups that ask for a CPU set) inside this process's
//     own cgroup when it is writable, so limits on the supervisor also bound
//     its boxes, else at the top of the hierarchy.
//   - v2: the root is /sys/fs/cgroup/gosandbox (the top of the unified
//     mount), because a cgroup holding processes, such as our own, may not
//     pass controllers to children. memory, pids, cpu and cpuset are enabled
//     in the subtree_control of the top and of our root. Inside a container
//     whose cgroup namespace root holds processes this fails, and New
//     returns ErrUnavailable.
//
// Figures by version:
//
//	              v1                          v2
//	memory cap    memory.limit_in_bytes and   memory.max, memory.swap.max=0,
//	              memory.memsw.limit_in_bytes memory.oom.group=1
//	socket memory memory.kmem.tcp.limit_in_  part of memory.current (always charged)
//	              bytes = the memory cap; its
//	              max_usage added to the peak
//	peak memory   memory.max_usage_in_bytes   memory.peak (5.19+); else sampled memory.current
//	              (+ kmem.tcp.max_usage)
//	OOM kill      memory.oom_control oom_kill memory.events oom_kill
//	CPU           cpuacct.usage               cpu.stat usage_usec
//	processes     pids.max, pids.peak if any  pids.max, pids.peak if any
//	kill all      SIGKILL loop on cgroup.procs cgroup.kill (5.14+); else freeze+kill
//
// Sampled peak: where v2 keeps no peak valid for the run (no memory.peak
// before 5.19; after a Reset before 6.12, where memory.peak cannot be reset
// and would carry earlier runs), each Group.CPU poll also reads
// memory.current and the group keeps the highest value since creation or
// Reset; Usage reports it (or memory.current, if higher) with PeakSource
// PeakSampled. The figure is a lower bound: a peak shorter than the poll
// period can be missed. The usage at the end alone would not do, since the
// program has freed its memory by then; rusage maxrss would not either, as a
// vfork child's counts its parent's memory.
//
// Socket buffers (v1): the kernel charges a group's TCP and UDP socket
// buffers to it only once its memory.kmem.tcp.limit_in_bytes was written,
// and to a counter of their own beside memory.usage_in_bytes. Create
// writes it (the memory limit) before any process joins; past it the
// kernel still lets each TCP socket take one packet. Without the file
// (Manager.SocketMemory: ErrSocketMemory) socket buffers go uncounted, as
// they do on v1 and v2 alike under cgroup.memory=nosocket on the kernel
// command line, though every file is there (SocketMemory reads
// /proc/cmdline for it).
//
// Reset for reuse: v1 writes 0 to memory.max_usage_in_bytes,
// memory.kmem.tcp.max_usage_in_bytes and cpuacct.usage; v2 resets memory.peak through the descriptor the group keeps
// open (6.12+) and otherwise falls back to the sampled peak, which Reset
// clears; CPU (v2) and OOM kill counts are baselined; pids.peak cannot be
// reset, so ProcsPeak is 0 (unknown) after a Reset.
//
// All methods are safe for concurrent use. Group names are unique: Create of
// an existing name fails with ErrExist rather than sharing a group. Remove
// retries rmdir while the kernel drains the group (bounded, then an error).
// Manager.Close removes the root directories once no group is left.
//
// Start path helpers: Manager.KeepStock keeps a few fresh groups made ahead
// in the background for the limits last asked for, and Group.RemoveLater
// removes a finished group in the background (Manager.Close empties the
// stock and waits for those removals). Stocked groups are new, never reused,
// so their counters are exact for the run. Group.EnterThread (v1) moves the
// calling thread into the group for a clone, so the child is born there.
// RemoveStale removes, host-wide, the empty groups named WORD-PID-... whose
// PID is dead: what a killed supervisor left behind.
//
// When not to use it: without root (or a delegated v2 subtree) New returns
// ErrUnavailable; use rlimits (package rlimit) and rusage then. This package
// does not put the calling process into any group and does not manage the
// cgroup namespace or the read-only cgroupfs view inside the box (F11).
package cgroup
