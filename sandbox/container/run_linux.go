package container

// One run in a container: the exec request, its supervision (wall, CPU, output, cancel) and its verdict.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/tty"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// cpuPoll is the period of the CPU-limit check.
const cpuPoll = 10 * time.Millisecond

// Run runs spec in the container and returns its result. The spec must be
// valid and of the container's shape (the Pool sees to both). Failures of
// the container itself are internal-error results, and the container is
// then Broken.
func (c *Container) Run(ctx context.Context, spec sandbox.Spec) sandbox.Result {
	res, _ := c.runOnce(ctx, spec)
	return res
}

// runOnce is Run, also saying whether the program surely never ran: the
// container broke before the init took the request (its socket was closed
// already, or it died before the program was placed in its cgroup). Such a
// run may be retried on another container.
func (c *Container) runOnce(ctx context.Context, spec sandbox.Spec) (res sandbox.Result, neverRan bool) {
	// Terminal modes the program changes do not outlive the run (H4).
	defer tty.Save(append([]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.ExtraFiles...)...)()
	limits := spec.Limits.WithDefaults()
	r := &runState{
		c:      c,
		spec:   spec,
		limits: limits,
		facts:  verdict.Facts{Limits: limits, Syscalls: boxcfg.SyscallMode(spec)},

		selfReset: c.selfReset,
	}
	c.selfReset = false
	if spec.Stdin == nil || spec.Stdout == nil || spec.Stderr == nil {
		// A /dev/null of the run's own: file locks belong to the open
		// file, and a run's locks on one that later runs were handed too
		// would reach them (U7) and pile up.
		dn, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			res = r.internal(fmt.Errorf("container: %w", err))
			res.Backend = BackendName
			return res, false
		}
		defer dn.Close()
		r.devNull = dn
	}
	res = r.execute(ctx)
	if len(spec.CopyOut) > 0 && res.Status != sandbox.StatusInternalError {
		res.Files, res.FileErrors = c.wd.CopyOut(spec.CopyOut, limits.Output)
	}
	res.Backend = BackendName
	c.runs++
	c.lastUsed = time.Now()
	return res, res.Status == sandbox.StatusInternalError && !r.mayHaveRun && c.Broken() != nil
}

// runState is one run in progress: what it asked for and what has been
// learnt of it so far. It lives as long as Container.runOnce.
type runState struct {
	c      *Container
	spec   sandbox.Spec
	limits sandbox.Limits // spec.Limits.WithDefaults()
	// facts are what the verdict is decided from, filled in as the run goes.
	facts verdict.Facts
	// entry is how the program enters the container's cgroup this time.
	entry boxcfg.CgroupEntry
	// seq is the exec's sequence number, which every message of the run
	// echoes; start is when the exec was sent, the start of the wall time
	// (monotonic, R13).
	seq   uint32
	start time.Time
	// started: the program is under way (at once without the round trip,
	// after the host's proceed with it).
	started bool
	// pidSeen: the init reported the program's pid (a start without the
	// round trip, which needs no answer).
	pidSeen bool
	// programPid is the host pid of the program, from the credentials of
	// its started message: it names a denied syscall, and without cgroups
	// gives the program's CPU.
	programPid int
	// kmsg marks the kernel log before a kill-mode run starts: a record
	// from before it with the program's pid is another process's (pids
	// wrap).
	kmsg *seccomp.LogMark
	// mayHaveRun: the run got far enough that the program may have run, so
	// it must not be retried on another container.
	mayHaveRun bool
	// devNull is the run's /dev/null for nil standard streams.
	devNull *os.File
	// binds looks at the writable binds for a file at the output limit.
	binds *workdir.BindLook
	// selfReset: the caller waits for the init's reset after the run
	// (Container.selfReset); resetAfter: the exec asked for it, and the
	// host does not look at /w after the run (Exec.ResetAfter).
	selfReset, resetAfter bool
}

func (r *runState) decide() sandbox.Result {
	res := verdict.Decide(r.facts)
	if r.facts.Cgroup == nil && r.c.group != nil {
		res.Accounting = r.c.b.cgInfo.Accounting()
	}
	return res
}

