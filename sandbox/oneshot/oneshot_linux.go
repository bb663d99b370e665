package oneshot

// Runner and one run: spec checks, the box's set-up, start, verdict, tear-down.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/internal/release"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/tty"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// DefaultCPUPoll is how often the supervisor reads the box's CPU total. The
// cgroup read is a few microseconds; 10 ms keeps the overshoot of a CPU
// limit small without costing the host anything measurable.
const DefaultCPUPoll = 10 * time.Millisecond

// workDirPrefix starts the name of every work directory of this package,
// followed by the supervisor's pid.
const workDirPrefix = "oneshot-"

// maxCachedPlans bounds the compiled mount plans a Runner keeps.
const maxCachedPlans = 64

// boxNamespaces are the namespaces of every box. CLONE_NEWCGROUP is added
// at clone time or right after the box joined its cgroup, see prepare.
const boxNamespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// Runner runs specs one-shot. The zero value is ready to use; set fields
// before the first Run and do not change them afterwards.
type Runner struct {
	// WorkRoot is where per-run work directories are made; "" takes the
	// workdir package's default (/run/gosandbox/w when root).
	WorkRoot string
	// NoCgroups skips cgroups even where they work: limits fall back to
	// rlimits and figures to rusage.
	NoCgroups bool
	// CPUPoll is the period of the CPU-limit check; 0 means DefaultCPUPoll.
	CPUPoll time.Duration

	initOnce sync.Once
	cgroups  *cgroup.Manager
	cgInfo   cgroup.Info
	cgErr    error // why cgroups are not used, when they are not

	plansMu sync.Mutex
	plans   map[string]*mount.Plan

	// Work directories live at a few stable paths (one per run in flight),
	// so their compiled mount plans can be reused.
	slotsMu   sync.Mutex
	freeSlots []int
	nextSlot  int

	netns netStock // fresh network namespaces, made ahead
	boxes boxStock // prepared boxes for the vfork start, made ahead

	// Benchmarks turn the optimisations off to measure what they save
	// (noCgroupStock: no stock and no removal in the background).
	noNetStock, noCgroupStock, noHoldMountNS, noThreadMove bool
	// noVforkStart (benchmarks) keeps the start that clones new user and
	// mount namespaces, with the id-map round trip.
	noVforkStart bool

	released release.Queue // box namespaces torn down after the result

	stockMu sync.Mutex
	stockOn bool // the cgroup stock is kept (armStock); Close turns it off
	// stockPrefix names this Runner's stocked groups: oneshot-PID-sN-.
	stockPrefix string
	// id tells this Runner's work directories from those of the other
	// Runners of the process (their slot numbers all start at 0).
	id uint64
}

var _ sandbox.Runner = (*Runner)(nil)

func (r *Runner) init() {
	r.initOnce.Do(func() {
		r.plans = map[string]*mount.Plan{}
		r.id = runnerSeq.Add(1)
		// Work directories of supervisors that were killed (B4 kills their
		// boxes, but nobody unmounts what they had made).
		workdir.RemoveStale(r.WorkRoot, workDirPrefix)
		workdir.RemoveStale(r.WorkRoot, workdir.DefaultNamePrefix)
		if r.NoCgroups {
			r.cgErr = errors.New("disabled by the caller")
			return
		}
		info, err := cgroup.Detect()
		if err != nil {
			r.cgErr = err
			return
		}
		removeStaleCgroups()
		m, err := cgroup.New()
		if err != nil {
			r.cgErr = err
			return
		}
		r.cgroups, r.cgInfo = m, info
	})
}

// cgroupPrefix starts the name of every cgroup of this package, followed by
// the supervisor's pid (what cgroup.RemoveStale looks for).
const cgroupPrefix = "oneshot-"

// cgroupStock is how many fresh cgroups a Runner keeps ready: one for the
// next run and one being made.
const cgroupStock = 2

// groupSeq numbers the cgroups of every Runner of the process (names must
// not collide between Runners), stockSeq the Runners' stocks, runnerSeq
// the Runners (in their work directories' names).
var groupSeq, stockSeq, runnerSeq atomic.Uint64

var staleCgroupsOnce sync.Once

// removeStaleCgroups removes, once per process, the cgroups of supervisors
// that were killed.
func removeStaleCgroups() {
	staleCgroupsOnce.Do(func() { cgroup.RemoveStale() })
}

