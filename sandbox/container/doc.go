// Package container runs untrusted programs in pooled containers: a few
// containers are built ahead of time, each a small init process already
// inside its own namespaces and mount tree, and every run borrows one,
// runs one program in it and gives it back to be reset and reused. Runs
// skip the namespace and mount set-up that the one-shot runner
// (sandbox/oneshot) pays every time, and see the same sandbox: the same
// mount plan (sandbox/mount), child set-up (sandbox/forkexec), rlimits,
// seccomp policy, cgroup limits and verdict rules (sandbox/verdict).
//
// Use Pool (a sandbox.Runner) for many runs; use sandbox/oneshot for a few,
// or when runs must not share a kernel namespace at all over time.
//
// # The init, and programs that embed this package
//
// A container's init is the program that uses this package, re-executed
// (/proc/self/exe, or Builder.InitPath) with a marker argument in new user,
// mount, pid, net, ipc, uts and cgroup namespaces. MaybeRunInit recognises
// the marker, runs the init and never returns; in every other process it
// returns at once. So every program that builds containers must call it
// before anything else:
//
//	func main() {
//		container.MaybeRunInit() // first: this process may be a container's init
//		...
//	}
//
// and a test binary that builds containers from itself does the same in
// TestMain:
//
//	func TestMain(m *testing.M) {
//		container.MaybeRunInit()
//		os.Exit(m.Run())
//	}
//
// In a program that forgets it, the copy started as the init does not
// answer: Build kills it when BuildTimeout passes and says why.
//
// Containers need a root supervisor (Build returns ErrNeedsRoot otherwise):
// only root can map the box id to an id of its own while the init keeps
// another. The init runs as an unmapped host uid (the host's root) with a few
// capabilities of its container's user namespace only (CAP_SYS_ADMIN, SETUID,
// SETGID, SETPCAP, KILL, DAC_OVERRIDE, FOWNER, CHOWN, NET_ADMIN): it owns
// nothing the box owns, so a box process can neither signal nor trace it. It
// builds the root with the default mount plan, the host-side work directory
// (sandbox/workdir, a tmpfs owned by the box id) bound at /w, and pivots into
// it. The plan's skeleton directory (mount points and host /etc snapshots,
// sandbox/mount) is made by the host, which may create it; should the init's
// snapshot differ from the host's (a package install changed /etc meanwhile),
// a fresh copy of the program run as root makes the missing skeleton and the
// build is tried once more. Programs run as uid/gid 1000, with no
// capabilities, NO_NEW_PRIVS, the seccomp policy and the rlimits of their
// Limits, each in a fresh IPC, UTS and network namespace (so SysV IPC objects,
// POSIX message queues, the hostname and the network counters of one run never
// reach the next; the network namespace, loopback up, is made by the init
// ahead, during or after the run before; the IPC namespace is made by the
// init with the network namespace, entered by the thread that starts the
// program and kept, so that the SysV objects a run leaves are
// removed, and their memory uncharged, as soon as it is over instead of
// whenever the kernel frees the namespace), and on cgroup hosts in the container's cgroup, whose limits are set
// and counters reset for each run. The init itself stays out of that cgroup,
// so a run's figures never include it.
//
// # Host and init
//
// Host and init talk over a SOCK_SEQPACKET socket pair (the init's end is
// its descriptor 3) in a small binary protocol of their own: conf builds
// the root (once, first), exec runs a program with its descriptors passed
// as SCM_RIGHTS (the init gives them to the child as 0, 1, 2, ...), kill
// ends it and everything else in the box, reset wipes what a run left, ping
// checks that the init is alive and in step. The protocol is internal to
// this package (sandbox/container/internal/protocol, whose decoders have
// fuzz targets) and written out, field by field, in docs/protocol.md.
//
// With cgroups, the program enters the container's cgroup while the init
// never does, so the init's memory, CPU and process count stay out of the
// run's figures (and a Procs limit of 1 leaves room for exactly the
// program). The conf normally carries the cgroup.procs files of the
// container's group in each hierarchy, opened by the host (as root, which
// is what the kernel checks when they are written); the child (started
// with vfork: the init's thread waits until the exec) writes "0" into each
// as its very first step, joining the group itself, then roots a cgroup
// namespace there, and the init tells the host the program's pid (as
// SCM_CREDENTIALS, which the kernel translates into the host's pid
// namespace). Should the group gain a hierarchy the files do not cover (a
// CPU set asked for after the build), or the files not open, a round trip
// lets the host move the child instead: the child waits before its exec while the init
// sends its pid, the host writes that pid into the group and tells the
// init to go on (a refusal aborts the child). The init reports the
// program's end only once the program has been reaped and every other
// process of the container killed (kill(-1, SIGKILL) from the pid 1 of the
// container's pid namespace, which reaches nothing else) and reaped (U1).
//
// Both sides check every message: magic, version, kind, flags, lengths,
// descriptor counts, sequence numbers, what may come in the current state,
// and every field. Anything unexpected, malformed or oversize ends that
// container: the init exits (and with it, as pid 1, everything in the
// container) and the host marks it broken, destroys it and builds a
// replacement. Every wait of the host is bounded (Builder.ReplyTimeout,
// BuildTimeout, the run's wall limit plus a grace), so a stopped or stuck
// init costs one run an internal-error, never a hang (B6).
//
// reset happens in the background after each run, and most of it earlier
// still, off the path of a run that waits for it. A pooled run after which
// the host reads nothing of /w (no copy-out) asks the init to reset by
// itself right after exited (Exec.ResetAfter): the init looks in /w for a
// file at the output limit before its wipe, as it does in /tmp, and its
// answer comes unasked, so the request's trip is off that path too; the
// host's part below still waits for it. The next run's network
// namespace (its own loopback up, so no counter of /proc/net carries over;
// making it takes the kernel's rtnl lock and ~0.8 ms) is made, when the
// exec came within 2 ms of the last reset (the host waited for it, as in a
// batch), while the program runs, once the child has entered the namespace
// made for it; otherwise once the run is over (beside a program it slowed
// spaced runs by 0.05-0.1x the floor for nothing). As soon as the run is over and its
// exited sent, the init mounts a fresh tmpfs at /tmp (/dev/shm is a link
// to it: times, birth time, modes and inode numbers as after the build; the
// unmount waits for an RCU grace period, so one rather than a second for a
// bind at /dev/shm) and checks that no process but itself is
// left (nothing can start one until the next exec), overlapping the host's
// work on the result. The reset itself waits for that work, waits for the
// kernel's collection of unix sockets when the run left some in flight (a
// socket cycle keeps the files it carries open, and their pages charged to
// the cgroup, after every process is gone; an unmount of /tmp that finds it
// busy so waits too; what a few collections leave is held from outside the
// box, by a message in a socket the caller holds, and the reset goes on,
// the old /tmp detached), removes the SysV objects left in the run's IPC
// namespace, wipes /w (removing entries relative to directory descriptors
// opened with O_NOFOLLOW, so a planted symlink is removed and never
// followed), restores its mode, owner and extended attributes, sets its
// times to now and checks that it is empty, and sets the pid counter
// (ns_last_pid) back to its value after the build, so the next program and
// its children get the pid numbers of a fresh container (U7; the init
// starts all the threads it needs at build time, and a reset that finds one
// started since fails). Once the init has answered (not before: the files
// the run left are charged to the cgroup until they are gone, and a peak
// reset then would start the next run at their size), the host has the
// kernel reclaim the memory still charged to the cgroup (page cache of
// files the run read: the v1 limit lowered to 0 and back, memory.reclaim on
// v2) once it reaches cgroup.ReclaimMin (1 MiB; a small run leaves some
// 300 KiB, whose reclaim cost 0.3-0.5 ms), so that the next run's peak
// starts below that (U4), and resets the cgroup's counters and limits. A
// container that fails reset or ping is destroyed, never reused.
//
// What an idle container holds: the init, a Go process re-executed from the
// program that embeds this package, with its runtime, the heap its packages'
// initialisers left (that program's, not only this package's), a few
// threads started at build time, and the pages of the program it touches.
// Once built it forgets the host files the mount plan read and unmaps the
// read-only program pages start-up touched; 250 ms after a reset with no
// command it gives back the heap its runs left free and unmaps the program
// pages again (a run after that maps back what it needs).
//
// A program whose start ended before its exec without a report (a memory
// limit too small for the set-up: the child joins its cgroup first thing)
// did not run: the init tells it by the child's name and memory (the exec
// renames the child before it closes the error pipe; an exit closes it
// with the init's name on and no memory left) and reports exec-failed; the
// host makes that memory-limit when the cgroup reached its limit (B7).
//
// A container is built for a Shape (extra binds, tmpfs size) and keeps it;
// the Pool swaps an idle container for one of the right shape when a run
// needs another. A run whose container turns out to be dead before its
// program could have started (an init that died while idle, not yet
// noticed) moves to another container instead of failing. Without the
// round trip, the host knows so when its send failed, or when the socket
// reports ECONNRESET before started and no kill was sent: the kernel says
// that when the init's end closed with data unread, which can only be the
// exec.
//
// Costs, per run on a warm pool with cgroup v1: one round trip on the
// socket (exec, then started and exited), one vfork of the small init, one
// cgroup write per hierarchy by the child, its set-up (the seccomp install
// is the dearest step) and the program's exec; the reset (one round trip, a tmpfs mounted
// afresh, a directory wipe, a cgroup counter reset and, past 1 MiB, a
// reclaim) runs after the result is returned. The
// wall time of a run starts when the host sends exec, so it includes the
// program's set-up (a few hundred microseconds).
package container