// internal ends the run as an internal-error (or what err says of it).
func (r *runState) internal(err error) sandbox.Result {
	r.facts.StartErr = err
	return r.decide()
}

// endedBy ends the run, at this moment, with the container broken by err.
func (r *runState) endedBy(err error) sandbox.Result {
	r.facts.Wall = time.Since(r.start)
	return r.internal(r.c.fail(err))
}

// execute prepares the container for the run, sends the exec and
// supervises the program to its end.
func (r *runState) execute(ctx context.Context) sandbox.Result {
	c, spec := r.c, r.spec
	if err := c.Broken(); err != nil {
		return r.internal(err)
	}
	if err := c.wd.CopyIn(spec.CopyIn); err != nil {
		return r.internal(fmt.Errorf("container: %w", err))
	}
	if c.group != nil {
		if l := groupLimits(r.limits); l != c.groupLimits {
			if l.CPUSet != "" && c.groupLimits.CPUSet == "" {
				c.cpusetLater = true
			}
			if err := c.group.Reset(l); err != nil {
				return r.internal(c.fail(fmt.Errorf("set cgroup limits: %w", err)))
			}
			c.groupLimits = l
		}
	}
	if n := argBytes(spec); n > maxArgBytes {
		// The kernel refuses this in execve whatever the stack limit; say
		// so as it would, without shipping megabytes to the init.
		return r.internal(&startError{protocol.ExecFailed{ProgramFault: true, Errno: uint32(unix.E2BIG),
			Message: fmt.Sprintf("execve: %v (%d bytes of arguments and environment, the kernel takes at most %d)", unix.E2BIG, n, maxArgBytes)}})
	}
	x, fds := r.execRequest()
	r.entry = c.runEntry()
	// The round trip for one run of a container whose programs join the
	// group by themselves: the init must be told.
	x.Sync = c.entry == boxcfg.EntryJoinsItself && r.entry == boxcfg.EntryHostMoves
	// What the protocol cannot carry is refused here, so that the init
	// never sees a request it must reject (and the container survives).
	if len(x.Files) > protocol.MaxChildFiles {
		return r.internal(fmt.Errorf("container: %d descriptors for the program, at most %d", len(x.Files), protocol.MaxChildFiles))
	}
	if len(x.Hostname) > protocol.MaxHostname {
		return r.internal(fmt.Errorf("container: hostname %q: longer than %d bytes", x.Hostname, protocol.MaxHostname))
	}
	if r.facts.Syscalls == sandbox.SyscallsKill {
		r.kmsg = seccomp.MarkLog()
		defer r.kmsg.Close()
	}
	boxUID := -1 // none known: every box uid's file counts as another box's
	if c.lease != nil {
		boxUID = c.lease.UID
	}
	r.binds = workdir.LookAtBinds(spec.Binds, r.limits.Output, boxUID)
	defer r.binds.Close()
	r.start = time.Now() // monotonic (R13)
	seq, err := c.send(protocol.KindExec, protocol.MarshalExec(x), fds, nil)
	if err != nil {
		return r.internal(err)
	}
	r.seq = seq
	// Without the round trip the init may start the program as soon as it
	// reads the request.
	r.started = !roundTrip(r.entry)
	r.mayHaveRun = r.started
	return r.supervise(ctx)
}

// rlimitConf is what the init sets for a run of these limits. Raises
// nothing the init's start did not (the same defaults), but lowers
// RLIMIT_CORE as the init's start found it must; a limit that cannot be
// raised is named by the init's setrlimit. The last answer is kept: working
// it out reads each of this process's limits (nine system calls, some 45 µs
// before every exec on a paravirtualised host), and the init's own limits,
// which bound the program's, were fixed when it started.
func (c *Container) rlimitConf(limits sandbox.Limits) []protocol.RLimitConf {
	cgroups := c.group != nil
	if c.rlimits.conf != nil && c.rlimits.limits == limits && c.rlimits.cgroups == cgroups {
		return c.rlimits.conf
	}
	rlimits, _ := boxcfg.RLimits(limits, cgroups)
	conf := make([]protocol.RLimitConf, 0, len(rlimits))
	for _, rl := range rlimits {
		conf = append(conf, protocol.RLimitConf{Resource: int32(rl.Resource), Cur: rl.Limit.Cur, Max: rl.Limit.Max})
	}
	c.rlimits.limits, c.rlimits.cgroups, c.rlimits.conf = limits, cgroups, conf
	return conf
}