// Close removes the cgroups the runner keeps ready and waits for those of
// finished runs to be removed. Runs already going are not affected; a Run
// after Close works and needs another Close.
func (r *Runner) Close() error {
	r.netns.drain()
	r.boxes.drain()
	r.released.Wait()
	if r.cgroups == nil {
		return nil
	}
	r.stockMu.Lock()
	defer r.stockMu.Unlock()
	r.stockOn = false
	return r.cgroups.Close()
}

// vforkStart says whether boxes start with vfork (forkexec.Slot with a
// Mount plan and its pid 1 apart): the child borrows the supervisor's memory
// instead of copying its page tables, and needs no id-map round trip,
// because its user and network namespaces come prepared (boxStock) and it
// builds the mount tree as host root before it enters them. It needs host
// root and the machine-code reaper (amd64).
func (r *Runner) vforkStart() bool {
	return !r.noVforkStart && sandbox.HostIsRoot() && forkexec.CanReaperApart()
}

func (r *Runner) takeNetNS() int {
	if r.noNetStock {
		return -1
	}
	return r.netns.take()
}

// armStock makes sure the cgroup manager keeps fresh groups ready: the
// mkdirs and limit writes then happen in the background, off the run's
// path. Stocked groups are named like the others, so RemoveStale knows
// them as ours.
func (r *Runner) armStock() {
	r.stockMu.Lock()
	defer r.stockMu.Unlock()
	if r.stockOn || r.noCgroupStock {
		return
	}
	if r.stockPrefix == "" {
		r.stockPrefix = fmt.Sprintf("%s%d-s%d-", cgroupPrefix, os.Getpid(), stockSeq.Add(1))
	}
	if err := r.cgroups.KeepStock(r.stockPrefix, cgroupStock); err == nil {
		r.stockOn = true
	}
}

// Cgroups reports whether runs get a cgroup (limits and accounting from
// it), and if not, why.
func (r *Runner) Cgroups() (bool, error) {
	r.init()
	return r.cgroups != nil, r.cgErr
}

// Accounting is where the figures of this runner's results come from.
func (r *Runner) Accounting() string {
	r.init()
	if r.cgroups == nil {
		return sandbox.AccountingRusage
	}
	return r.cgInfo.Accounting()
}

// Run runs spec in a fresh box and waits for it to end. It returns an error
// only when the spec is invalid (nothing ran) or ctx ended before the start.
// Captures attached to ctx with workdir.Capture.Watch end the run with
// output-limit as soon as one overflows.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	spec, err := spec.Prepare()
	if err != nil {
		return sandbox.Result{}, err
	}
	limits := spec.Limits.WithDefaults()
	r.init()
	// A mount plan that cannot be built (a bind over /proc, a target given
	// twice) is the caller's mistake: reject it before anything runs, with
	// the check every runner makes.
	if err := mount.CheckBinds(spec.Binds, limits.Tmpfs); err != nil {
		return sandbox.Result{}, fmt.Errorf("%w: %w", sandbox.ErrInvalidSpec, err)
	}
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, fmt.Errorf("oneshot: not started: %w", err)
	}
	b := &box{runner: r, spec: spec, limits: limits, slot: -1, pidfd: -1, netns: -1, mntns: -1, boxW: -1}
	defer b.tearDown()
	res := b.run(ctx)
	res.Backend = BackendName
	return res, nil
}

// BackendName is what Result.Backend says for runs of this package.
const BackendName = "oneshot"

// box is the state of one run, and everything that has to be undone.
type box struct {
	runner *Runner
	spec   sandbox.Spec
	limits sandbox.Limits

	dir    *workdir.Dir
	group  *cgroup.Group
	lease  *hostid.Lease    // the box's own host uid and gid (H1)
	reaped *forkexec.Reaped // the program's status, left by the box's pid 1
	prep   *prepBox         // the vfork start's namespaces and host ids; nil without
	held   forkexec.Held    // the vfork start's holds on the mount namespace and /w
	joins  []*os.File       // v1: the group's tasks files the child writes itself into
	pidfd  int
	devnul *os.File
	slot   int               // -1 when none was taken
	netns  int               // descriptor of the box's network namespace made ahead; -1 when none
	mntns  int               // descriptor holding the box's mount namespace; -1 when none
	boxW   int               // O_PATH descriptor of the box's /w (its own, or the host work directory's bind): the way to /tmp and /dev/shm; -1 when none
	binds  *workdir.BindLook // the writable binds, for a file at the output limit; nil without
	// kmsg marks the kernel log before a kill-mode run starts: host ids
	// are reused by later runs, and only records after the mark are this
	// run's.
	kmsg *seccomp.LogMark

	lastMark time.Time // see mark
}

