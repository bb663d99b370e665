// Package boxcfg assembles, in one place, the settings a box's program
// starts with in every runner (all start it through sandbox/forkexec;
// Child assembles the whole set for the one-shot runner and zero-process
// slots, pooled containers take its parts, below): the program, its environment
// and working directory, its descriptors, the box user and group with no
// supplementary groups, no_new_privs and every capability dropped, the
// parent-death signal, rlimits, the seccomp policy, the reaper as the pid
// namespace's first process, and the defaults (work directory, hostname,
// syscall mode), and the ways a program enters its cgroup (CgroupEntry:
// born in it, joins itself, the host moves it; CgroupWay.Set makes them the
// child's steps). A runner adds only how the box is made: namespaces, mount
// tree, and which entry its host and cgroup mode allow. Two runners that built these separately would drift
// apart; with one assembly they accept and run the same specs the same way.
//
// Pooled containers (sandbox/container) take the parts rather than Child:
// their host fills in the defaults (Dir, Hostname, SyscallMode) and the
// rlimits (RLimits) of the exec request it sends, and their init, which
// starts the program, applies Confine. Child does not fit them whole: the
// init receives a request, not a Spec; the rlimits must be worked out (and
// this process's hard limits raised) by the root host, not by the
// unprivileged init; the init compiles each seccomp policy once, not per
// run; and its programs have no reaper (the init is the pid namespace's
// first process and no box process), so no room is made for one.
package boxcfg