// maxArgBytes is the most argv and environment execve accepts with any
// stack limit: three quarters of the kernel's 8 MiB cap on the stack rlimit
// it takes into account (fs/exec.c).
const maxArgBytes = 6 << 20

func argBytes(spec sandbox.Spec) int {
	n := 0
	for _, l := range [][]string{spec.Args, spec.Env} {
		for _, s := range l {
			n += len(s) + 1
		}
	}
	return n
}

// execRequest describes the program for the init, with the descriptors to
// pass: one per open child descriptor, nil standard streams being /dev/null.
// The defaults are those of every runner (sandbox/boxcfg).
func (r *runState) execRequest() (protocol.Exec, []int) {
	spec := r.spec
	x := protocol.Exec{
		Args:     spec.Args,
		Env:      spec.Env,
		Dir:      boxcfg.Dir(spec),
		Hostname: boxcfg.Hostname(spec),
		Syscalls: string(boxcfg.SyscallMode(spec)),
		Queued:   r.c.queued,
	}
	r.c.queued = false
	// The init may wipe /w as soon as the program exited when the host
	// reads nothing there afterwards: no copy-out, and no copied-in file
	// at the output limit, which only the host can tell from output.
	r.resetAfter = r.selfReset && len(spec.CopyOut) == 0 && !r.c.wd.PlacedAtLeast(r.limits.Output)
	x.ResetAfter = r.resetAfter
	x.RLimits = r.c.rlimitConf(r.limits)
	var fds []int
	for i, f := range append([]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.ExtraFiles...) {
		switch {
		case f != nil:
			// Fd puts the descriptor in blocking mode, which is what a
			// program expects of its standard streams.
			fds = append(fds, int(f.Fd()))
			x.Files = append(x.Files, true)
		case i < 3:
			fds = append(fds, int(r.devNull.Fd()))
			x.Files = append(x.Files, true)
		default:
			x.Files = append(x.Files, false)
		}
	}
	return x, fds
}

// supervise waits for the program's end while enforcing the wall and CPU
// limits, the captures' output limit and the caller's context.
func (r *runState) supervise(ctx context.Context) sandbox.Result {
	c, facts := r.c, &r.facts
	wall := time.NewTimer(r.limits.Wall)
	defer wall.Stop()
	var cpuTick <-chan time.Time
	if c.group != nil || r.limits.CPU > 0 {
		t := time.NewTicker(cpuPoll)
		defer t.Stop()
		cpuTick = t.C
	}
	var grace <-chan time.Time
	// The init answers an exec at once: when the program waits in the sync
	// step, a missing Started means a stuck init, not a slow program.
	var startTimeout <-chan time.Time
	if roundTrip(r.entry) {
		t := time.NewTimer(c.b.replyTimeout())
		defer t.Stop()
		startTimeout = t.C
	}
	stop := make(chan struct{})
	defer close(stop)
	overflow := workdir.Overflow(ctx, stop)
	done := ctx.Done()
	killSent := false
	kill := func(why verdict.KillReason) {
		if facts.Killed == verdict.NotKilled {
			facts.Killed = why
		}
		if !killSent {
			killSent = true
			if _, err := c.send(protocol.KindKill, nil, nil, nil); err != nil {
				return // the dead channel ends the wait
			}
			grace = time.After(c.b.replyTimeout())
		}
	}
	for {
		select {
		case m := <-c.in:
			if res, end := r.handle(ctx, m); end {
				return res
			}
		case <-c.dead:
			if !roundTrip(r.entry) && !killSent && !r.pidSeen && errors.Is(c.deadErr, unix.ECONNRESET) {
				// The init closed its end with our exec still unread in
				// its queue (the kernel says so with ECONNRESET, and
				// nothing else was sent to it): the program never ran, so
				// the run may move to another container.
				r.mayHaveRun = false
			}
			return r.endedBy(fmt.Errorf("container init lost during the run: %w", c.deadErr))
		case <-startTimeout:
			if !r.started {
				return r.endedBy(fmt.Errorf("the init did not start the program within %v", c.b.replyTimeout()))
			}
		case <-grace:
			return r.endedBy(fmt.Errorf("the init did not end the program within %v of the kill", c.b.replyTimeout()))
		case <-wall.C:
			kill(verdict.KilledWall)
		case <-cpuTick:
			if facts.Killed != verdict.NotKilled || !r.started {
				continue
			}
			cpu, err := r.programCPU()
			if err != nil {
				continue
			}
			facts.SampledCPU = max(facts.SampledCPU, cpu)
			if r.limits.CPU > 0 && cpu >= r.limits.CPU {
				kill(verdict.KilledCPU)
			}
		case <-overflow:
			facts.OutputExceeded = true
			overflow = nil
			kill(verdict.KilledOutput)
		case <-done:
			done = nil
			if facts.Killed == verdict.NotKilled {
				facts.Err = ctx.Err()
			}
			kill(verdict.KilledCancel)
		}
	}
}

