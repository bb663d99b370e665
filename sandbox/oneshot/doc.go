// Package oneshot runs each program in a box made for it alone: a fresh
// child in new user, mount, pid, network, IPC, UTS and cgroup namespaces,
// with its own mount tree (read-only system, a tmpfs work directory at /w),
// a cgroup per run, rlimits, a seccomp filter, no capabilities and an
// unprivileged uid of its own on the host (sandbox/hostid), with a tiny
// reaper as the namespace's pid 1 so that the program gets no pid-1 signal
// immunity. A supervisor enforces the CPU and wall limits, reaps the box,
// reads the accounting and tears everything down, so nothing of a run stays
// on the host.
//
// Runner implements sandbox.Runner and is safe for concurrent use. Without
// root (or without usable cgroups) it still isolates with namespaces but
// caps memory and processes with rlimits only and reports rusage figures
// (Result.Accounting "rusage").
//
// Start path: what does not depend on the run is made ahead, in the
// background, and never shared between runs: a small stock of fresh cgroups
// (cgroup.Manager.KeepStock) and of empty network namespaces (loopback up,
// owned by a user namespace of their own, so no host device event reaches
// them), each handed to one box only. On cgroup v2 the child is born in the
// box's cgroup (CLONE_INTO_CGROUP); on v1 it writes itself into the box's
// groups first thing, and no supervisor thread ever enters them. After the
// result, the box's cgroup is removed and its mount namespace torn down in the
// background. Call Runner.Close when done with a Runner: it removes the stock
// and waits for that background work. Cgroups of supervisors that were killed
// (named oneshot-PID-...) are removed by the first Runner of the next process
// (cgroup.RemoveStale), as are their work directories.
//
// When many runs should share warm boxes, use sandbox/container instead;
// this package pays the whole set-up on every run.
package oneshot
