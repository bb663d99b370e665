// Package forkexec starts one child process, optionally in new namespaces,
// and prepares it for an untrusted program. It holds the only code of
// gosandbox that runs between fork and exec; that code makes raw system calls
// only and allocates nothing (the approach of Go's syscall/exec_linux.go),
// so everything it needs is computed before the fork: argv, envp and PATH
// candidates as byte pointers, the compiled mount plan, rlimits, the seccomp
// program.
//
// The child's steps, in order: parent-death signal; joining the cgroups of
// CgroupProcs (and a cgroup namespace rooted there); setsid; descriptors
// (Files become 0..n-1, the rest is closed); the mount plan (the steps that
// need no id map run while the parent writes the maps, then the one sync
// round trip, in which the parent also runs SyncFunc to place the child in
// its cgroup); pivot_root and the read-only root; hostname; chdir; rlimits;
// no_new_privs; bounding set dropped, groups, gid and uid switched, the other
// capability sets cleared; parent-death signal again (a uid change clears
// it); seccomp; execve (or execveat of a descriptor).
//
// A failure in the child reaches the parent as (step, index, errno) over a
// close-on-exec pipe, and Runner.Start returns it as a *ChildError; EOF on
// that pipe means the exec succeeded.
//
// Use os/exec for ordinary child processes; this package exists for the
// sandbox's start path. The caller reaps the child (wait4).
package forkexec