func (b *box) run(ctx context.Context) sandbox.Result {
	facts := verdict.Facts{Limits: b.limits, Syscalls: b.syscallMode()}
	b.mark("")
	fe, err := b.prepare()
	if err != nil {
		facts.StartErr = err
		return b.decide(facts)
	}

	b.mark("child setup")
	// Terminal modes the program changes do not outlive the run (H4).
	defer tty.Save(append([]*os.File{b.spec.Stdin, b.spec.Stdout, b.spec.Stderr}, b.spec.ExtraFiles...)...)()
	stopWatch := b.watchStart(ctx)
	// The box's parent-death signal (B4) fires when the thread that clones
	// it ends, not the process. Go ends a thread whenever a goroutine
	// returns locked to it, and any goroutine of the embedding program may
	// be run on this thread once this one blocks: held until the box is
	// reaped (supervise), it runs nothing else.
	release := forkexec.HoldThread()
	defer release()
	pid, err := fe.Start()
	// The wall clock (monotonic, R13) starts when the program does: Start
	// returns once execve succeeded, so the box's set-up is not charged to
	// the program.
	start := time.Now()
	if why := stopWatch(); why != verdict.NotKilled {
		// The child was killed during its set-up; Start may even have
		// taken that for a successful exec.
		facts.Killed = why
		if why == verdict.KilledCancel {
			facts.Err = ctx.Err()
		} else {
			facts.Err = fmt.Errorf("oneshot: the box's set-up did not finish within %v", startTimeout)
		}
	}
	if err != nil {
		facts.StartErr = fmt.Errorf("start %s: %w", b.spec.Args[0], err)
		if facts.Killed != verdict.NotKilled {
			facts.StartErr = fmt.Errorf("%w (%v)", facts.Err, err)
		}
		return b.decide(facts)
	}
	b.mark("start")
	for _, f := range b.joins {
		f.Close()
	}
	b.joins = nil
	b.pidfd = openPidfd(pid)
	if b.prep != nil {
		// The child left the holds (the program may be gone already).
		b.mntns, b.boxW = b.held.MountNS, b.held.WorkDir
	}
	if b.mntns < 0 && !b.runner.noHoldMountNS {
		b.mntns = holdMountNS(pid)
	}
	if b.boxW < 0 {
		b.boxW = openBoxWorkDir(pid)
	}
	b.supervise(ctx, pid, start, &facts, release)
	b.mark("run+reap")
	// The box's figures and the look for a file at the output limit wait
	// for every process of the box to be gone: a pid 1 apart was only
	// asked to die when the program ended, and until its end has killed
	// them, one the program left behind still runs: its CPU would be
	// missed by the total (R2, a CPU limit's verdict), and it could bring
	// a file to the limit behind the look (R10). Reaped here rather than
	// in tearDown.
	b.reaped.Close()
	b.mark("pid1 gone")
	if b.group != nil {
		usage, err := b.group.Usage()
		if err != nil && facts.Err == nil {
			facts.Err = fmt.Errorf("oneshot: read cgroup accounting: %w", err)
		}
		facts.Cgroup = &verdict.CgroupUsage{
			CPU: usage.CPU, MemoryPeak: usage.MemoryPeak, OOMKilled: usage.OOMKilled,
			ProcsPeak:  max(usage.ProcsPeak-b.reaperProcs(), 0), // less the reaper
			Accounting: b.runner.cgInfo.Accounting(), PeakSource: usage.PeakSource,
		}
	}
	b.mark("usage")
	facts.FileAtLimit = b.fileAtLimit()
	res := b.decide(facts)
	if len(b.spec.CopyOut) > 0 {
		res.Files, res.FileErrors = b.dir.CopyOut(b.spec.CopyOut, b.limits.Output)
	}
	b.mark("verdict+copy-out")
	return res
}

