// Package boxcfg assembles, in one place, the settings a box's program
// starts with in every runner that starts it through sandbox/forkexec (the
// one-shot runner and zero-process slots): the program, its environment
// and working directory, its descriptors, the box user and group with no
// supplementary groups, no_new_privs and every capability dropped, the
// parent-death signal, rlimits, the seccomp policy, the reaper as the pid
// namespace's first process, and the defaults (work directory, hostname,
// syscall mode). A runner adds only how the box is made: namespaces, mount
// tree, cgroup entry. Two runners that built these separately would drift
// apart; with one assembly they accept and run the same specs the same way.
//
// Not for pooled containers' inits, which set up their programs from
// inside the container with their own code (sandbox/container).
package boxcfg
