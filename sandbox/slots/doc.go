// Package slots runs specs in zero-process slots: a fixed number of boxes
// built ahead, each held only by descriptors of its namespaces, with no
// process in it while idle.
//
// A slot is a user namespace (its own host ids, from sandbox/hostid, never
// shared with another slot or box), a mount namespace holding the box's
// read-only tree (sandbox/mount's slot plan, applied once), and a stock of
// run namespaces made ahead: a network namespace with its loopback up
// (inside the slot's user namespace), an IPC namespace and, once the slot
// has its mount namespace, a private copy of it with nothing mounted in it
// yet; a run that takes the last set refills the stock while its program
// runs, and each set serves one run. Each run takes the slot, and its
// child (the raw-syscall child of sandbox/forkexec, started with
// CLONE_VM|CLONE_VFORK, so no page tables are copied) is cloned into
// fresh pid and UTS namespaces, joins the run's cgroup and IPC namespace,
// enters its mount copy (or copies the slot's mount namespace itself when
// the stock had none, or one made of an earlier layout) and mounts a
// fresh /proc, /tmp (also /dev/shm) and /w there (after the run before it
// ended: a tmpfs's birth time would tell when the stock was refilled),
// joins the run's network namespace and then the slot's user namespace,
// and takes the same box
// settings as the one-shot runner (sandbox/boxcfg): box uid and gid,
// no_new_privs, no capabilities, rlimits, seccomp. The box's pid 1 is a tiny
// reaper beside the program, a second child of the supervisor made first
// (forkexec.Runner.ReaperApart), so the program's end reaches the
// supervisor directly; pid 1 is killed then and reaped by the program's
// waiter while the result is made (Run returns once it is gone). Nothing of
// a run outlives it but the read-only tree: its processes die with its pid
// namespace, its mounts with its mount copy, its sockets with its network
// namespace.
//
// The runner's background work (stock refills, teardowns of earlier runs)
// starts while a program runs when runs keep coming (another one runs, or
// the last one ended a moment ago), so that it does not hold up the next
// start; a run that finds the runner idle leaves its program alone and
// starts that work once its result is made.
//
// A warm Runner (Options.Warm) keeps two sets of run namespaces per slot,
// topped up while the slot is idle, and the next run's pid 1 started ahead:
// faster runs that arrive apart, for a sleeping process and about 0.2 MiB
// more kernel memory per idle slot.
//
// Choose it for many short runs where the one-shot runner's start costs too
// much and pooled containers' idle memory and shared namespaces are not
// wanted. A slot whose namespaces went bad is rebuilt, and the run that
// found it so is started again on the new one. Runs with different binds
// rebuild the slot's mount namespace (milliseconds), so a workload that
// binds the same paths every time keeps its slots warm. A program group
// (sandbox/group) takes its slots at once with Runner.Reserve, and one
// larger than Size gets slots built for it alone.
package slots
