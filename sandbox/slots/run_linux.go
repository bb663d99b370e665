package slots

// One run in a slot: its box (prepare, start, supervise, tear down) and its verdict.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/internal/mqueue"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/tty"
	"gosandbox/sandbox/unixsocket"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// groupSeq numbers the cgroups of every Runner of the process, runnerSeq
// the Runners (their slot numbers all start at 0: a work directory's name
// carries both).
var groupSeq, runnerSeq atomic.Uint64

// Run runs spec on a free slot (waiting for one) and returns its result.
// It returns an error only when the spec is invalid (nothing ran), the
// runner is closed, or ctx ended before the start.
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	spec, limits, err := r.check(spec)
	if err != nil {
		return sandbox.Result{}, err
	}
	if !r.enter() {
		return sandbox.Result{}, ErrClosed
	}
	defer r.wg.Done()
	s, err := r.take(ctx)
	if err != nil {
		return sandbox.Result{}, err
	}
	defer r.put(s)
	return r.runOn(ctx, s, spec, limits)
}

// check is the host-side pre-check every runner makes (sandbox.Spec.Prepare
// and the mount plan's, mount.CheckBinds), then the slot plan's own: its
// errors wrap sandbox.ErrInvalidSpec. It returns the spec as run and its
// limits with the defaults.
func (r *Runner) check(spec sandbox.Spec) (sandbox.Spec, sandbox.Limits, error) {
	spec, err := spec.Prepare()
	if err != nil {
		return sandbox.Spec{}, sandbox.Limits{}, err
	}
	limits := spec.Limits.WithDefaults()
	if err := mount.CheckBinds(spec.Binds, limits.Tmpfs); err != nil {
		return sandbox.Spec{}, sandbox.Limits{}, fmt.Errorf("%w: %w", sandbox.ErrInvalidSpec, err)
	}
	if err := r.checkLayout(spec.Binds, limits.Tmpfs); err != nil {
		return sandbox.Spec{}, sandbox.Limits{}, fmt.Errorf("%w: %w", sandbox.ErrInvalidSpec, err)
	}
	return spec, limits, nil
}

// enter counts a caller in (Close waits for it), unless the runner is
// closed.
func (r *Runner) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	return true
}

// runOn runs a checked spec on slot s, which the caller holds.
func (r *Runner) runOn(ctx context.Context, s *slot, spec sandbox.Spec, limits sandbox.Limits) (sandbox.Result, error) {
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, fmt.Errorf("slots: not started: %w", err)
	}
	r.postponeBackground()
	// Runs keep coming when another one is under way or the last one
	// ended a moment ago.
	busy := r.running.Add(1) > 1 || time.Now().UnixNano()-r.lastEnd.Load() < int64(backgroundDefer)
	defer func() {
		r.lastEnd.Store(time.Now().UnixNano())
		r.running.Add(-1)
	}()
	if s.userNS < 0 {
		// The slot's last rebuild failed (the host was short of
		// something for a moment): make it again now, or every later run
		// on it would fail.
		r.rebuilds.Add(1)
		err := s.rebuild()
		r.setLastErr(err)
		if err != nil {
			res := verdict.Decide(verdict.Facts{Limits: limits, StartErr: fmt.Errorf("slots: rebuild slot %d: %w", s.id, err)})
			res.Backend = BackendName
			return res, nil
		}
	}
	if !busy {
		// Until this run kicks it, after its result (the loop below
		// always does).
		r.holdBackground()
	}
	var res sandbox.Result
	for attempt := 0; ; attempt++ {
		b := &box{runner: r, slot: s, spec: spec, limits: limits, busy: busy, pidfd: -1, unixList: -1, netns: -1, ipcns: -1, mq: -1, mntns: -1, ahead: -1, boxW: -1, workTree: -1}
		var slotBad bool
		res, slotBad = b.run(ctx)
		b.tearDown()
		b.mark("teardown:rest")
		if !b.kicked {
			// After the result: the run's own teardown is queued too.
			b.kickBackground()
		}
		s.net.topUpLater()
		if !slotBad {
			break
		}
		// The slot's namespaces went bad: nothing of the program ran.
		// Make the slot anew and start the run there, once.
		r.rebuilds.Add(1)
		err := s.rebuild()
		r.setLastErr(err)
		if err != nil {
			res = verdict.Decide(verdict.Facts{Limits: limits, StartErr: fmt.Errorf("slots: rebuild slot %d: %w", s.id, err)})
			break
		}
		if attempt > 0 {
			// Bad again on a fresh slot: the program never ran.
			res = verdict.Decide(verdict.Facts{Limits: limits, StartErr: fmt.Errorf("slots: slot %d still bad after its rebuild", s.id)})
			break
		}
	}
	res.Backend = BackendName
	return res, nil
}

