package forkexec

// Runner and Start: the parent side of clone, id maps, the child's report, errors.

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/rlimit"
)

// IDMap is one line of a uid_map or gid_map: Size ids starting at Inside in
// the child's user namespace are Outside..Outside+Size-1 on the host.
type IDMap struct {
	Inside, Outside, Size int
}

// Runner describes one child. Start may be called many times, also
// concurrently, as long as the Runner is not modified meanwhile.
type Runner struct {
	// Args is argv. Args[0] with a slash is executed as is (relative to
	// Dir); otherwise each Path entry is tried in order, like execvp.
	Args []string
	// Env is the whole environment of the program.
	Env []string
	// Path holds the directories searched for a bare Args[0]; nil takes the
	// PATH of Env, or sandbox.DefaultPath.
	Path []string
	// ExecFD > 0 executes that descriptor (a memfd holding an ELF program)
	// with execveat(AT_EMPTY_PATH) instead of Args[0]. It is closed on exec,
	// so it cannot hold a #! script.
	ExecFD int
	// Dir is the working directory of the program, inside the new root when
	// Mount is set; "" stays where the child is.
	Dir string
	// Files are host descriptors that become 0, 1, 2... in the child; -1
	// leaves that number closed. Every other descriptor is closed.
	Files []int
	// RLimits are applied by the child to itself (prlimit64).
	RLimits []rlimit.RLimit
	// Seccomp is installed last, right before exec; nil installs none. The
	// filter must allow execve/execveat. Without NoNewPrivs it needs
	// CAP_SYS_ADMIN, which DropCaps takes away.
	Seccomp *unix.SockFprog
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS; DropCaps empties the effective,
	// permitted, inheritable, bounding and ambient capability sets.
	NoNewPrivs, DropCaps bool
	// CloneFlags are CLONE_NEW* flags; 0 starts the child in the caller's
	// namespaces.
	CloneFlags uintptr
	// UIDMap and GIDMap are written by the parent when CLONE_NEWUSER is set.
	UIDMap, GIDMap []IDMap
	// DenySetgroups writes "deny" to /proc/PID/setgroups before gid_map (the
	// only way an unprivileged parent may write gid_map); the child then
	// skips setgroups(0).
	DenySetgroups bool
	// OwnerUID and OwnerGID, when OwnerUID > 0 and CLONE_NEWUSER is set,
	// own the child's user namespace instead of the caller (see AsOwner):
	// the per-user kernel counters of everything in the box are charged to
	// them. Map them in UIDMap/GIDMap: they are the box's identity on the
	// host.
	OwnerUID, OwnerGID int
	// UID and GID are the credentials the program runs with (setresgid,
	// setgroups(0) unless denied, setresuid); -1 keeps the current ones.
	// Note that the zero value means uid 0.
	UID, GID int
	// Mount, when set, builds the plan's tree and pivots into it (needs
	// CLONE_NEWNS, and CLONE_NEWPID for its /proc to show only the box).
	Mount *mount.Plan
	// Hostname is set with sethostname when CLONE_NEWUTS is set.
	Hostname string
	// SyncFunc runs in the parent once the id maps are written, while the
	// child waits; the child goes on only when it returns nil. Join the
	// child to its cgroup here.
	SyncFunc func(pid int) error
	// CgroupFD > 0 starts the child directly in that cgroup v2 directory
	// (clone3 with CLONE_INTO_CGROUP). When the kernel lacks clone3 the
	// child is started normally and SyncFunc must place it.
	CgroupFD int
	// UnshareCgroupAfterSync makes the child enter a new cgroup namespace
	// after SyncFunc (or CgroupProcs) moved it, so that its cgroup is the
	// namespace's root.
	UnshareCgroupAfterSync bool
	// CgroupProcs are open cgroup.procs files (cgroup v1: one per
	// hierarchy) that the child writes "0" into as its first step, joining
	// those groups itself: no round trip with the parent, so Vfork applies.
	// The files' opener must have been allowed to move the child (root).
	// Its memory is charged to the group from its exec on.
	CgroupProcs []int
	// Pdeathsig is sent to the child when the thread that started it dies
	// (B4). Go may end a thread whose goroutine locked it, so callers that
	// use LockOSThread must keep that thread alive while the child runs.
	Pdeathsig syscall.Signal
	// Vfork starts the child with CLONE_VM|CLONE_VFORK: it borrows the
	// caller's memory until its exec instead of copying the page tables, so
	// a start costs little even from a large process. Only for children
	// that need no sync step: ignored when CloneFlags holds other than
	// CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET and CLONE_NEWCGROUP, when
	// SyncFunc, CgroupFD or Mount is set, when UnshareCgroupAfterSync is set
	// without CgroupProcs, and on architectures other than amd64.
	Vfork bool
	// NetNSFD > 0 starts the child in that network namespace (an open
	// /proc/PID/ns/net) instead of its current one: the starting thread
	// enters it just for the clone and returns to the process's own right
	// after. With CLONE_NEWUSER the child then has no capability over it
	// (its owner is the caller's user namespace), which for a box is the
	// point. It must not be combined with CLONE_NEWNET. A namespace made
	// ahead of time takes its creation, the costliest part of a
	// CLONE_NEWNET start, off the start.
	NetNSFD int
	// HomeNetNSFD, with NetNSFD, is a descriptor of the network namespace
	// the starting thread is in (the process's), to return to after the
	// clone; 0 opens /proc/thread-self/ns/net for each start. A caller
	// that starts many children and keeps one open spares each start an
	// open and a close.
	HomeNetNSFD int
	// CloneHook, when set, runs on the thread that clones the child, right
	// before the clone, with that thread locked to its goroutine; the
	// function it returns runs on that thread right after the clone. A child
	// starts in the cgroups of the thread that cloned it, so on cgroup v1
	// (which has no CLONE_INTO_CGROUP) a hook that moves the thread into the
	// box's groups (cgroup.Group.EnterThread) has the child born there, and
	// CLONE_NEWCGROUP can be set at clone time. When the returned function
	// fails the thread stays locked, so that it ends with its goroutine, and
	// the child is killed.
	CloneHook func() (after func() error, err error)
	// BoundingSetDropped says that the thread that clones the child has an
	// empty capability bounding set already (see DropThreadBoundingSet,
	// which a CloneHook can call), and the child, which inherits it, need
	// not drop it again with DropCaps: one prctl per capability, 41 calls
	// of some 5 µs each on a paravirtualised host, off each start. It is
	// ignored for a child that enters a user namespace (CLONE_NEWUSER, a
	// Slot), where the kernel gives it a full set.
	BoundingSetDropped bool

	// LoopbackUp raises lo in the child's new network namespace
	// (CLONE_NEWNET), so programs can use 127.0.0.1 and ::1 (N4).
	LoopbackUp bool
	// Reaper, when set, keeps the child as the pid namespace's first
	// process (pid 1) and runs the program as its child (pid 2), so the
	// program gets no pid-1 signal immunity; the program's wait status is
	// left in Reaper (see Reaped). The pid Start returns is the reaper's:
	// waiting for it, the caller learns that the program ended, and its
	// rusage includes the program's. Needs a fork (not Vfork); the reaper
	// counts as one process of the box.
	Reaper *Reaped
	// ReaperApart, with Reaper, a Slot and CLONE_NEWPID, makes the box's
	// pid 1 a second child of the caller instead of the program's parent:
	// the starting thread unshares a pid namespace for its children, clones
	// pid 1 (sharing the caller's memory only until it executes the idle
	// reaper program, without holding the caller up), then the child, which
	// becomes pid 2 and the program itself, and returns to the process's
	// pid namespace. The pid Start returns is the program's, so the caller
	// learns of its end with no process in between; pid 1 reaps orphans
	// until Reaped.Kill ends it. Pid 1 stays outside the box's cgroup, user
	// and other namespaces, as the caller's user (a process the program
	// cannot signal or trace), and counts in none of the box's limits.
	// See CanReaperApart.
	ReaperApart bool
	// Slot, when set, starts the child in namespaces held by descriptors
	// instead of new user, mount and network namespaces (see Slot).
	Slot *Slot

	trace []int64 // see prepared.trace
	// noReaperProgram (tests) keeps the child as the reaper, as where the
	// reaper program cannot be executed.
	noReaperProgram bool
}

