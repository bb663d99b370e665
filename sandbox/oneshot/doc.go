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
// As host root on amd64 the box starts with vfork (CLONE_VM|CLONE_VFORK):
// its child borrows the supervisor's memory instead of copying its page
// tables and needs no round trip with it. Its user namespace (mapping the
// box's ids to the run's host ids) and a network namespace inside it come
// prepared from a small stock, each serving exactly one run; the child
// copies the supervisor's mount namespace, builds the box's tree there as
// host root (giving /w to the box's host ids), then enters the prepared
// network and user namespaces. The box's pid 1 is a separate tiny process
// beside the program (forkexec.Runner.ReaperApart), so the supervisor waits
// for the program itself; it is killed and reaped when the program ends.
// Elsewhere the child is cloned into new user and mount namespaces and
// waits for the id maps.
//
// When many runs should share warm boxes, use sandbox/container instead;
// this package pays the whole set-up on every run.
package oneshot