// startTimeout bounds the box's set-up (clone to execve). It takes
// milliseconds; a child stuck there is a bug, and no caller may hang on it.
const startTimeout = 30 * time.Second

// watchStart kills the child if its set-up outlives startTimeout or ctx
// ends meanwhile. Its cgroup is the handle: the child joins it before it
// can block (without a cgroup there is nothing to kill by, and the set-up
// is not watched). The returned stop ends the watch and says whether it
// killed.
func (b *box) watchStart(ctx context.Context) (stop func() verdict.KillReason) {
	if b.group == nil {
		return func() verdict.KillReason { return verdict.NotKilled }
	}
	// Callbacks rather than a watcher goroutine: stop then needs no
	// hand-off to another goroutine, which under load costs a scheduling
	// delay on every start.
	var mu sync.Mutex
	why, stopped := verdict.NotKilled, false
	kill := func(reason verdict.KillReason) {
		mu.Lock()
		defer mu.Unlock()
		if stopped || why != verdict.NotKilled {
			return
		}
		why = reason
		b.group.KillAll()
	}
	timer := time.AfterFunc(startTimeout, func() { kill(verdict.KilledFailure) })
	stopCancel := context.AfterFunc(ctx, func() { kill(verdict.KilledCancel) })
	return func() verdict.KillReason {
		timer.Stop()
		stopCancel()
		// A kill in progress finishes before stop returns.
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		return why
	}
}

// fileAtLimit reports whether a regular file the program wrote reached the
// output limit (see verdict.Facts.FileAtLimit).
func (b *box) fileAtLimit() bool {
	if workdir.StreamAtLimit(b.limits.Output, b.spec.Stdout, b.spec.Stderr) {
		return true
	}
	if b.dir != nil {
		if b.dir.HasFileAtLeast(b.limits.Output) {
			return true
		}
	} else if workdir.TreeHasFileAtLeast(b.boxW, b.limits.Output) {
		return true
	}
	return workdir.ScratchHasFileAtLeast(b.boxW, b.limits.Output) || b.binds.AtLimit()
}

func (b *box) decide(f verdict.Facts) sandbox.Result {
	res := verdict.Decide(f)
	if f.Cgroup == nil && b.group != nil {
		res.Accounting = b.runner.cgInfo.Accounting()
	}
	return res
}

func (b *box) syscallMode() sandbox.SyscallMode { return boxcfg.SyscallMode(b.spec) }