// Slot is what a child enters instead of making its own user, mount and
// network namespaces: namespaces made ahead and held by descriptors, with no
// process in them (sandbox/slots). The child, still host root, drops its
// supplementary groups (inside UserNS it could not), joins MountNS and
// makes a private copy of it, mounts the run's own file systems there
// (Mounts, walked with the working directory at Stash so that their
// relative sources are found there), moves WorkTree onto /w, sets the
// hostname, joins NetNS, and joins UserNS last, where its host root is
// unmapped; the box settings follow as for any child, with UID and GID ids
// of UserNS. Because everything but the last step runs in the caller's user
// namespace, the mount copy, and the pid, IPC and UTS namespaces of the
// clone, belong to it: proc mounts need no anchor inside UserNS, and the
// program (which holds no capability there) cannot change any of them.
//
// With MountNS 0 and Runner.Mount set there is no kept mount namespace:
// the child copies the caller's and builds the plan's tree there, pivots
// into it and gives /w to WorkUID, all as the caller, then joins NetNS and
// UserNS (the plan's id-map steps need no map: nothing waits for the
// parent, so Vfork applies). Stash, Mounts and WorkTree are then unused.
//
// CloneFlags may only hold CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS and
// CLONE_NEWCGROUP; NetNSFD must be unset. With Vfork the child
// borrows the caller's memory until its exec, also with a Reaper (where
// the reaper program can be executed): setns into a user namespace asks
// only for a thread group and file-system information of its own
// (no CLONE_THREAD, no CLONE_FS), not for memory of its own.
type Slot struct {
	// UserNS, MountNS and NetNS are open descriptors of the namespaces
	// (/proc/PID/ns/...). MountNS's root is the box's root.
	UserNS, MountNS, NetNS int
	// Stash is a directory inside MountNS where relative sources of
	// Mounts are found; "" is /.
	Stash string
	// Mounts are the run's own mounts (a plan without root, see
	// mount.Slot), made in the private copy of MountNS, targets inside
	// the box.
	Mounts *mount.Plan
	// IPCNS > 0 is the run's IPC namespace, made ahead (see
	// NewRunNamespacesAhead), which the child enters instead of being cloned
	// into a new one: CloneFlags must then lack CLONE_NEWIPC.
	IPCNS int
	// WorkTree > 0 is a detached mount tree (open_tree with
	// OPEN_TREE_CLONE) that the child moves onto /w after Mounts.
	WorkTree int
	// MountMadeAhead says MountNS is already the run's own private copy of
	// the slot's mount namespace, made for this run alone
	// (NewRunNamespacesAhead): the child enters it and makes no copy; the
	// run's Mounts are made there as in a copy of its own.
	MountMadeAhead bool
	// WorkUID and WorkGID, when WorkUID > 0, own /w once a Mount plan is
	// built (host ids: the plan runs in the caller's user namespace).
	WorkUID, WorkGID int
	// Held, when set, receives descriptors of the run's mount namespace
	// and of its /w (O_PATH), opened by the child once its mounts are
	// made and left in the caller's descriptor table (a vfork child starts
	// sharing it and takes its own right after): the caller holds both
	// before the program can end, so that the namespace's teardown waits
	// for the caller and /w can be looked at after the run. -1 where it
	// could not be done (no vfork start); the caller closes them.
	Held *Held
}

// Held is what Slot.Held receives.
type Held struct {
	MountNS, WorkDir int
}

// ErrNoArgs is returned by Start when Args is empty and no ExecFD is given.
var ErrNoArgs = errors.New("forkexec: no program to run")

// ErrDiedBeforeExec is wrapped by Start's error when a Vfork child ended
// before its exec without a report (killed by the out-of-memory killer, or
// too short of memory to write one): the program never ran. The child is
// reaped; DiedBeforeExec holds how it ended.
var ErrDiedBeforeExec = errors.New("forkexec: the child died before its exec")

// DiedBeforeExec is the error Start returns for ErrDiedBeforeExec.
type DiedBeforeExec struct {
	Status unix.WaitStatus
}

func (e *DiedBeforeExec) Error() string {
	if e.Status.Signaled() {
		return fmt.Sprintf("%v (killed by %v)", ErrDiedBeforeExec, e.Status.Signal())
	}
	return fmt.Sprintf("%v (exit status %d, no report)", ErrDiedBeforeExec, e.Status.ExitStatus())
}

func (e *DiedBeforeExec) Unwrap() error { return ErrDiedBeforeExec }

// Step names a step of the child's setup. Its String is how messages name
// it.
type Step uint32

// The child's steps, in the order it takes them.
const (
	StepUnknown Step = iota
	StepPdeathsig
	StepSync
	StepUnshareCgroup
	StepSetsid
	StepFiles
	StepCloseFiles
	StepMountPrivate
	StepBindRoot
	StepBind
	StepTmpfs
	StepProc
	StepSetAttr
	StepMaskFile
	StepMaskDir
	StepPivotRoot
	StepDetachOldRoot
	StepRootReadOnly
	StepHostname
	StepChdir
	StepSignals
	StepRlimit
	StepNoNewPrivs
	StepDropBounding
	StepSetgroups
	StepSetresgid
	StepSetresuid
	StepCapset
	StepAmbient
	StepSeccomp
	StepExecve
	// StepJoinCgroup (Runner.CgroupProcs) comes right after the
	// parent-death signal; it and the steps after it are numbered last so
	// that the numbers of the others stay as they were.
	StepJoinCgroup
	// StepReaper forks the program off the reaper (Runner.Reaper), right
	// before the seccomp filter.
	StepReaper
	// StepLoopback raises lo (Runner.LoopbackUp), right after setsid.
	StepLoopback
	// The steps of a Slot, right after the cgroup join, in this order.
	StepEnterMount
	StepCopyMount
	StepStash
	StepMoveWork
	StepEnterNet
	StepEnterUser
	// StepChownWork gives /w to the box (Slot.WorkUID) after a Mount plan.
	StepChownWork
	// StepUnshareFiles takes a descriptor table of the child's own after
	// the holds of Slot.Held.
	StepUnshareFiles
	// StepEnterIPC enters the run's IPC namespace (Slot.IPCNS), right
	// before StepEnterNet.
	StepEnterIPC
	// StepAffinity puts back the caller's CPUs (see pinForVfork), first
	// thing.
	StepAffinity
	// StepOpenMount opens the mount namespace made ahead
	// (NewRunNamespacesAhead) in the holder that made it.
	StepOpenMount
	stepCount
)