// checkLayout rejects binds no slot can hold (a bind over /proc, a target
// given twice) before anything runs, once per distinct layout.
func (r *Runner) checkLayout(binds []sandbox.Bind, tmpfs int64) error {
	_, key := layoutKey(binds, tmpfs)
	r.plansMu.Lock()
	err, ok := r.checked[key]
	r.plansMu.Unlock()
	if ok {
		return err
	}
	_, err = mount.Slot(mount.Options{TmpfsSize: tmpfs, Binds: binds}, 0, 0)
	r.plansMu.Lock()
	if len(r.checked) >= 64 {
		clear(r.checked)
	}
	r.checked[key] = err
	r.plansMu.Unlock()
	return err
}

// box is the state of one run on a slot, and what has to be undone.
type box struct {
	runner *Runner
	slot   *slot
	spec   sandbox.Spec
	limits sandbox.Limits

	dir      *workdir.Dir
	group    *cgroup.Group
	reaped   *forkexec.Reaped
	joins    []*os.File
	pidfd    int
	unixList int // the run's network namespace's /proc/net/unix, from the stock; -1 when none
	netns    int
	ipcns    int               // the run's IPC namespace from the stock; -1 when none
	mq       int               // a detached mount of ipcns's message queues; -1 when none
	mntns    int               // the run's mount copy, held so its teardown happens after the result
	ahead    int               // the run's mount copy made ahead (runNS.mount); -1 when none
	boxW     int               // O_PATH of the run's /w (its tmpfs or the host dir's bind), for the output check
	binds    *workdir.BindLook // the writable binds, for the output check; nil without
	devNull  *os.File          // the run's /dev/null for nil standard streams; nil when none
	workTree int               // detached mount of the host work directory
	held     forkexec.Held

	// kmsg marks the kernel log before the start of a kill-mode run: the
	// slot's host id is every run's, and only this run's records name its
	// denied call.
	kmsg *seccomp.LogMark

	lastMark time.Time // see mark
	kicked   bool      // kickBackground was called
	// busy: runs keep coming (another one runs, or the last one ended
	// less than backgroundDefer ago), so the runner's background work is
	// started while this run's program runs, where it does not hold up
	// the next run's start. Otherwise it is started once the result is
	// made: on a machine of two CPUs, whatever runs beside the program
	// (a namespace made or torn down, a cgroup made) slows it by a third
	// of the overlap, and a run that found the runner idle most likely
	// leaves it idle.
	busy bool
}

// slotSteps are the child's steps that fail when the slot's namespaces
// went bad, not because of the spec.
func slotStep(s forkexec.Step) bool {
	switch s {
	case forkexec.StepEnterMount, forkexec.StepCopyMount, forkexec.StepStash,
		forkexec.StepEnterNet, forkexec.StepEnterUser, forkexec.StepEnterIPC:
		return true
	}
	return false
}