// prepare makes the work directory, the cgroup and the child's description.
// Everything it makes is recorded in b for tearDown.
func (b *box) prepare() (*forkexec.Runner, error) {
	r := b.runner
	var lease *hostid.Lease
	if r.vforkStart() {
		pb, err := r.boxes.take()
		if err != nil {
			return nil, err
		}
		b.prep, lease = pb, pb.lease
	} else {
		var err error
		if lease, err = hostid.Acquire(); err != nil {
			return nil, fmt.Errorf("oneshot: %w", err)
		}
	}
	b.lease = lease
	workDir := "" // the mount plan puts a fresh tmpfs at /w inside the box
	if len(b.spec.CopyIn) > 0 || len(b.spec.CopyOut) > 0 {
		// The host must reach /w before or after the run: make it on the
		// host and bind it. Without copies the box's own tmpfs is cheaper
		// (no mount and unmount in the host's namespace) and vanishes
		// with the box.
		b.slot = r.takeSlot()
		dir, err := workdir.New(workdir.Options{
			Root: r.WorkRoot,
			Size: b.limits.Tmpfs,
			Name: fmt.Sprintf("%s%d-r%d-%d", workDirPrefix, os.Getpid(), r.id, b.slot),
			UID:  lease.UID,
			GID:  lease.GID,
		})
		if err != nil {
			return nil, err
		}
		b.dir = dir
		workDir = dir.Path()
		if err := dir.CopyIn(b.spec.CopyIn); err != nil {
			return nil, err
		}
	}
	b.binds = workdir.LookAtBinds(b.spec.Binds, b.limits.Output, b.lease.UID)
	b.mark("workdir")
	if r.cgroups != nil {
		r.armStock()
		name := fmt.Sprintf("%s%d-%d", cgroupPrefix, os.Getpid(), groupSeq.Add(1))
		// One process more than asked for the box's pid 1, when it is in
		// the box's cgroup.
		g, err := r.cgroups.Create(name, cgroup.Limits{Memory: b.limits.Memory, Procs: b.limits.Procs + b.reaperProcs(), CPUSet: b.limits.CPUSet})
		if err != nil {
			return nil, fmt.Errorf("oneshot: %w", err)
		}
		b.group = g
	}
	b.mark("cgroup create")
	plan, err := r.plan(workDir, b.limits.Tmpfs, b.spec.Binds)
	if err != nil {
		return nil, err
	}
	b.mark("mount plan")
	files, devNull, err := boxcfg.ChildFiles(b.spec)
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	b.devnul = devNull

	reaped, err := forkexec.NewReaped()
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	b.reaped = reaped
	if b.syscallMode() == sandbox.SyscallsKill {
		b.kmsg = seccomp.MarkLog()
	}
	fe, err := boxcfg.Child(boxcfg.Input{Spec: b.spec, Limits: b.limits, Files: files, Reaped: reaped, Cgroup: b.group != nil,
		ReaperApart: b.prep != nil})
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	if b.prep != nil {
		return b.vforkChild(fe, plan)
	}
	fe.CloneFlags = boxNamespaces
	fe.OwnerUID, fe.OwnerGID = lease.Owner, lease.Owner
	fe.UIDMap = []forkexec.IDMap{{Inside: sandbox.BoxUID, Outside: lease.UID, Size: 1}}
	fe.GIDMap = []forkexec.IDMap{{Inside: sandbox.BoxGID, Outside: lease.GID, Size: 1}}
	fe.DenySetgroups = !sandbox.HostIsRoot()
	fe.Mount = plan
	fe.LoopbackUp = true // when the stock is empty and the box makes its own
	if fd := r.takeNetNS(); fd >= 0 {
		b.netns = fd
		fe.NetNSFD = fd
		fe.CloneFlags &^= unix.CLONE_NEWNET
	}
	way := boxcfg.CgroupWay{Entry: boxcfg.EntryNone}
	switch {
	case b.group != nil && b.group.FD() > 0 && b.limits.CPUSet == "":
		// cgroup v2. Not with a CPU set: before "cgroup/cpuset: Make
		// cpuset_fork() handle CLONE_INTO_CGROUP properly" (Linux 6.2, and
		// 6.1's stable series; missing from Debian's 5.10) a child born
		// into a cpuset keeps its parent's CPUs, while a write to
		// cgroup.procs (the next case) applies them.
		way = boxcfg.CgroupWay{Entry: boxcfg.EntryBorn, DirFD: b.group.FD()}
	case b.group != nil && !r.noThreadMove:
		// cgroup v1 has no CLONE_INTO_CGROUP. No supervisor thread ever
		// enters the box's groups: with a tiny memory limit it could not
		// allocate its way out again.
		files, err := b.group.ProcsFiles()
		if err != nil {
			return nil, fmt.Errorf("oneshot: %w", err)
		}
		b.joins = files
		way = boxcfg.CgroupWay{Entry: boxcfg.EntryJoinsItself}
		for _, f := range files {
			way.JoinFDs = append(way.JoinFDs, int(f.Fd()))
		}
	case b.group != nil:
		g := b.group
		way = boxcfg.CgroupWay{Entry: boxcfg.EntryHostMoves, Move: func(pid int) error { return g.AddProc(pid) }}
	default:
		fe.CloneFlags |= unix.CLONE_NEWCGROUP
	}
	way.Set(fe)
	return fe, nil
}