var stepNames = [stepCount]string{
	StepUnknown:       "unknown step",
	StepPdeathsig:     "set parent-death signal",
	StepSync:          "wait for the parent",
	StepUnshareCgroup: "unshare cgroup namespace",
	StepSetsid:        "setsid",
	StepFiles:         "set up descriptor",
	StepCloseFiles:    "close descriptors",
	StepMountPrivate:  "make mounts private",
	StepBindRoot:      "bind root",
	StepBind:          "bind mount",
	StepTmpfs:         "tmpfs mount",
	StepProc:          "proc mount",
	StepSetAttr:       "remount read-only",
	StepMaskFile:      "mask file",
	StepMaskDir:       "mask directory",
	StepPivotRoot:     "pivot_root",
	StepDetachOldRoot: "detach old root",
	StepRootReadOnly:  "remount root read-only",
	StepHostname:      "sethostname",
	StepChdir:         "chdir",
	StepSignals:       "reset signal dispositions",
	StepRlimit:        "setrlimit",
	StepNoNewPrivs:    "set no_new_privs",
	StepDropBounding:  "drop bounding capabilities",
	StepSetgroups:     "setgroups",
	StepSetresgid:     "setresgid",
	StepSetresuid:     "setresuid",
	StepCapset:        "clear capabilities",
	StepAmbient:       "clear ambient capabilities",
	StepSeccomp:       "install seccomp filter",
	StepExecve:        "execve",
	StepJoinCgroup:    "join cgroup",
	StepReaper:        "fork the program off the reaper",
	StepLoopback:      "bring the loopback up",
	StepEnterMount:    "enter the slot's mount namespace",
	StepCopyMount:     "copy the slot's mount namespace",
	StepStash:         "chdir to the slot's stash",
	StepMoveWork:      "move the work directory onto /w",
	StepEnterNet:      "enter the run's network namespace",
	StepEnterIPC:      "enter the run's IPC namespace",
	StepAffinity:      "restore the CPU affinity",
	StepOpenMount:     "open the mount namespace made ahead",
	StepEnterUser:     "enter the slot's user namespace",
	StepChownWork:     "give /w to the box",
	StepUnshareFiles:  "unshare the descriptor table",
}

func (s Step) String() string {
	if s < stepCount {
		return stepNames[s]
	}
	return "step " + strconv.Itoa(int(s))
}

// isMountStep reports steps whose Index is a step of the mount plan.
func (s Step) isMountStep() bool {
	return s >= StepBind && s <= StepMaskDir
}

// ChildError is a failure of the child before its program started: which
// step failed, its index (the mount plan step, the descriptor, the rlimit),
// and the errno.
type ChildError struct {
	Step  Step
	Index int
	Errno syscall.Errno

	target string // the mount target inside the box, for mount steps
}

func (e *ChildError) Error() string {
	var b strings.Builder
	b.WriteString("forkexec: ")
	b.WriteString(e.Step.String())
	if e.Step.isMountStep() || e.Step == StepFiles || e.Step == StepRlimit || e.Step == StepJoinCgroup {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(e.Index))
	}
	if e.target != "" {
		b.WriteString(" (")
		b.WriteString(e.target)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Errno.Error())
	return b.String()
}

// Unwrap lets errors.Is(err, syscall.ENOENT) look at the errno.
func (e *ChildError) Unwrap() error { return e.Errno }

// ProgramFault reports whether execve itself failed (missing program, bad
// format, argv too long...): the program's fault, not the sandbox's.
func (e *ChildError) ProgramFault() bool { return e.Step == StepExecve }

// errRecord is what the child writes to the error pipe.
type errRecord struct {
	step  uint32
	index uint32
	errno uint32
}

// prepared is everything the child needs, computed before the fork so that
// the child only reads it.
type prepared struct {
	argv0  *byte   // Args[0] when it holds a slash
	search []*byte // candidates for a bare Args[0], in PATH order
	argv   []*byte // NULL-terminated
	envv   []*byte // NULL-terminated
	execFD int
	dir    *byte
	files  []int
	nextFD int // above every descriptor the child juggles
	// closeLoopTo > 0 means the kernel lacks close_range: the child closes
	// every descriptor below it one by one.
	closeLoopTo int
	rlimits     []rlimit.RLimit
	fprog       *unix.SockFprog
	cgroupProcs []int // written "0" into first thing (Runner.CgroupProcs)
	reaper      bool  // Runner.Reaper is set
	// reaperStatus and reaperExe are the status pipe's write end and the
	// reaper program (-1: none), kept open by the child for pid 1.
	reaperStatus, reaperExe int
	loopback                *ifreq // raise lo (Runner.LoopbackUp): the child's own copy
	// apart: Runner.ReaperApart.
	apart     bool
	apartSig  uintptr
	apartPid1 *Reaped

	slot       bool // Runner.Slot is set; its fields follow
	slotUser   int
	slotMount  int
	slotNet    int
	slotIPC    int // 0: none (a new one from the clone, or the caller's)
	slotStash  *byte
	slotOps    []mount.Op
	slotWork   int
	workTarget *byte // sandbox.WorkDir
	// slotFresh: no kept mount namespace, a copy of the caller's with the
	// Mount plan built in it; /w then goes to workUID, workGID.
	slotFresh        bool
	workUID, workGID int
	// slotAhead (Slot.MountMadeAhead): slotMount is the run's own copy.
	slotAhead bool
	// holds (Slot.Held): the child starts sharing the descriptor table
	// (shareFiles is CLONE_FILES) and leaves heldMnt and heldWork in it.
	holds             bool
	shareFiles        uintptr
	heldMnt, heldWork int

	flags uintptr
	vfork bool
	// execing is set by a vfork child (which shares this memory) right
	// before its execve and cleared when it fails: at EOF on the error
	// pipe it tells an exec from a death.
	execing   uint32
	useClone3 bool
	clone3    cloneArgs
	// clearSighand: a vfork start through clone3 with CLONE_CLEAR_SIGHAND
	// (vclone3), which sets every handled signal to SIG_DFL in the kernel,
	// far cheaper than a system call per signal in the child; the child
	// then resets only resetSigs, the ones that may be ignored (SIG_IGN,
	// which the flag keeps). See ignoredSignals.
	clearSighand bool
	// cpus, when set, are the CPUs the child puts back first thing (see
	// pinForVfork); cpu is the one it starts on.
	cpus      *unix.CPUSet
	cpu       uint32
	vclone3   cloneArgs
	resetSigs []uintptr
	sync      bool   // the child waits for the parent's byte
	uidMap    string // id map file contents, for the parent
	gidMap    string
	// syncAt is where the child waits: -1 before anything else (no mount
	// plan), syncAfterPivot once pivot_root is done, else before plan step
	// syncAt (the first that needs the id map, when it names host paths).
	syncAt     int
	tail       int // plan steps from here on run after pivot_root
	unshareCg  bool
	pdeathsig  uintptr
	ppid       uintptr
	checkPPID  bool
	setsid     bool
	hostname   *byte
	hostLen    uintptr
	plan       []mount.Op
	root       *byte
	noNewPrivs bool
	dropCaps   bool
	// dropBounding: the child drops the bounding set (DropCaps, unless
	// the starting thread's is empty already).
	dropBounding bool
	lastCap      uintptr
	setgroups    bool
	uid, gid     int

	// trace, when set (tests only), receives (label, CLOCK_MONOTONIC ns)
	// pairs from the child: memory shared with the parent.
	trace []int64
}

