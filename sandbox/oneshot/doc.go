// Package oneshot runs each program in a box made for it alone: a fresh
// child in new user, mount, pid, network, IPC, UTS and cgroup namespaces,
// with its own mount tree (read-only system, a tmpfs work directory at /w),
// a cgroup per run, rlimits, a seccomp filter, no capabilities and an
// unprivileged uid. A supervisor enforces the CPU and wall limits, reaps the
// program, reads the accounting and tears everything down, so nothing of a
// run stays on the host.
//
// Runner implements sandbox.Runner and is safe for concurrent use. Without
// root (or without usable cgroups) it still isolates with namespaces but
// caps memory and processes with rlimits only and reports rusage figures
// (Result.Accounting "rusage").
//
// Start path: what does not depend on the run is made ahead, in the
// background, and never shared between runs: a small stock of fresh cgroups
// (cgroup.Manager.KeepStock) and of empty network namespaces, each handed
// to one box only. On cgroup v1 the starting thread steps into the box's
// groups for the clone (cgroup.Group.EnterThread), so the child is born in
// them as with CLONE_INTO_CGROUP on v2. After the result, the box's cgroup
// is removed and its mount namespace torn down in the background. Call
// Runner.Close when done with a Runner: it removes the stock and waits for
// that background work. Cgroups of supervisors that were killed (named
// oneshot-PID-...) are removed by the first Runner of the next process
// (cgroup.RemoveStale), as are their work directories.
//
// When many runs should share warm boxes, use sandbox/container instead;
// this package pays the whole set-up on every run.
package oneshot
