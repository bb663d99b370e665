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
// (Files become 0..n-1, the rest is closed); the mount plan; pivot_root and
// the read-only root; hostname; chdir; signal dispositions reset; rlimits;
// no_new_privs; bounding set dropped, groups, gid and uid switched, the other
// capability sets cleared; parent-death signal again (a uid change clears
// it); with a Reaper, the program vforked off (the child stays as the pid
// namespace's pid 1 and execs a tiny static reaper); seccomp; execve (or
// execveat of a descriptor). A LoopbackUp child raises lo right after
// setsid. OwnerUID makes the child's user namespace owned by a host id of
// its own (see AsOwner), and NewNetNS makes network namespaces ahead of
// time that the host's device events do not reach. With a user namespace
// or a SyncFunc the child also waits once for the parent, which writes the
// id maps and runs SyncFunc to place the child in its cgroup: before setsid
// without a mount plan, else after the mount steps that need no id map.
// Without that round trip (CgroupProcs instead of SyncFunc) the child may be
// started with vfork (Runner.Vfork).
//
// A Slot child (sandbox/slots) makes no user, mount or network namespace of
// its own: right after its cgroup join it enters namespaces held by
// descriptors (mount, copied; network; user last) and mounts the run's own
// file systems; it needs no round trip, so it starts with vfork even with a
// Reaper. NewUserNS and NewNetNSIn make such namespaces ahead of time. A
// Slot with a Mount plan keeps no mount namespace: the child copies the
// caller's and builds the plan's tree there before it enters the user
// namespace. Slot.Held has the child leave the caller descriptors of the
// run's mount namespace and /w (it shares the caller's descriptor table
// until then). With ReaperApart the box's pid 1 is not the program's parent
// but a second child of the caller, cloned first onto a tiny idle reaper
// program, and the program is the caller's own child. Slot.IPCNS gives the
// child an IPC namespace made ahead (NewRunNamespacesAhead) to enter instead
// of a new one from its clone; with Slot.MountMadeAhead, MountNS is the
// run's own mount copy, made ahead (NewRunNamespacesAhead), which the
// child enters without copying it.
//
// A vfork start keeps its cost off the child's path where the kernel can:
// clone3 with CLONE_CLEAR_SIGHAND sets the runtime's signal handlers to
// their defaults (the child still resets the few signals that may be
// ignored), and the starting thread is pinned to its CPU for the clone, so
// that the child runs on the CPU its parent leaves idle instead of queueing
// on another; the child puts the CPUs back first thing.
//
// A failure in the child reaches the parent as (step, index, errno) over a
// close-on-exec pipe, and Runner.Start returns it as a *ChildError; EOF on
// that pipe means the exec succeeded (for a vfork child, unless it died
// before its exec: *DiedBeforeExec).
//
// Use os/exec for ordinary child processes; this package exists for the
// sandbox's start path. The caller reaps the child (wait4).
package forkexec