// cloneArgs is struct clone_args of clone3(2), up to the cgroup field.
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

var (
	lastCapOnce sync.Once
	lastCap     uintptr
)

// DropThreadBoundingSet empties the capability bounding set of the calling
// thread, which the caller has locked to its goroutine (a CloneHook's
// thread): children cloned from it inherit the empty set, so a Runner with
// BoundingSetDropped spares them the drops. The set only ever shrinks: in
// a process whose threads started with the last capability (one in a new
// user namespace: a full set), a thread without it was emptied by an
// earlier call (the drops go in order, the last one last), which one read
// tells. Where they started without it (a service manager's or container
// runtime's set: Docker's default lacks it), that read tells nothing, and
// every call drops the whole set. The thread keeps its effective
// capabilities; it only can no longer gain any through an exec or pass
// them on as inheritable ones. It needs CAP_SETPCAP, and no other code of
// the process may drop the last capability from a thread's set.
func DropThreadBoundingSet() error {
	last := lastCapability()
	if startedWithLastCap() {
		if r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_READ, last, 0); e == 0 && r == 0 {
			return nil
		}
	}
	for c := uintptr(0); c <= last; c++ {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_DROP, c, 0); e != 0 && e != syscall.EINVAL {
			return fmt.Errorf("forkexec: drop capability %d from the thread's bounding set: %w", c, e)
		}
	}
	return nil
}

// startedWithLastCap tells whether the process's threads started with the
// last capability in their bounding set: read once, on the thread of the
// first DropThreadBoundingSet, before any call dropped anything.
var startedWithLastCap = sync.OnceValue(func() bool {
	r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_READ, lastCapability(), 0)
	return e == 0 && r == 1
})

// lastCapability returns the highest capability number this kernel knows.
func lastCapability() uintptr {
	lastCapOnce.Do(func() {
		lastCap = 63
		if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n >= 0 && n < 64 {
				lastCap = uintptr(n)
			}
		}
	})
	return lastCap
}

var (
	closeRangeOnce sync.Once
	closeRangeOK   bool
)

// haveCloseRange probes once for close_range(2) (Linux 5.9) with a range
// that holds no descriptor.
func haveCloseRange() bool {
	closeRangeOnce.Do(func() {
		_, _, errno := syscall.Syscall(unix.SYS_CLOSE_RANGE, ^uintptr(0)>>33, ^uintptr(0)>>33, 0)
		closeRangeOK = errno != unix.ENOSYS
	})
	return closeRangeOK
}

// highestOpenFD returns the highest descriptor this process has open.
func highestOpenFD() int {
	high := 2
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 1 << 16
	}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > high {
			high = n
		}
	}
	return high
}

// vforkCloneFlags are the namespaces a vfork child may be started in: they
// need no id maps, so no sync step.
const vforkCloneFlags = unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// clone3Missing is set once clone3 returned ENOSYS or E2BIG, or EPERM where
// a plain clone then worked: later starts place the child with SyncFunc.
var clone3Missing atomic.Bool

// clearSighandMissing is set once a clone3 with CLONE_CLEAR_SIGHAND failed
// where a plain vfork then worked (before Linux 5.3 there is no clone3,
// before 5.5 no such flag; a seccomp policy may refuse clone3): vfork
// starts then reset each signal in the child.
var clearSighandMissing atomic.Bool

// signalsGoLeaves are the signals whose disposition the Go runtime leaves as
// the process found it at its start (unless a signal.Notify asks for them)
// without recording whether that was SIG_IGN: signal.Ignored cannot tell.
var signalsGoLeaves = [...]syscall.Signal{syscall.SIGCONT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}

// ignoredSignals lists the signals a child started with CLONE_CLEAR_SIGHAND
// must still set to SIG_DFL: those this process may ignore (the flag keeps
// SIG_IGN, and exec keeps it too). The runtime knows every SIG_IGN it set
// (signal.Ignore) or found at start (a supervisor under nohup), except for
// signalsGoLeaves, which are always listed. A disposition set by raw
// sigaction calls outside the runtime is not seen; nothing in this module
// makes one.
func ignoredSignals() []uintptr {
	sigs := make([]uintptr, 0, len(signalsGoLeaves)+4)
	for _, s := range signalsGoLeaves {
		sigs = append(sigs, uintptr(s))
	}
	for i := 1; i <= 64; i++ {
		s := syscall.Signal(i)
		if s == syscall.SIGKILL || s == syscall.SIGSTOP || slices.Contains(signalsGoLeaves[:], s) {
			continue
		}
		if signal.Ignored(s) {
			sigs = append(sigs, uintptr(s))
		}
	}
	return sigs
}

