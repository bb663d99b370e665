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
// When many runs should share warm boxes, use sandbox/container instead;
// this package pays the whole set-up on every run.
package oneshot