// vforkChild completes fe for the vfork start (see Runner.vforkStart): new
// pid, IPC and UTS namespaces cloned from the host's user namespace, the
// mount plan built in a copy of the supervisor's mount namespace, then the
// prepared network and user namespaces; pid 1 apart; the cgroup joined by
// the child itself.
func (b *box) vforkChild(fe *forkexec.Runner, plan *mount.Plan) (*forkexec.Runner, error) {
	fe.CloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
	fe.Vfork = true
	fe.Mount = plan
	fe.Slot = &forkexec.Slot{UserNS: b.prep.userNS, NetNS: b.prep.netNS, Held: &b.held}
	if b.dir == nil {
		// The plan's tmpfs /w is made from the host's user namespace.
		fe.Slot.WorkUID, fe.Slot.WorkGID = b.lease.UID, b.lease.GID
	}
	if b.group == nil {
		fe.CloneFlags |= unix.CLONE_NEWCGROUP
		return fe, nil
	}
	// The child writes itself into the box's groups first thing (v1: each
	// hierarchy's tasks file; v2: cgroup.procs).
	files, err := b.group.ProcsFiles()
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	b.joins = files
	way := boxcfg.CgroupWay{Entry: boxcfg.EntryJoinsItself}
	for _, f := range files {
		way.JoinFDs = append(way.JoinFDs, int(f.Fd()))
	}
	way.Set(fe)
	return fe, nil
}

// reaperProcs is how many processes of the box's cgroup are not the
// program's: its pid 1, unless that lives apart (the vfork start).
func (b *box) reaperProcs() int {
	if b.prep != nil {
		return 0
	}
	return 1
}

// plan returns the compiled mount plan for a work directory, tmpfs size and
// binds, compiled once per distinct combination.
func (r *Runner) plan(workDir string, tmpfs int64, binds []sandbox.Bind) (*mount.Plan, error) {
	var key strings.Builder
	fmt.Fprintf(&key, "%s\x00%d", workDir, tmpfs)
	for _, bd := range binds {
		fmt.Fprintf(&key, "\x00%s\x00%s\x00%v", bd.Source, bd.Target, bd.Writable)
	}
	k := key.String()
	r.plansMu.Lock()
	p, ok := r.plans[k]
	r.plansMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := mount.Default(mount.Options{WorkDir: workDir, TmpfsSize: tmpfs, Binds: binds})
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err) // mount's errors name the plan
	}
	r.plansMu.Lock()
	if len(r.plans) >= maxCachedPlans {
		clear(r.plans) // callers with ever new binds: keep memory bounded
	}
	r.plans[k] = p
	r.plansMu.Unlock()
	return p, nil
}

// tearDown undoes everything prepare and run made, in reverse order. The
// program has been reaped by now (or never started).
func (b *box) tearDown() {
	b.mark("")
	if b.group != nil {
		// The box's processes are gone (its pid 1 was reaped, which the
		// kernel allows only once the rest of its pid namespace is dead)
		// and its figures were read: the rmdir can happen after the
		// result is returned. Runner.Close waits for it.
		if b.runner.noCgroupStock {
			b.group.Remove()
		} else {
			b.group.RemoveLater()
		}
	}
	b.mark("cgroup remove")
	if b.pidfd >= 0 {
		unix.Close(b.pidfd)
	}
	b.kmsg.Close()
	if b.netns >= 0 {
		unix.Close(b.netns)
	}
	if b.boxW >= 0 {
		// The last hold on the box's /w: its tmpfs is freed on close.
		b.runner.released.CloseLater(b.boxW)
	}
	if b.mntns >= 0 {
		b.runner.released.CloseLater(b.mntns)
	}
	if b.dir != nil {
		b.dir.Close()
	}
	b.binds.Close()
	b.mark("workdir close")
	if b.slot >= 0 {
		b.runner.releaseSlot(b.slot)
	}
	if b.devnul != nil {
		b.devnul.Close()
	}
	for _, f := range b.joins {
		f.Close()
	}
	// The vfork start's pid 1 was killed when the program ended: reaped
	// here, so that no process of the box outlives the run.
	if b.reaped != nil {
		b.reaped.Close()
	}
	b.mark("pid1 reap")
	// Every process of the box is gone (see above): its host id is free
	// for the next box.
	if b.prep != nil {
		b.prep.release() // the lease with it
		return
	}
	b.lease.Release()
}

func (r *Runner) takeSlot() int {
	r.slotsMu.Lock()
	defer r.slotsMu.Unlock()
	if n := len(r.freeSlots); n > 0 {
		s := r.freeSlots[n-1]
		r.freeSlots = r.freeSlots[:n-1]
		return s
	}
	r.nextSlot++
	return r.nextSlot - 1
}

func (r *Runner) releaseSlot(s int) {
	r.slotsMu.Lock()
	r.freeSlots = append(r.freeSlots, s)
	r.slotsMu.Unlock()
}