func (r *Runner) prepare() (*prepared, error) {
	p := &prepared{execFD: r.ExecFD, rlimits: r.RLimits, fprog: r.Seccomp, uid: r.UID, gid: r.GID, trace: r.trace}

	if len(r.Args) == 0 && r.ExecFD <= 0 {
		return nil, ErrNoArgs
	}
	var err error
	if p.argv, err = syscall.SlicePtrFromStrings(r.Args); err != nil {
		return nil, fmt.Errorf("forkexec: args: %w", err)
	}
	if p.envv, err = syscall.SlicePtrFromStrings(r.Env); err != nil {
		return nil, fmt.Errorf("forkexec: env: %w", err)
	}
	if r.ExecFD <= 0 {
		name := r.Args[0]
		if name == "" {
			return nil, ErrNoArgs
		}
		if strings.Contains(name, "/") {
			if p.argv0, err = unix.BytePtrFromString(name); err != nil {
				return nil, fmt.Errorf("forkexec: args[0]: %w", err)
			}
		} else {
			for _, d := range r.searchPath() {
				if d == "" {
					d = "."
				}
				c, err := unix.BytePtrFromString(d + "/" + name)
				if err != nil {
					return nil, fmt.Errorf("forkexec: path: %w", err)
				}
				p.search = append(p.search, c)
			}
		}
	}
	if r.Dir != "" {
		if p.dir, err = unix.BytePtrFromString(r.Dir); err != nil {
			return nil, fmt.Errorf("forkexec: dir: %w", err)
		}
	}
	p.files = append([]int(nil), r.Files...)
	p.nextFD = len(p.files)
	for _, fd := range p.files {
		p.nextFD = max(p.nextFD, fd+1)
	}
	p.nextFD = max(p.nextFD, r.ExecFD+1)
	if !haveCloseRange() {
		p.closeLoopTo = highestOpenFD() + 64 // room for descriptors opened meanwhile
	}

	p.flags = r.CloneFlags
	if r.NetNSFD > 0 && r.CloneFlags&unix.CLONE_NEWNET != 0 {
		return nil, errors.New("forkexec: NetNSFD and CLONE_NEWNET together")
	}
	userns := r.CloneFlags&unix.CLONE_NEWUSER != 0
	if r.CgroupFD > 0 && !clone3Missing.Load() {
		p.useClone3 = true
		p.clone3 = cloneArgs{
			flags:      uint64(r.CloneFlags) | unix.CLONE_INTO_CGROUP,
			exitSignal: uint64(unix.SIGCHLD),
			cgroup:     uint64(r.CgroupFD),
		}
	} else if r.CgroupFD > 0 && r.SyncFunc == nil {
		return nil, fmt.Errorf("forkexec: clone3 is missing and no SyncFunc places the child in its cgroup: %w", unix.ENOSYS)
	}
	p.sync = userns || r.SyncFunc != nil
	if userns {
		p.uidMap, p.gidMap = formatIDMap(r.UIDMap), formatIDMap(r.GIDMap)
	}
	p.cgroupProcs = r.CgroupProcs
	if r.Reaper != nil {
		p.reaper = true
		p.reaperStatus, p.reaperExe = r.Reaper.w, reaperExec()
		if r.noReaperProgram {
			p.reaperExe = -1
		}
	}
	if r.LoopbackUp && r.CloneFlags&unix.CLONE_NEWNET != 0 {
		ifr := loopbackReq
		p.loopback = &ifr
	}
	if err := p.prepareSlot(r); err != nil {
		return nil, err
	}
	if r.ReaperApart {
		switch {
		case r.Reaper == nil || r.Slot == nil || r.CloneFlags&unix.CLONE_NEWPID == 0:
			return nil, errors.New("forkexec: ReaperApart needs a Reaper, a Slot and CLONE_NEWPID")
		case !CanReaperApart():
			return nil, errors.New("forkexec: ReaperApart: the idle reaper program cannot be made here")
		}
		p.apart, p.apartPid1 = true, r.Reaper
		p.apartSig = uintptr(r.Pdeathsig)
		p.reaper = false // the child is the program
		p.flags &^= unix.CLONE_NEWPID
	}
	p.vfork = r.Reaper == nil && r.Vfork && haveVfork && r.CloneFlags&^vforkCloneFlags == 0 && !p.sync && r.CgroupFD <= 0 &&
		(!r.UnshareCgroupAfterSync || len(r.CgroupProcs) > 0) && r.Mount == nil
	p.heldMnt, p.heldWork = -1, -1
	if p.slot {
		// The reaper may share the memory too: it leaves it at its exec
		// of the reaper program, which releases the caller; where that
		// program cannot run it would stay on and hold the caller.
		p.vfork = r.Vfork && haveVfork && !p.sync && r.CgroupFD <= 0 &&
			(!r.UnshareCgroupAfterSync || len(r.CgroupProcs) > 0) &&
			(!p.reaper || p.reaperExe >= 0)
	}
	if p.slot && p.vfork && r.Slot.Held != nil {
		p.holds, p.shareFiles = true, unix.CLONE_FILES
	}
	p.unshareCg = r.UnshareCgroupAfterSync
	if p.unshareCg && !p.sync && len(p.cgroupProcs) == 0 {
		return nil, errors.New("forkexec: UnshareCgroupAfterSync needs a SyncFunc, CgroupProcs or a user namespace")
	}
	p.setsid = true
	if r.Pdeathsig != 0 {
		p.pdeathsig = uintptr(r.Pdeathsig)
		p.ppid = uintptr(unix.Getpid())
		// In a new pid namespace getppid says 0; the sync pipe tells
		// instead whether the parent is alive.
		p.checkPPID = r.CloneFlags&unix.CLONE_NEWPID == 0 && !p.apart
	}
	if r.Hostname != "" && r.CloneFlags&unix.CLONE_NEWUTS != 0 {
		if p.hostname, err = unix.BytePtrFromString(r.Hostname); err != nil {
			return nil, fmt.Errorf("forkexec: hostname: %w", err)
		}
		p.hostLen = uintptr(len(r.Hostname))
	}
	if r.Mount != nil {
		if r.CloneFlags&unix.CLONE_NEWNS == 0 && r.Slot == nil {
			return nil, errors.New("forkexec: a mount plan needs CLONE_NEWNS")
		}
		p.plan = r.Mount.Ops()
		p.root = r.Mount.Root()
	}
	p.syncAt = syncAtStart
	if p.root != nil {
		p.tail = r.Mount.Tail()
		p.syncAt = syncAfterPivot
		for i := range p.tail {
			if p.plan[i].NeedsIDMap {
				p.syncAt = i
				break
			}
		}
	}
	p.noNewPrivs = r.NoNewPrivs
	p.dropCaps = r.DropCaps
	// A child that enters a user namespace, a new one or a Slot's, gets a
	// full bounding set from the kernel there whatever its parent's was:
	// it drops it itself.
	p.dropBounding = r.DropCaps && (!r.BoundingSetDropped || r.CloneFlags&unix.CLONE_NEWUSER != 0 || p.slot)
	if p.dropBounding {
		p.lastCap = lastCapability()
	}
	p.setgroups = r.GID != -1 && !r.DenySetgroups && !p.slot
	if p.vfork && !clearSighandMissing.Load() {
		p.clearSighand = true
		p.vclone3 = cloneArgs{
			flags:      uint64(p.flags|syscall.CLONE_VM|syscall.CLONE_VFORK|p.shareFiles) | unix.CLONE_CLEAR_SIGHAND,
			exitSignal: uint64(unix.SIGCHLD),
		}
		p.resetSigs = ignoredSignals()
	}
	return p, nil
}