// programCPU is the run's CPU total: its cgroup's, or without cgroups the
// program's own (every thread, and the children it reaped) from /proc. The
// RLIMIT_CPU backstop sits a second or more above the limit, and a slow
// machine's tick-based CPU clock overshoots it further.
func (r *runState) programCPU() (time.Duration, error) {
	if r.c.group != nil {
		return r.c.group.CPU()
	}
	if r.programPid <= 0 {
		return 0, errors.New("container: the program's pid is not known yet")
	}
	return rlimit.ProcessCPU(r.programPid)
}

// handle handles one message of the run; end says the run is over and res
// is its result.
func (r *runState) handle(ctx context.Context, m protocol.Message) (res sandbox.Result, end bool) {
	defer m.CloseFDs()
	c, facts := r.c, &r.facts
	bad := func(err error) (sandbox.Result, bool) { return r.endedBy(err), true }
	if m.Seq != r.seq || len(m.FDs) != 0 {
		return bad(protocol.Errorf("%s (seq %d, %d descriptors) during run %d", m.Kind, m.Seq, len(m.FDs), r.seq))
	}
	switch m.Kind {
	case protocol.KindStarted:
		if r.pidSeen {
			return bad(protocol.Errorf("started twice"))
		}
		if _, err := protocol.UnmarshalStarted(m.Body); err != nil {
			return bad(err)
		}
		if m.Cred == nil || m.Cred.Pid <= 0 {
			return bad(protocol.Errorf("started without the program's pid as credentials"))
		}
		r.pidSeen = true
		r.programPid = int(m.Cred.Pid)
		if !roundTrip(r.entry) {
			// The program joined its cgroup by itself (or there is none);
			// the init only says which process it is.
			return sandbox.Result{}, false
		}
		r.started = true
		r.mayHaveRun = true
		p := protocol.Proceed{OK: true}
		if err := c.group.AddProc(r.programPid); err != nil {
			p = protocol.Proceed{Message: fmt.Sprintf("join cgroup: %v", err)}
		}
		if err := c.sendSeq(protocol.KindProceed, r.seq, protocol.MarshalProceed(p), nil, nil); err != nil {
			return bad(err)
		}
		return sandbox.Result{}, false
	case protocol.KindExecFailed:
		f, err := protocol.UnmarshalExecFailed(m.Body)
		if err != nil {
			return bad(err)
		}
		facts.Wall = time.Since(r.start)
		var e error = &startError{f}
		if facts.Killed == verdict.KilledCancel && facts.Err != nil {
			e = fmt.Errorf("%w: %w", facts.Err, e)
		}
		res := r.internal(e)
		if c.group != nil && facts.Killed == verdict.NotKilled && unix.Errno(f.Errno) == unix.ENOMEM {
			// A start cut short for want of memory (the child joins its
			// group first thing) with the group at its limit is the
			// limit's verdict.
			if u, err := c.group.Usage(); err == nil && memoryAtLimit(u, facts.Limits.Memory) {
				res.Status = sandbox.StatusMemoryLimit
				res.Message = fmt.Sprintf("memory limit %s reached before the program started: %s", sandbox.FormatSize(facts.Limits.Memory), f.Message)
				res.OOMKilled = u.OOMKilled
				res.MemoryBytes = u.MemoryPeak
			}
		}
		return res, true
	case protocol.KindExited:
		x, err := protocol.UnmarshalExited(m.Body)
		if err != nil {
			return bad(err)
		}
		if !r.started {
			return bad(protocol.Errorf("exited before started"))
		}
		if r.resetAfter {
			c.resetOwed = r.seq
		}
		r.exited(ctx, x)
		return r.decide(), true
	}
	return bad(protocol.Errorf("unexpected %s during a run", m.Kind))
}