// run runs the box; slotBad reports that the slot must be rebuilt (and
// the program did not run).
func (b *box) run(ctx context.Context) (res sandbox.Result, slotBad bool) {
	facts := verdict.Facts{Limits: b.limits, Syscalls: boxcfg.SyscallMode(b.spec)}
	// The parent-death signal of a pid 1 started here (lean slots, or a
	// warm slot whose pid 1 was not ready) and of the program fires when
	// the thread that clones it ends, and Go ends a thread whenever a
	// goroutine returns locked to it: held until the box is reaped, this
	// thread runs no other goroutine of the embedding program.
	release := forkexec.HoldThread()
	defer release()
	b.mark("")
	fe, err := b.prepare()
	b.mark("prepare:join+child")
	if err != nil {
		facts.StartErr = err
		return b.decide(facts), false
	}
	defer tty.Save(append([]*os.File{b.spec.Stdin, b.spec.Stdout, b.spec.Stderr}, b.spec.ExtraFiles...)...)()
	stopWatch := b.watchStart(ctx)
	pid, err := fe.Start()
	start := time.Now()
	b.mark("start")
	if why := stopWatch(); why != verdict.NotKilled {
		facts.Killed = why
		if why == verdict.KilledCancel {
			facts.Err = ctx.Err()
		} else {
			facts.Err = fmt.Errorf("slots: the box's set-up did not finish within %v", startTimeout)
		}
	}
	if err != nil {
		var ce *forkexec.ChildError
		if errors.As(err, &ce) && slotStep(ce.Step) && facts.Killed == verdict.NotKilled {
			return sandbox.Result{}, true
		}
		facts.StartErr = fmt.Errorf("start %s: %w", b.spec.Args[0], err)
		if facts.Killed != verdict.NotKilled {
			facts.StartErr = fmt.Errorf("%w (%v)", facts.Err, err)
		}
		return b.decide(facts), false
	}
	if b.busy {
		b.kickBackground()
		b.kicked = true
	}
	for _, f := range b.joins {
		f.Close()
	}
	b.joins = nil
	b.mark("after-start:kick")
	b.pidfd = openPidfd(pid)
	// The child left holds on the run's mount namespace and /w; where it
	// could not, they are taken through pid, which may be gone already.
	proc := "/proc/" + strconv.Itoa(pid)
	b.mntns = b.held.MountNS
	if b.mntns < 0 {
		b.mntns, _ = unix.Open(proc+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	// /w, the box's own or the host work directory's bind, is also the
	// way to /tmp and /dev/shm for the output check.
	b.boxW = b.held.WorkDir
	if b.boxW < 0 {
		b.boxW, _ = unix.Open(proc+"/root"+sandbox.WorkDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	b.mark("after-start:holds")
	b.supervise(ctx, pid, start, &facts, release)
	b.mark("supervise-end")
	if b.group != nil {
		usage, err := b.group.Usage()
		b.mark("usage")
		if err != nil && facts.Err == nil {
			facts.Err = fmt.Errorf("slots: read cgroup accounting: %w", err)
		}
		facts.Cgroup = &verdict.CgroupUsage{
			CPU: usage.CPU, MemoryPeak: usage.MemoryPeak, OOMKilled: usage.OOMKilled,
			ProcsPeak:  max(usage.ProcsPeak-b.reaperProcs(), 0),
			Accounting: b.runner.cgInfo.Accounting(),
		}
	}
	facts.FileAtLimit = b.fileAtLimit()
	b.mark("file-at-limit")
	res = b.decide(facts)
	b.mark("verdict")
	if len(b.spec.CopyOut) > 0 {
		res.Files, res.FileErrors = b.dir.CopyOut(b.spec.CopyOut, b.limits.Output)
	}
	return res, false
}

// kickBackground starts the runner's deferred background work (see
// backgroundDefer) and the slot's network stock refill: once the run's
// program runs when runs keep coming (box.busy), else once its result is
// made.
func (b *box) kickBackground() {
	b.slot.net.fillLater()
	b.runner.released.Kick()
	if b.runner.cgroups != nil {
		b.runner.cgroups.KickStock()
	}
}

// postponeBackground holds the deferred background work back while this
// run starts.
func (r *Runner) postponeBackground() {
	r.released.Postpone()
	if r.cgroups != nil {
		r.cgroups.PostponeStock()
	}
}

// holdBackground holds the runner's deferred work back until the next
// kickBackground, for a run that found the runner idle: the cgroup stock's
// refill, which taking a stocked group arms, would otherwise start
// backgroundDefer later, beside the program.
func (r *Runner) holdBackground() {
	if r.cgroups != nil {
		r.cgroups.HoldStock()
	}
}

// prepare makes the run's work directory, cgroup, network namespace and the
// child's description.
func (b *box) prepare() (*forkexec.Runner, error) {
	r, s := b.runner, b.slot
	var err error
	if r.apart {
		b.reaped = s.net.takePid1() // started ahead, while the slot was idle
	}
	if b.reaped == nil {
		if b.reaped, err = forkexec.NewReaped(); err != nil {
			return nil, fmt.Errorf("slots: %w", err)
		}
	}
	if r.apart {
		// Pid 1 first: its exec runs while the rest is prepared, instead
		// of beside the child's start. (Nothing to do for one started
		// ahead.)
		if err := b.reaped.StartApart(syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("slots: %w", err)
		}
	}
	b.mark("prepare:pid1")
	if err := s.prepareMounts(b.spec.Binds, b.limits.Tmpfs); err != nil {
		return nil, err
	}
	b.binds = workdir.LookAtBinds(b.spec.Binds, b.limits.Output, s.lease.UID)
	ownWork := len(b.spec.CopyIn) > 0 || len(b.spec.CopyOut) > 0
	if ownWork {
		// The host must reach /w before or after the run: a host
		// directory, moved into the box as a detached mount.
		dir, err := workdir.New(workdir.Options{
			Root: r.opts.WorkRoot,
			Size: b.limits.Tmpfs,
			Name: fmt.Sprintf("%s%d-r%d-%d", namePrefix, os.Getpid(), r.id, s.id),
			UID:  s.lease.UID,
			GID:  s.lease.GID,
		})
		if err != nil {
			return nil, err
		}
		b.dir = dir
		if err := dir.CopyIn(b.spec.CopyIn); err != nil {
			return nil, err
		}
		tree, err := unix.OpenTree(unix.AT_FDCWD, dir.Path(), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
		if err != nil {
			return nil, fmt.Errorf("slots: detach a copy of the work directory: %w", err)
		}
		b.workTree = tree
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE,
			&unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}); err != nil {
			return nil, fmt.Errorf("slots: work directory nosuid, nodev: %w", err)
		}
	}
	b.mark("prepare:mounts")
	if r.cgroups != nil {
		name := fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), groupSeq.Add(1))
		g, err := r.cgroups.Create(name, cgroup.Limits{Memory: b.limits.Memory, Procs: b.limits.Procs + b.reaperProcs(), CPUSet: b.limits.CPUSet})
		if err != nil {
			return nil, fmt.Errorf("slots: %w", err)
		}
		b.group = g
	}
	b.mark("prepare:cgroup")
	files, devNull, err := boxcfg.ChildFiles(b.spec)
	if err != nil {
		return nil, fmt.Errorf("slots: %w", err)
	}
	b.devNull = devNull
	b.mark("prepare:files")
	if boxcfg.SyscallMode(b.spec) == sandbox.SyscallsKill {
		b.kmsg = seccomp.MarkLog()
	}
	fe, err := boxcfg.Child(boxcfg.Input{Spec: b.spec, Limits: b.limits, Files: files, Reaped: b.reaped, Cgroup: b.group != nil,
		ReaperApart: r.apart})
	if err != nil {
		return nil, fmt.Errorf("slots: %w", err)
	}
	b.mark("prepare:config")
	ns, err := s.net.take()
	if err != nil {
		return nil, err
	}
	b.netns, b.ipcns, b.mq = ns.net, ns.ipc, ns.mq
	if ns.unixList > 0 {
		b.unixList = ns.unixList
	}
	mountNS, mounts := s.mntNS, s.plan.Run
	if ownWork {
		mounts = s.plan.RunOwnWork
	}
	if ns.mount > 0 && ns.mountGen == s.mountGen {
		b.ahead, mountNS = ns.mount, ns.mount // the copy made ahead for this run
	} else if ns.mount > 0 {
		unix.Close(ns.mount) // made of a namespace the slot no longer has
	}
	b.mark("prepare:netns")
	fe.CloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWUTS
	fe.Vfork = true
	fe.Slot = &forkexec.Slot{
		UserNS:   s.userNS,
		MountNS:  mountNS,
		NetNS:    b.netns,
		IPCNS:    b.ipcns,
		Stash:    mount.SlotStash,
		Mounts:   mounts,
		WorkTree: b.workTree,
		Held:     &b.held,

		MountMadeAhead: b.ahead >= 0,
	}
	if b.group != nil {
		// The child writes itself into the run's groups first thing (v1:
		// each hierarchy's tasks file; v2: cgroup.procs): every later step
		// and the program are accounted there, and no supervisor thread
		// ever enters them. Then a cgroup namespace rooted there.
		fds, err := b.group.JoinFDs()
		if errors.Is(err, cgroup.ErrNoJoinFDs) {
			var files []*os.File
			if files, err = b.group.ProcsFiles(); err == nil {
				b.joins = files
				for _, f := range files {
					fds = append(fds, int(f.Fd()))
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("slots: %w", err)
		}
		boxcfg.CgroupWay{Entry: boxcfg.EntryJoinsItself, JoinFDs: fds}.Set(fe)
	} else {
		fe.CloneFlags |= unix.CLONE_NEWCGROUP
	}
	return fe, nil
}

// programPid is the program's host pid given the pid supervise waits
// for: that is the program itself when pid 1 lives apart, else pid 1, whose
// child's pid the supervisor does not learn (0).
func (b *box) programPid(waited int) int {
	if b.runner.apart {
		return waited
	}
	return 0
}

// reaperProcs is how many processes of the box's cgroup are not the
// program's: its pid 1, unless that lives apart (forkexec.Runner.ReaperApart).
func (b *box) reaperProcs() int {
	if b.runner.apart {
		return 0
	}
	return 1
}

func (b *box) decide(f verdict.Facts) sandbox.Result {
	res := verdict.Decide(f)
	if f.Cgroup == nil && b.group != nil {
		res.Accounting = b.runner.cgInfo.Accounting()
	}
	return res
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

// tearDown undoes what prepare and run made. The box's processes are gone.
func (b *box) tearDown() {
	b.mark("copy-out")
	if b.group != nil {
		b.group.RemoveLater()
	}
	b.mark("teardown:cgroup")
	closeFD(&b.pidfd)
	// The run's network namespace and mount copy die with their last
	// descriptor: after the result, off the run's path.
	b.runner.released.CloseLater(b.netns)
	b.runner.released.CloseLater(b.boxW)
	b.runner.released.CloseLater(b.mntns)
	b.runner.released.CloseLater(b.ahead)
	closeFD(&b.workTree)
	if b.devNull != nil {
		b.devNull.Close()
	}
	b.kmsg.Close()
	if b.dir != nil {
		b.dir.Close()
	}
	b.binds.Close()
	for _, f := range b.joins {
		f.Close()
	}
	// An apart pid 1 was killed when the program ended; it is reaped
	// before Run returns (as one-shot does), so no process of the box
	// outlives its run.
	b.mark("teardown:closes")
	b.reaped.Close() // reaped already when it lived apart (supervise)
	b.mark("teardown:reap-pid1")
	// The box's processes are all gone with pid 1, so this is the IPC
	// namespace's last reference: its message queues go with it, and
	// with them the bytes charged to the slot's host uid, which the next
	// run keeps (U3). The kernel frees it in a work item after an RCU
	// grace period; closing here, not in the release queue (2 ms later,
	// or at the next run's start), starts that at once. The close itself
	// only queues the work. Its POSIX message queues are removed first,
	// through the mount made with the namespace: the work comes some time
	// after (an RCU grace period, up to 25 ms and more here), and a run
	// that arrives before it would find the bytes of the last one's queues
	// still charged (mq_open fails with EMFILE). A failure leaves them to
	// the kernel's free.
	if b.mq >= 0 {
		_ = mqueue.RemoveAt(b.mq)
		b.mark("teardown:mqueues")
		b.runner.released.CloseLater(b.mq) // its release waits for RCU
		b.mq = -1
	}
	closeFD(&b.ipcns)
	// A cycle of descriptors in flight the program left is charged to the
	// slot's host uid, which the next run keeps (U7): the kernel refuses
	// that uid more past RLIMIT_NOFILE until its collector, a background
	// worker, has freed the cycle, and a run arriving before on a busy host
	// could not pass one descriptor. The run's list shows such sockets:
	// none is one read; some are waited for. Without the list (it could
	// not be opened) the collection is only started.
	if b.unixList >= 0 {
		_ = unixsocket.AwaitNoneListed(b.unixList, inFlightCollections)
		// The list holds the run's network namespace: let go with the
		// namespace itself, later (its teardown beside the next run's
		// start cost back to back runs 0.1-0.3x the floor).
		b.runner.released.CloseLater(b.unixList)
		b.unixList = -1
	} else {
		unixsocket.CollectGarbage()
	}
	b.mark("teardown:in-flight")
}

// inFlightCollections is how many collections a teardown has run for the
// sockets a run left in flight; what they leave is held from outside the
// box (its stream may be a unix socket) and no collection frees it.
const inFlightCollections = 3

// startTimeout bounds the box's set-up (clone to execve).
const startTimeout = 30 * time.Second

// watchStart kills the child if its set-up outlives startTimeout or ctx
// ends meanwhile, through its cgroup (which it joins before it can block).
func (b *box) watchStart(ctx context.Context) (stop func() verdict.KillReason) {
	if b.group == nil {
		return func() verdict.KillReason { return verdict.NotKilled }
	}
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
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		return why
	}
}

type exit struct {
	status syscall.WaitStatus
	rusage unix.Rusage
	err    error
	at     time.Time
	// pid1Reaping: supervise killed the apart pid 1 and reaps it.
	pid1Reaping bool
}

// supervise enforces the wall and CPU limits and the caller's output and
// context while the program runs, and reaps the box's pid 1.
//
// The caller holds the thread that cloned the program (see run) and waits
// for it on that thread, in the system call, while another goroutine
// watches the limits: a locked goroutine blocked on a channel would need
// its thread woken and handed the processor when the program ends, a
// thread switch on the path of every result. The thread is let go
// (release) once the program is reaped and its pid 1 told to go.
func (b *box) supervise(ctx context.Context, pid int, start time.Time, facts *verdict.Facts, release func()) {
	exited := make(chan exit, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.watch(ctx, pid, start, facts, exited)
	}()
	var e exit
	e.at, e.err = forkexec.WaitExit(pid, (*unix.WaitStatus)(&e.status), &e.rusage)
	if e.err != nil || !b.runner.apart {
		release()
		exited <- e
		<-watched
		return
	}
	// The apart pid 1 goes as soon as the program is gone, and is reaped
	// here while the watcher makes the result. The box's figures and the
	// look for a file at the output limit come after supervise, once
	// every process of the box is gone: until pid 1's end has killed
	// them, one the program left behind still runs (for milliseconds on a
	// busy host), and its CPU would be missed by the total (R2, a CPU
	// limit's verdict) or it could bring a file to the limit behind the
	// look (R10). From here on only this goroutine touches b.reaped.
	b.reaped.Kill()
	e.pid1Reaping = true
	release()
	exited <- e
	b.reaped.Close()
	<-watched
}

// watch is supervise's watcher: it kills the box when a limit is reached
// or ctx ends, and makes the facts of the run once exited says how it
// ended.
func (b *box) watch(ctx context.Context, pid int, start time.Time, facts *verdict.Facts, exited <-chan exit) {
	wall := time.NewTimer(b.limits.Wall - time.Since(start))
	defer wall.Stop()
	poll := b.runner.opts.CPUPoll
	if poll <= 0 {
		poll = DefaultCPUPoll
	}
	cpuTick := time.NewTicker(poll)
	defer cpuTick.Stop()
	stop := make(chan struct{})
	defer close(stop)
	overflow := workdir.Overflow(ctx, stop)
	done := ctx.Done()
	kill := func(why verdict.KillReason) {
		if facts.Killed == verdict.NotKilled {
			facts.Killed = why
		}
		b.killBox(pid)
	}
	for {
		select {
		case e := <-exited:
			b.mark("run")
			facts.Wall = e.at.Sub(start)
			if e.err != nil {
				facts.Err = fmt.Errorf("slots: wait4: %w", e.err)
				facts.Killed = verdict.KilledFailure
				b.killBox(pid)
			}
			facts.Status = e.status
			if !e.pid1Reaping {
				// Pid 1 goes now, and with it whatever the program left
				// in the box's pid namespace.
				b.reaped.Kill()
				if st, ok := b.reaped.Status(); ok && e.err == nil {
					facts.Status = syscall.WaitStatus(st)
				}
			}
			b.mark("kill-pid1")
			facts.Rusage = &e.rusage
			if facts.Status.Signaled() && facts.Status.Signal() == syscall.SIGSYS && facts.Syscalls == sandbox.SyscallsKill {
				facts.DeniedSyscall = b.kmsg.DeniedSyscallOf(b.programPid(pid), b.slot.lease.UID)
			}
			for _, w := range workdir.Watches(ctx) {
				select {
				case <-w:
					facts.OutputExceeded = true
				default:
				}
			}
			b.mark("status")
			if b.group != nil && !b.runner.apart {
				// With pid 1 apart, its end (just asked for) takes every
				// process of the box: they all live in its pid namespace,
				// and it is reaped before Run returns.
				b.group.KillAll()
			}
			b.mark("killall")
			return
		case <-wall.C:
			kill(verdict.KilledWall)
		case <-cpuTick.C:
			if facts.Killed != verdict.NotKilled {
				continue
			}
			if cpu, err := b.cpuUsed(pid); err == nil && cpu >= b.limits.CPU {
				kill(verdict.KilledCPU)
			}
		case <-overflow:
			facts.OutputExceeded = true
			kill(verdict.KilledOutput)
			overflow = nil
		case <-done:
			if facts.Killed == verdict.NotKilled {
				facts.Err = ctx.Err()
			}
			kill(verdict.KilledCancel)
			done = nil
		}
	}
}

// killBox kills the box's pid 1, which takes its pid namespace with it, and
// every process of its cgroup.
func (b *box) killBox(pid int) {
	if b.pidfd >= 0 {
		unix.PidfdSendSignal(b.pidfd, unix.SIGKILL, nil, 0)
	} else {
		unix.Kill(pid, unix.SIGKILL)
	}
	if b.group != nil {
		b.group.KillAll()
	}
}

// cpuUsed is the box's CPU total from its cgroup. Without one, RLIMIT_CPU
// (the real limit then, see rlimit.FromLimits) stops each process.
func (b *box) cpuUsed(int) (time.Duration, error) {
	if b.group != nil {
		return b.group.CPU()
	}
	return 0, errNoCPUFigure
}

var errNoCPUFigure = errors.New("slots: no CPU figure without cgroups")

func openPidfd(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	unix.CloseOnExec(fd)
	return fd
}