// slotCloneFlags are the namespaces a Slot child may be cloned into.
const slotCloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// prepareSlot checks and copies Runner.Slot.
func (p *prepared) prepareSlot(r *Runner) error {
	s := r.Slot
	if s == nil {
		return nil
	}
	switch {
	case r.CloneFlags&^slotCloneFlags != 0:
		return fmt.Errorf("forkexec: a Slot child may only be cloned into new pid, IPC, UTS and cgroup namespaces (flags %#x)", r.CloneFlags)
	case r.Mount != nil && (s.MountNS > 0 || s.Mounts != nil || s.WorkTree > 0):
		return errors.New("forkexec: a Slot with a Mount plan takes no MountNS, Mounts or WorkTree")
	case r.NetNSFD > 0:
		return errors.New("forkexec: Slot and NetNSFD together")
	case s.IPCNS > 0 && r.CloneFlags&unix.CLONE_NEWIPC != 0:
		return errors.New("forkexec: Slot.IPCNS and CLONE_NEWIPC together")
	case s.UserNS <= 0 || (s.MountNS <= 0 && r.Mount == nil) || s.NetNS <= 0:
		return fmt.Errorf("forkexec: Slot needs user, mount and network namespace descriptors (have %d, %d, %d)", s.UserNS, s.MountNS, s.NetNS)
	}
	p.slot = true
	if r.Mount != nil {
		p.slotFresh = true
		p.workUID, p.workGID = s.WorkUID, s.WorkGID
	}
	if s.MountMadeAhead && r.Mount != nil {
		return errors.New("forkexec: Slot.MountMadeAhead needs MountNS, not a Mount plan")
	}
	p.slotAhead = s.MountMadeAhead
	p.slotUser, p.slotMount, p.slotNet, p.slotWork = s.UserNS, s.MountNS, s.NetNS, s.WorkTree
	p.slotIPC = s.IPCNS
	stash := s.Stash
	if stash == "" {
		stash = "/"
	}
	var err error
	if p.slotStash, err = unix.BytePtrFromString(stash); err != nil {
		return fmt.Errorf("forkexec: slot stash: %w", err)
	}
	if p.workTarget, err = unix.BytePtrFromString(sandbox.WorkDir); err != nil {
		return fmt.Errorf("forkexec: work dir: %w", err)
	}
	if s.Mounts != nil {
		if s.Mounts.Root() != nil {
			return errors.New("forkexec: Slot.Mounts must be a plan without a root (mount.Slot)")
		}
		p.slotOps = s.Mounts.Ops()
	}
	return nil
}

func (r *Runner) searchPath() []string {
	if r.Path != nil {
		return r.Path
	}
	for i := len(r.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(r.Env[i], "PATH="); ok {
			return strings.Split(v, ":")
		}
	}
	return strings.Split(sandbox.DefaultPath, ":")
}

// Start starts the child and returns its pid once the program runs (its
// exec succeeded). A failure of the child's setup or exec is a *ChildError;
// the child is then already reaped. Otherwise the caller reaps it.
func (r *Runner) Start() (int, error) {
	p, err := r.prepare()
	if err != nil {
		return 0, err
	}
	if r.Slot != nil && r.Slot.Held != nil {
		*r.Slot.Held = Held{MountNS: -1, WorkDir: -1}
	}
	pid, err := r.start(p)
	if p.holds {
		if err != nil {
			closeFD(&p.heldMnt)
			closeFD(&p.heldWork)
		}
		*r.Slot.Held = Held{MountNS: p.heldMnt, WorkDir: p.heldWork}
	}
	return pid, err
}

func (r *Runner) start(p *prepared) (int, error) {
	var errPipe, syncPipe [2]int
	// A vfork child that is the program itself holds us up until its exec
	// is past the point of no return, or until it died, having written
	// its report first: by then the pipe holds all it will ever hold, so
	// it is read without waiting for the close-on-exec further down the
	// child's exec (which the parent would otherwise wait for).
	noWait := p.vfork && !p.reaper
	pipeFlags := unix.O_CLOEXEC
	if noWait {
		pipeFlags |= unix.O_NONBLOCK
	}
	if err := unix.Pipe2(errPipe[:], pipeFlags); err != nil {
		return 0, fmt.Errorf("forkexec: error pipe: %w", err)
	}
	defer closeFD(&errPipe[0])
	defer closeFD(&errPipe[1])
	if p.sync {
		if err := unix.Pipe2(syncPipe[:], unix.O_CLOEXEC); err != nil {
			return 0, fmt.Errorf("forkexec: sync pipe: %w", err)
		}
		defer closeFD(&syncPipe[0])
		defer closeFD(&syncPipe[1])
	} else {
		syncPipe = [2]int{-1, -1}
	}

	pid, errno, err := r.fork(p, errPipe[1], syncPipe[0])
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("forkexec: clone: %w", errno)
	}
	closeFD(&errPipe[1])
	closeFD(&syncPipe[0])

	if p.sync {
		err := r.syncChild(pid, p)
		if err == nil {
			one := [1]byte{1}
			if _, werr := unix.Write(syncPipe[1], one[:]); werr != nil {
				err = fmt.Errorf("forkexec: release child: %w", werr)
			}
		}
		if err != nil {
			closeFD(&syncPipe[1]) // a waiting child reads EOF and leaves
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			// The child may have failed first (a mount step runs while we
			// write the maps): then its report is the better answer.
			if ce, _ := r.readReport(errPipe[0]); ce != nil {
				return 0, ce
			}
			return 0, err
		}
		// syncPipe[1] stays open until the child's exec: a child that
		// re-arms its parent-death signal polls it to learn whether we died.
	}

	ce, err := r.readReport(errPipe[0])
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return 0, err
	}
	if ce == nil && p.vfork && atomic.LoadUint32(&p.execing) == 0 {
		// The parent of a vfork child runs again only once the child
		// exec'd or died, so the flag is final here.
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		return 0, &DiedBeforeExec{Status: ws}
	}
	if ce == nil {
		return pid, nil // exec succeeded: the pipe closed on exec, or is past it
	}
	reap(pid)
	return 0, ce
}