// exited records how the program ended, and what the run left behind.
func (r *runState) exited(ctx context.Context, x protocol.Exited) {
	c, facts := r.c, &r.facts
	facts.Wall = time.Since(r.start)
	facts.Status = syscall.WaitStatus(x.WaitStatus)
	facts.Rusage = &unix.Rusage{
		Utime:  unix.NsecToTimeval(x.UserNanos),
		Stime:  unix.NsecToTimeval(x.SysNanos),
		Maxrss: x.MaxRSSKiB,
		Nvcsw:  x.VoluntarySwitches,
		Nivcsw: x.ForcedSwitches,
	}
	// After a run with ResetAfter the init is wiping /w already: it
	// looked there itself, and said so with the scratch flag.
	facts.FileAtLimit = workdir.StreamAtLimit(facts.Limits.Output, r.spec.Stdout, r.spec.Stderr) ||
		x.ScratchAtLimit || r.binds.AtLimit() || (!r.resetAfter && c.wd.HasFileAtLeast(facts.Limits.Output))
	if facts.Status.Signaled() && facts.Status.Signal() == syscall.SIGSYS && r.programPid > 0 {
		facts.DeniedSyscall = r.kmsg.DeniedSyscallOf(r.programPid, -1)
	}
	// A capture that overflowed stops reading: the program may have died
	// of SIGPIPE before the overflow reached supervise's select.
	for _, w := range workdir.Watches(ctx) {
		select {
		case <-w:
			facts.OutputExceeded = true
		default:
		}
	}
	if c.group != nil {
		u, err := c.group.Usage()
		if err != nil && facts.Err == nil {
			facts.Err = fmt.Errorf("container: read cgroup accounting: %w", err)
		}
		facts.Cgroup = &verdict.CgroupUsage{
			CPU: u.CPU, MemoryPeak: u.MemoryPeak, OOMKilled: u.OOMKilled,
			ProcsPeak: u.ProcsPeak, Accounting: c.b.cgInfo.Accounting(), PeakSource: u.PeakSource,
		}
	}
}

// memoryAtLimit reports whether the group's memory use reached its limit:
// the kernel says so (a failed charge, an OOM kill), or the peak is within a
// page of it, where the next charge fails (kernels that count no failure
// for a limit rounded down to 0).
func memoryAtLimit(u cgroup.Usage, limit int64) bool {
	return u.MemoryLimitHit || u.OOMKilled || (limit > 0 && u.MemoryPeak+int64(os.Getpagesize()) > limit)
}

// startError is a program that never ran, as the init reported it. It is
// the program's fault (exec-error) when execve itself refused it.
type startError struct{ f protocol.ExecFailed }

func (e *startError) Error() string      { return e.f.Message }
func (e *startError) ProgramFault() bool { return e.f.ProgramFault }