// fork clones the child, from inside NetNSFD when it is set.
func (r *Runner) fork(p *prepared, errFD, syncFD int) (pid int, errno syscall.Errno, err error) {
	if r.CloneHook != nil {
		runtime.LockOSThread()
		after, hookErr := r.CloneHook()
		if hookErr != nil {
			runtime.UnlockOSThread()
			return 0, 0, fmt.Errorf("forkexec: clone hook: %w", hookErr)
		}
		defer func() {
			if herr := after(); herr != nil {
				if errno == 0 && err == nil {
					unix.Kill(pid, unix.SIGKILL)
					reap(pid)
				}
				err = fmt.Errorf("forkexec: after the clone: %w", herr)
				return // the thread stays locked: see CloneHook
			}
			runtime.UnlockOSThread()
		}()
	}
	if r.NetNSFD > 0 {
		// The network namespace is per thread: keep this goroutine on
		// its thread while the thread is in the other one. Threads the
		// runtime starts meanwhile come from its template thread, not
		// from this one.
		runtime.LockOSThread()
		home := r.HomeNetNSFD
		closeHome := func() {}
		if home <= 0 {
			var openErr error
			if home, openErr = ownNetNS(); openErr != nil {
				runtime.UnlockOSThread()
				return 0, 0, fmt.Errorf("forkexec: open own network namespace: %w", openErr)
			}
			closeHome = func() { unix.Close(home) }
		}
		if nsErr := setns(r.NetNSFD, unix.CLONE_NEWNET); nsErr != nil {
			closeHome()
			runtime.UnlockOSThread()
			return 0, 0, fmt.Errorf("forkexec: enter network namespace: %w", nsErr)
		}
		defer func() {
			rerr := setns(home, unix.CLONE_NEWNET)
			closeHome()
			if rerr != nil {
				// The thread stays locked, so the goroutine's end ends
				// it and no other code runs in the wrong namespace; the
				// child started from it would see its parent die, so it
				// is not handed out.
				if errno == 0 && err == nil {
					unix.Kill(pid, unix.SIGKILL)
					reap(pid)
				}
				err = fmt.Errorf("forkexec: return to the host network namespace: %w", rerr)
				return
			}
			runtime.UnlockOSThread()
		}()
	}
	if p.apart && p.apartPid1.pid1 <= 0 {
		// Before the pin: the apart pid 1 would keep the one CPU for
		// good (only the program's child puts the CPUs back).
		if err := p.apartPid1.StartApart(syscall.Signal(p.apartSig)); err != nil {
			return 0, 0, err
		}
	}
	if p.vfork {
		if unpin := pinForVfork(p); unpin != nil {
			defer func() {
				if uerr := unpin(); uerr != nil && err == nil {
					if errno == 0 {
						unix.Kill(pid, unix.SIGKILL)
						reap(pid)
					}
					err = uerr
				}
			}()
		}
	}
	clone := func() error {
		syscall.ForkLock.Lock()
		pid, errno = forkChild(p, errFD, syncFD)
		syscall.ForkLock.Unlock()
		if (errno == unix.ENOSYS || errno == unix.E2BIG || errno == unix.EINVAL || errno == unix.EPERM) && p.clearSighand {
			// No clone3 or no CLONE_CLEAR_SIGHAND, or a seccomp policy
			// that refuses clone3 (Docker's default profile did with
			// EPERM before 20.10.10): a plain vfork, and the child
			// resets every signal. Only when that works is clone3 given
			// up for good: the same errno from both is the start's own.
			p.clearSighand = false
			syscall.ForkLock.Lock()
			pid, errno = forkChild(p, errFD, syncFD)
			syscall.ForkLock.Unlock()
			if errno == 0 {
				clearSighandMissing.Store(true)
			}
		}
		if (errno == unix.ENOSYS || errno == unix.E2BIG || errno == unix.EPERM) && p.useClone3 && r.SyncFunc != nil {
			// No clone3 (before 5.3), or one without the cgroup field
			// (before 5.7, E2BIG), or a seccomp policy that refuses
			// clone3 with EPERM (Docker's default before 20.10.10): a
			// plain clone, and SyncFunc places the child instead. EPERM
			// may also be the start's own (a namespace it may not make):
			// clone3 is given up for it only when the plain clone works.
			refused := errno
			p.useClone3 = false
			syscall.ForkLock.Lock()
			pid, errno = forkChild(p, errFD, syncFD)
			syscall.ForkLock.Unlock()
			if refused != unix.EPERM || errno == 0 {
				clone3Missing.Store(true)
			}
		}
		return nil
	}
	if r.CloneFlags&unix.CLONE_NEWUSER != 0 && r.OwnerUID > 0 {
		if err := asOwner(r.OwnerUID, r.OwnerGID, true, clone); err != nil {
			if errno == 0 && pid > 0 {
				unix.Kill(pid, unix.SIGKILL)
				reap(pid)
			}
			return 0, 0, err
		}
		return pid, errno, nil
	}
	if p.apart {
		return r.forkApart(p, func() (int, syscall.Errno) { clone(); return pid, errno })
	}
	clone()
	return pid, errno, nil
}

// CanReaperApart reports whether Runner.ReaperApart works here: an
// architecture with the idle reaper program, and memfds to hold it.
func CanReaperApart() bool { return haveVfork && idleReaperExec() > 0 }

// forkApart is clone for Runner.ReaperApart: the child is cloned into the
// pid namespace of the apart pid 1, which is started first unless the
// caller did already (Reaped.StartApart).
func (r *Runner) forkApart(p *prepared, clone func() (int, syscall.Errno)) (pid int, errno syscall.Errno, err error) {
	if p.apartPid1.pid1 <= 0 {
		if err := p.apartPid1.StartApart(syscall.Signal(p.apartSig)); err != nil {
			return 0, 0, err
		}
	}
	home, err := hostPidNS()
	if err != nil {
		p.apartPid1.endPid1()
		return 0, 0, err
	}
	runtime.LockOSThread()
	if err := p.apartPid1.enterPidNS(); err != nil {
		runtime.UnlockOSThread()
		p.apartPid1.endPid1()
		return 0, 0, fmt.Errorf("forkexec: enter the box's pid namespace: %w", err)
	}
	pid, errno = clone()
	if rerr := setns(home, unix.CLONE_NEWPID); rerr != nil {
		// The thread stays locked, so it ends with its goroutine and
		// starts nothing more in the box's pid namespace.
		if errno == 0 {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
		}
		p.apartPid1.endPid1()
		return 0, 0, fmt.Errorf("forkexec: return to the host pid namespace: %w", rerr)
	}
	runtime.UnlockOSThread()
	if errno != 0 {
		p.apartPid1.endPid1()
	}
	return pid, errno, nil
}

// hostPidNS is a descriptor of the process's pid namespace (which no
// thread ever leaves: they only change the namespace of their children),
// opened once and kept for the life of the process, so that a start pays
// no open for it.
var hostPidNS = sync.OnceValues(func() (int, error) {
	fd, err := unix.Open("/proc/self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("forkexec: open own pid namespace: %w", err)
	}
	return fd, nil
})

// StartApart starts the box's apart pid 1 (Runner.ReaperApart) now, in a
// pid namespace of its own, instead of in Start: its exec of the idle
// reaper program then runs while the caller prepares the rest of the run,
// rather than beside the child's start. pdeathsig is the Runner's
// Pdeathsig. Start clones the child into that namespace; Close ends pid 1
// if the run never starts. It does nothing when pid 1 runs already.
func (r *Reaped) StartApart(pdeathsig syscall.Signal) error {
	_, err := r.startApart(pdeathsig)
	return err
}

// StartApartAhead is StartApart for a pid 1 that waits for a run not yet
// asked for: it is cloned from a thread kept for the life of the process.
// A pid 1's parent-death signal fires when the thread that cloned it ends,
// not the process, and any thread the caller runs on may end once some
// goroutine ends locked to it (a warm slot's pid 1 then died while idle,
// or worse between its take and the run's clone).
func (r *Reaped) StartApartAhead(pdeathsig syscall.Signal) error {
	done := make(chan error, 1)
	keeper.once.Do(startKeeper)
	keeper.reqs <- func() bool {
		spoiled, err := r.startApart(pdeathsig)
		done <- err
		return spoiled
	}
	return <-done
}

// keeper is the thread StartApartAhead clones from. When a start left it
// in the wrong pid namespace a new one takes its place, and the old one is
// parked for good, never ended: its end would send the parent-death
// signal to every pid 1 it started, those idle slots hold and those runs
// under way took.
var keeper struct {
	once sync.Once
	reqs chan func() (spoiled bool)
}

func startKeeper() {
	keeper.reqs = make(chan func() bool)
	go keepThread()
}

func keepThread() {
	OnOwnThread(func() {
		for req := range keeper.reqs {
			if req() {
				go keepThread()
				select {}
			}
		}
	})
}

// startApart is StartApart; spoiled reports that the calling thread could
// not return to the host pid namespace (it stays locked, to end with its
// goroutine).
func (r *Reaped) startApart(pdeathsig syscall.Signal) (spoiled bool, err error) {
	if r.pid1 > 0 {
		return false, nil
	}
	if !CanReaperApart() {
		return false, errors.New("forkexec: ReaperApart: the idle reaper program cannot be made here")
	}
	home, err := hostPidNS()
	if err != nil {
		return false, err
	}
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWPID); err != nil {
		runtime.UnlockOSThread()
		return false, fmt.Errorf("forkexec: unshare pid namespace: %w", err)
	}
	syscall.ForkLock.Lock()
	pid1, e1 := startIdleReaper(idleReaperExec(), uintptr(pdeathsig))
	syscall.ForkLock.Unlock()
	if e1 == 0 {
		r.setPid1(pid1)
	}
	if rerr := setnsHome(home, unix.CLONE_NEWPID); rerr != nil {
		// The thread stays locked, so it ends with its goroutine and
		// starts nothing more in that pid namespace.
		r.endPid1()
		return true, fmt.Errorf("forkexec: return to the host pid namespace: %w", rerr)
	}
	runtime.UnlockOSThread()
	if e1 != 0 {
		return false, fmt.Errorf("forkexec: clone the box's pid 1: %w", e1)
	}
	return false, nil
}

// startIdleReaper clones the apart pid 1 with every signal blocked: it runs
// no Go code, and until its exec the caller's handlers are its own.
func startIdleReaper(exe int, pdeathsig uintptr) (int, syscall.Errno) {
	runtime_BeforeFork()
	pid, e := rawCloneIdleReaper(syscall.CLONE_VM|uintptr(syscall.SIGCHLD), uintptr(exe), pdeathsig)
	runtime_AfterFork()
	return int(pid), syscall.Errno(e)
}

// ownNetNS opens the calling thread's network namespace, which is the
// process's: every thread that leaves it comes back before it runs anything
// else. It is opened per start rather than kept, so that the package holds
// no descriptor between starts.
func ownNetNS() (int, error) {
	return unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// setnsPid1 is setns for entering the apart pid 1's pid namespace (a test
// makes it answer as a kernel before 5.8 does for a pidfd).
var setnsPid1 = setns

// setnsHome is setns for a pid 1's start to return to the host's pid
// namespace (a test makes it fail).
var setnsHome = setns

func setns(fd, nstype int) error {
	for {
		err := unix.Setns(fd, nstype)
		if err != unix.EINTR {
			return err
		}
	}
}

// readReport reads the child's report from the error pipe: nil, nil at EOF
// (the exec succeeded or the child died without a word).
func (r *Runner) readReport(fd int) (*ChildError, error) {
	var rec errRecord
	buf := (*[unsafe.Sizeof(rec)]byte)(unsafe.Pointer(&rec))[:]
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break // a non-blocking pipe (see start): nothing more will come
		}
		if err != nil {
			return nil, fmt.Errorf("forkexec: read error pipe: %w", err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	switch {
	case n == 0:
		return nil, nil
	case n != len(buf):
		return nil, fmt.Errorf("forkexec: short report from the child (%d bytes)", n)
	}
	ce := &ChildError{Step: Step(rec.step), Index: int(rec.index), Errno: syscall.Errno(rec.errno)}
	if ce.Step.isMountStep() && r.Mount != nil {
		ce.target = r.Mount.Target(ce.Index)
	} else if ce.Step.isMountStep() && r.Slot != nil && r.Slot.Mounts != nil {
		ce.target = r.Slot.Mounts.Target(ce.Index)
	}
	return ce, nil
}

// syncChild writes the id maps and runs SyncFunc while the child waits.
func (r *Runner) syncChild(pid int, p *prepared) error {
	if r.CloneFlags&unix.CLONE_NEWUSER != 0 {
		proc := "/proc/" + strconv.Itoa(pid) + "/"
		if r.DenySetgroups {
			if err := writeProcFile(proc+"setgroups", "deny"); err != nil {
				return fmt.Errorf("forkexec: write setgroups: %w", err)
			}
		}
		if p.gidMap != "" {
			if err := writeProcFile(proc+"gid_map", p.gidMap); err != nil {
				return fmt.Errorf("forkexec: write gid_map: %w", err)
			}
		}
		if p.uidMap != "" {
			if err := writeProcFile(proc+"uid_map", p.uidMap); err != nil {
				return fmt.Errorf("forkexec: write uid_map: %w", err)
			}
		}
	}
	if r.SyncFunc != nil {
		if err := r.SyncFunc(pid); err != nil {
			return fmt.Errorf("forkexec: sync: %w", err)
		}
	}
	return nil
}

func formatIDMap(m []IDMap) string {
	var b []byte
	for _, e := range m {
		b = strconv.AppendInt(b, int64(e.Inside), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Outside), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Size), 10)
		b = append(b, '\n')
	}
	return string(b)
}

// writeProcFile writes s in one write(2), as id map files require.
func writeProcFile(name, s string) error {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte(s))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	return err
}

func closeFD(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
		*fd = -1
	}
}

// reap waits for a child that failed before its program ran.
func reap(pid int) {
	for {
		_, err := unix.Wait4(pid, nil, 0, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// pinForVfork keeps the calling thread on the CPU it runs on while it
// starts a vfork child, which inherits that: the child then runs there as
// soon as the caller waits for it, rather than being placed on the other
// CPUs, whose tasks it may have to wait for (the caller's CPU is the one
// it leaves idle). The child puts back the caller's CPUs first thing
// (prepared.cpus). The returned function undoes the pin; on its error the
// thread stays locked, so it ends with its goroutine. nil: no pin.
func pinForVfork(p *prepared) (unpin func() error) {
	runtime.LockOSThread()
	var saved, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil || saved.Count() < 2 {
		runtime.UnlockOSThread()
		return nil
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&p.cpu)), 0, 0); e != 0 || !saved.IsSet(int(p.cpu)) {
		runtime.UnlockOSThread()
		return nil
	}
	one.Set(int(p.cpu))
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		return nil
	}
	p.cpus = &saved
	return func() error {
		if err := unix.SchedSetaffinity(0, &saved); err != nil {
			return fmt.Errorf("forkexec: restore the thread's CPUs: %w", err)
		}
		runtime.UnlockOSThread()
		return nil
	}
}
