package container

// The container's init: MaybeRunInit, the message loop, exec of a program, reset.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/unixsocket"
)

// initMarker is argv[1] of a container's init. The host starts the init as
// [initArgv0, initMarker]; nothing else uses this argument.
const (
	initArgv0  = "gosandbox-init"
	initMarker = "__gosandbox_container_init__"
	// initSocketFD is where the init finds its end of the socket pair
	// (exec.Cmd.ExtraFiles[0]).
	initSocketFD = 3
)

// mountPlanFailure starts the error text of a conf whose mount plan could not
// be compiled (the host then makes the plan's skeleton afresh and retries).
const mountPlanFailure = "init: mount plan:"

// skeletonMarker is argv[1] of the skeleton helper (see prepareSkeleton).
const skeletonMarker = "__gosandbox_container_skeleton__"

// runSkeletonHelper compiles the default mount plan of the Conf it reads on
// stdin, as root on the host, which creates the plan's skeleton directory
// if it is missing, and exits. It does nothing else.
func runSkeletonHelper() int {
	b, err := io.ReadAll(io.LimitReader(os.Stdin, protocol.MaxPacket))
	if err == nil {
		var c protocol.Conf
		if c, err = protocol.UnmarshalConf(b); err == nil {
			_, err = mount.Default(mount.Options{WorkDir: c.WorkDir, TmpfsSize: c.TmpfsSize, Binds: bindsOf(c)})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func bindsOf(c protocol.Conf) []sandbox.Bind {
	binds := make([]sandbox.Bind, len(c.Binds))
	for i, b := range c.Binds {
		binds[i] = sandbox.Bind{Source: b.Source, Target: b.Target, Writable: b.Writable}
	}
	return binds
}

// perRunNamespaces are made fresh for every program: a new IPC namespace
// empties SysV shared memory, semaphores, message queues and POSIX message
// queues, and a new UTS namespace restores the hostname, both without a
// single cleanup step (U3). Each program also gets a network namespace of
// its own, made ahead by the reset (initServer.prepareNet) and entered with
// Runner.NetNSFD: made at clone time, it would cost the run its creation.
const perRunNamespaces = unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// MaybeRunInit turns this process into a container's init when it was
// started as one (by a Builder), and then never returns. In any other
// process it returns at once, having done nothing. Call it first thing in
// main (and in TestMain of tests that build containers from the test binary),
// before flags are parsed or goroutines started.
func MaybeRunInit() {
	if len(os.Args) >= 2 && os.Args[1] == skeletonMarker {
		os.Exit(runSkeletonHelper())
	}
	if len(os.Args) < 2 || os.Args[1] != initMarker {
		return
	}
	if os.Getpid() != 1 {
		// The marker is reserved: a process that was not started as the pid
		// 1 of a container must not act as one (its kill(-1) would reach
		// the whole host).
		fmt.Fprintln(os.Stderr, "gosandbox: the container init must run as pid 1 of its own pid namespace")
		os.Exit(2)
	}
	os.Exit(runInit())
}

// initServer is the init's state. Only the main goroutine touches it, but
// for tmp and nextNet while a tidy-up runs (see startTidy), which the main
// goroutine waits for before it uses either.
type initServer struct {
	link    *protocol.Link
	msgs    chan received
	conf    *protocol.Conf
	cgFD    int // cgroup v2 directory, or 0
	roots   []rootState
	tmp     freshTmp
	running int // pid of the program, 0 when idle
	exited  chan protocol.Exited
	// execSeq is the Seq of the exec in progress: its Started, ExecFailed
	// and Exited echo it.
	execSeq uint32
	// procs are the container's cgroup v1 cgroup.procs files (Conf.
	// CgroupProcs), opened by the host: programs join their group through
	// them by themselves.
	procs []int
	// lastPid is /proc/sys/kernel/ns_last_pid of the container's pid
	// namespace, and pidBase its value once the build was over: every reset
	// writes it back, so that each run's processes get the numbers they
	// get in a fresh container (U7).
	lastPid int
	pidBase int
	// homeNet is the init's own network namespace; nextNet the fresh one,
	// loopback up, that the next program starts in (-1: none yet). Each
	// run gets its own, so no counter of /proc/net carries over (U7).
	homeNet, nextNet int
	// tidying is the tidy-up after a run (see startTidy), nil when none is
	// under way; tmpFresh says /tmp was mounted afresh since the last
	// program started.
	tidying  chan error
	tidyErr  error // sticky: a failed tidy-up fails every reset after it
	tmpFresh bool
	// filters are the compiled seccomp programs by mode: the policy of a
	// mode never changes, so it is compiled once.
	filters map[string]*seccomp.Program
}

type received struct {
	msg protocol.Message
	err error
}

func runInit() int {
	// The init is a small supervisor: one processor is plenty, and a
	// tighter GC keeps its resident memory (counted per idle container)
	// small.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(20)
	// Polite signals from outside must not end the init (the host uses
	// SIGKILL); inside the pid namespace nobody may signal it anyway.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU)

	conn, err := unixsocket.New(initSocketFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gosandbox-init:", err)
		return 2
	}
	s := &initServer{
		link:    protocol.NewLink(conn, true),
		msgs:    make(chan received),
		exited:  make(chan protocol.Exited, 1),
		lastPid: -1,
		homeNet: -1,
		nextNet: -1,
	}
	go s.readLoop()
	if err := s.serve(); err != nil {
		fmt.Fprintln(os.Stderr, "gosandbox-init:", err)
		return 1
	}
	return 0
}

// readLoop feeds the main goroutine with messages; it stops at the first
// error (which ends the init).
func (s *initServer) readLoop() {
	for {
		m, err := s.link.Recv()
		s.msgs <- received{m, err}
		if err != nil {
			return
		}
	}
}

// serve handles commands until the host goes away (nil) or breaks the
// protocol (an error). Either way the init exits, and with it, being pid 1,
// everything left in the container.
func (s *initServer) serve() error {
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	trimStep := 0
	for {
		select {
		case <-idle.C:
			// Idle for a while after a reset: what the runs since the
			// last trim left goes back, the heap first; the pages of
			// the program go once the collector's own goroutines have
			// finished with them.
			if trimStep == 0 {
				debug.FreeOSMemory()
				trimStep = 1
				idle.Reset(idleTrimAfter / 10)
			} else {
				dropCleanFilePages()
			}
		case r := <-s.msgs:
			idle.Stop()
			if r.err != nil {
				if errors.Is(r.err, unixsocket.ErrClosed) {
					return nil
				}
				return r.err
			}
			if err := s.handle(r.msg); err != nil {
				r.msg.CloseFDs()
				return err
			}
			if r.msg.Kind == protocol.KindReset {
				trimStep = 0
				idle.Reset(idleTrimAfter)
			}
		case x := <-s.exited:
			s.running = 0
			if err := s.link.Send(protocol.KindExited, s.execSeq, protocol.MarshalExited(x), nil, nil); err != nil {
				return err
			}
			s.startTidy()
		}
	}
}

func (s *initServer) replyOK(seq uint32) error {
	return s.link.Send(protocol.KindOK, seq, nil, nil, nil)
}

func (s *initServer) replyError(seq uint32, err error) error {
	var errno unix.Errno
	errors.As(err, &errno)
	return s.link.Send(protocol.KindError, seq, protocol.MarshalError(protocol.ErrorReply{Errno: uint32(errno), Message: err.Error()}), nil, nil)
}

func (s *initServer) handle(m protocol.Message) error {
	switch m.Kind {
	case protocol.KindPing:
		if err := protocol.EmptyBody(m.Kind, m.Body); err != nil {
			return err
		}
		if len(m.FDs) != 0 {
			return protocol.Errorf("ping with descriptors")
		}
		return s.replyOK(m.Seq)
	case protocol.KindConf:
		if s.conf != nil {
			return protocol.Errorf("conf sent twice")
		}
		c, err := protocol.UnmarshalConf(m.Body)
		if err != nil {
			return err
		}
		want := c.CgroupProcs + len(c.Binds)
		if c.CgroupFD {
			want++
		}
		if len(m.FDs) != want {
			return protocol.Errorf("conf with %d descriptors, want %d", len(m.FDs), want)
		}
		if c.CgroupFD {
			s.cgFD = m.FDs[0]
			m.FDs = m.FDs[1:]
		}
		s.procs = m.FDs[:c.CgroupProcs]
		sources := m.FDs[c.CgroupProcs:]
		m.FDs = nil
		s.conf = &c
		// Bind sources come as descriptors the host opened: this init
		// may not traverse the host directories above them itself.
		built := c
		built.Binds = append([]protocol.BindConf(nil), c.Binds...)
		for i, fd := range sources {
			built.Binds[i].Source = "/proc/self/fd/" + strconv.Itoa(fd)
		}
		err = s.build(built)
		for _, fd := range sources {
			unix.Close(fd)
		}
		if err != nil {
			return s.replyError(m.Seq, err)
		}
		return s.replyOK(m.Seq)
	case protocol.KindExec:
		if s.conf == nil || s.running != 0 {
			return protocol.Errorf("exec while not configured or busy")
		}
		x, err := protocol.UnmarshalExec(m.Body)
		if err != nil {
			return err
		}
		if x.NumFDs() != len(m.FDs) {
			return protocol.Errorf("exec announces %d descriptors, %d came", x.NumFDs(), len(m.FDs))
		}
		if x.Sync && len(s.procs) == 0 {
			return protocol.Errorf("exec asks for a sync start without cgroup.procs descriptors")
		}
		return s.exec(m.Seq, x, m.FDs)
	case protocol.KindKill:
		if err := protocol.EmptyBody(m.Kind, m.Body); err != nil {
			return err
		}
		if len(m.FDs) != 0 {
			return protocol.Errorf("kill with descriptors")
		}
		if s.running != 0 {
			killBox()
		}
		return nil
	case protocol.KindReset:
		if err := protocol.EmptyBody(m.Kind, m.Body); err != nil {
			return err
		}
		if len(m.FDs) != 0 {
			return protocol.Errorf("reset with descriptors")
		}
		if s.conf == nil || s.running != 0 {
			return protocol.Errorf("reset while not configured or busy")
		}
		if err := s.reset(); err != nil {
			return s.replyError(m.Seq, err)
		}
		return s.replyOK(m.Seq)
	}
	return protocol.Errorf("unexpected %s from the host", m.Kind)
}

// build makes the container's root with the default mount plan and pivots
// into it.
func (s *initServer) build(c protocol.Conf) error {
	plan, err := mount.Default(mount.Options{WorkDir: c.WorkDir, TmpfsSize: c.TmpfsSize, Binds: bindsOf(c)})
	if err != nil {
		return fmt.Errorf("%s %w", mountPlanFailure, err)
	}
	// What needs the host's /proc (writable, unlike the container's) comes
	// before the pivot.
	if s.lastPid, err = unix.Open("/proc/sys/kernel/ns_last_pid", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("init: open ns_last_pid: %w", err)
	}
	if s.homeNet, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("init: open own network namespace: %w", err)
	}
	if err := plan.Apply(""); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if s.tmp, err = freshTmpOf(plan); err != nil {
		return err
	}
	roots, err := recordRoots(wipedRoots)
	if err != nil {
		return err
	}
	s.roots = roots
	s.tmpFresh = true
	if err := s.prepareNet(); err != nil {
		return err
	}
	// Threads the runtime would start later would take numbers from the
	// runs' range: start them now, and only then take the base.
	warmThreads(initThreads)
	if s.pidBase, err = s.readLastPid(); err != nil {
		return err
	}
	// What the build allocated is garbage now, and the host files the plan
	// read are not needed again: give it all back, and the pages of the
	// program the start-up read, so that an idle container costs little.
	mount.ForgetSnapshots()
	debug.FreeOSMemory()
	dropCleanFilePages()
	return nil
}

// exec starts one program. fds are the received descriptors, in the order
// of x.Files then the program's. They are closed here once the child has
// its copies.
func (s *initServer) exec(seq uint32, x protocol.Exec, fds []int) error {
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	files := make([]int, len(x.Files))
	next := 0
	for i, open := range x.Files {
		files[i] = -1
		if open {
			files[i] = fds[next]
			next++
		}
	}
	execFD := 0
	if x.ExecFD {
		execFD = fds[next]
	}
	rl := make([]rlimit.RLimit, len(x.RLimits))
	for i, r := range x.RLimits {
		rl[i] = rlimit.RLimit{Resource: int(r.Resource), Limit: unix.Rlimit{Cur: r.Cur, Max: r.Max}}
	}
	fe := &forkexec.Runner{
		Args:          x.Args,
		Env:           x.Env,
		ExecFD:        execFD,
		Dir:           x.Dir,
		Files:         files,
		RLimits:       rl,
		CloneFlags:    perRunNamespaces,
		DenySetgroups: s.conf.SetgroupsDenied,
		Hostname:      x.Hostname,
		// The init is small, but copying its page tables still costs more
		// than borrowing its memory until the exec; forkexec falls back to
		// a fork when a sync step is needed.
		Vfork: true,
	}
	boxcfg.Confine(fe)
	if err := s.settle(); err != nil {
		return s.execFailed(seq, err)
	}
	if s.nextNet < 0 {
		// A run without a reset before it (Container.Run twice): its
		// namespace is made now.
		if err := s.prepareNet(); err != nil {
			return s.execFailed(seq, err)
		}
	}
	fe.NetNSFD = s.nextNet
	defer s.dropNet()
	var syncErr error // a protocol failure during the sync ends the init
	switch s.entry(x) {
	case entryBorn:
		// Born in the run's cgroup v2, so a cgroup namespace made at clone
		// time is rooted there.
		fe.CgroupFD = s.cgFD
		fe.CloneFlags |= unix.CLONE_NEWCGROUP
	case entryJoinsItself:
		// The child joins the run's cgroups itself, first thing, and then
		// roots a cgroup namespace there: no round trip with the host.
		fe.CgroupProcs = s.procs
		fe.UnshareCgroupAfterSync = true
	case entryHostMoves:
		fe.SyncFunc = func(pid int) error {
			err := s.syncStart(seq, pid)
			var pe *protocolFailure
			if errors.As(err, &pe) {
				syncErr = pe.err
			}
			return err
		}
		fe.UnshareCgroupAfterSync = true
	}
	if x.Syscalls != "" {
		p, err := s.filter(x.Syscalls)
		if err != nil {
			return s.execFailed(seq, err)
		}
		fe.Seccomp = p.Fprog()
	}
	// From here on the program may write /tmp.
	s.tmpFresh = false
	pid, err := fe.Start()
	if syncErr != nil {
		return syncErr
	}
	var died *forkexec.DiedBeforeExec
	if errors.As(err, &died) {
		// Killed (out of memory) or too short of memory to report: the
		// program never ran; the host tells a memory limit from the rest.
		why := fmt.Sprintf("the program's start failed before its exec (%v)", err)
		return s.link.Send(protocol.KindExecFailed, seq, protocol.MarshalExecFailed(protocol.ExecFailed{ProgramFault: true, Errno: uint32(unix.ENOMEM), Message: why}), nil, nil)
	}
	if err != nil {
		return s.execFailed(seq, err)
	}
	s.running, s.execSeq = pid, seq
	if fe.SyncFunc == nil {
		// The host learns the program's pid (translated into its pid
		// namespace by the kernel) but has nothing to answer: it names
		// the call a kill-mode filter denied by that pid, and without
		// cgroups reads the program's CPU from /proc. This comes
		// before the reaper starts: the kernel refuses credentials naming
		// a pid that is gone, and an unreaped program keeps its pid even
		// once it has exited.
		cred := &unix.Ucred{Pid: int32(pid), Uid: sandbox.BoxUID, Gid: sandbox.BoxGID}
		if err := s.link.Send(protocol.KindStarted, seq, protocol.MarshalStarted(protocol.Started{BoxPid: int32(pid)}), nil, cred); err != nil {
			return err
		}
	}
	go func() { s.exited <- waitBox(pid) }()
	return nil
}

// entry is how the program of x enters the container's cgroup, as the conf
// and x say (the conf's validation leaves one way at most; see
// cgroupEntry).
func (s *initServer) entry(x protocol.Exec) cgroupEntry {
	switch {
	case s.cgFD > 0:
		return entryBorn
	case len(s.procs) > 0 && !x.Sync:
		return entryJoinsItself
	case s.conf.SyncStart:
		return entryHostMoves
	}
	return entryNone
}

// protocolFailure marks a SyncFunc error that must also end the init.
type protocolFailure struct{ err error }

func (p *protocolFailure) Error() string { return p.err.Error() }

// syncStart tells the host the child's pid (as credentials, which the
// kernel translates into the host's pid namespace) and waits for its word.
func (s *initServer) syncStart(seq uint32, pid int) error {
	cred := &unix.Ucred{Pid: int32(pid), Uid: sandbox.BoxUID, Gid: sandbox.BoxGID}
	if err := s.link.Send(protocol.KindStarted, seq, protocol.MarshalStarted(protocol.Started{BoxPid: int32(pid)}), nil, cred); err != nil {
		return &protocolFailure{err}
	}
	r := <-s.msgs
	if r.err != nil {
		// Put it back for serve, which ends the init.
		go func() { s.msgs <- r }()
		return fmt.Errorf("init: host gone while the program waited: %w", r.err)
	}
	m := r.msg
	defer m.CloseFDs()
	switch {
	case m.Kind == protocol.KindKill:
		return errors.New("init: killed before the program started")
	case m.Kind != protocol.KindProceed || m.Seq != seq || len(m.FDs) != 0:
		return &protocolFailure{protocol.Errorf("got %s (seq %d) while the program waited for proceed (seq %d)", m.Kind, m.Seq, seq)}
	}
	p, err := protocol.UnmarshalProceed(m.Body)
	if err != nil {
		return &protocolFailure{err}
	}
	if !p.OK {
		return fmt.Errorf("init: host refused to go on: %s", p.Message)
	}
	return nil
}

func (s *initServer) execFailed(seq uint32, err error) error {
	f := protocol.ExecFailed{Message: err.Error()}
	var ce *forkexec.ChildError
	if errors.As(err, &ce) {
		f.ProgramFault = ce.ProgramFault()
		f.Errno = uint32(ce.Errno)
	} else {
		var errno unix.Errno
		if errors.As(err, &errno) {
			f.Errno = uint32(errno)
		}
	}
	return s.link.Send(protocol.KindExecFailed, seq, protocol.MarshalExecFailed(f), nil, nil)
}

// killBox kills every process of the container but the init. kill(-1) from
// the pid 1 of a pid namespace reaches exactly the other processes of that
// namespace; the guard makes sure it never runs anywhere else.
func killBox() {
	if os.Getpid() != 1 {
		panic("gosandbox-init: kill(-1) outside a container's init")
	}
	unix.Kill(-1, unix.SIGKILL)
}

// waitBox waits for the program, then kills and reaps everything else in
// the container (daemons, stopped or not: U1). Orphans are the init's
// children, so wait4(-1) until ECHILD means none is left; killing again
// after every reap catches a process forked while the previous kill ran.
func waitBox(pid int) protocol.Exited {
	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err := unix.Wait4(pid, &ws, 0, &ru)
		if err != unix.EINTR {
			break
		}
	}
	x := protocol.Exited{
		WaitStatus: uint32(ws),
		UserNanos:  ru.Utime.Nano(),
		SysNanos:   ru.Stime.Nano(),
		MaxRSSKiB:  ru.Maxrss,

		VoluntarySwitches: ru.Nvcsw,
		ForcedSwitches:    ru.Nivcsw,
	}
	for {
		killBox()
		_, err := unix.Wait4(-1, nil, unix.WALL, nil)
		if err == unix.ECHILD {
			break
		}
		if err == nil {
			x.Others++
		}
	}
	return x
}

// reset makes the container as it was after build: no process but the
// init, a fresh /tmp, an empty /w with its original mode and owner and
// fresh times, a new network namespace for the next run, the pid counter
// where the build left it. IPC objects and the hostname need nothing: each
// run had its own IPC and UTS namespace.
func (s *initServer) reset() error {
	tidyErr := s.settle()
	if others, err := otherProcesses(); err != nil {
		return fmt.Errorf("reset: %w", err)
	} else if len(others) > 0 {
		return fmt.Errorf("reset: processes %v still alive", others)
	}
	if tidyErr != nil {
		return fmt.Errorf("reset: %w", tidyErr)
	}
	if !s.tmpFresh {
		if err := s.tmp.remount(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		s.tmpFresh = true
	}
	for _, r := range s.roots {
		if err := r.wipe(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if s.nextNet < 0 {
		if err := s.prepareNet(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if err := s.resetPids(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}

// idleTrimAfter is how long an init waits after a reset, with no command,
// before it gives back the memory its runs left. It is longer than the gaps
// of a busy pool, whose next run would pay for the pages mapped back.
const idleTrimAfter = 250 * time.Millisecond

// startTidy begins the part of the next reset that needs nothing from the
// host, as soon as a run is over (its program and every other box process
// reaped, the result sent): /tmp mounted afresh and the next run's network
// namespace made. Both cost more than the rest of a reset together (an
// unmount waits for an RCU grace period; a network namespace takes the
// kernel's rtnl lock), and done here they overlap the host's own work on
// the result (verdict, copy-out, its cgroup reclaim) instead of adding to
// the wait of a run that follows at once. reset and exec wait for it
// (settle) before they touch /tmp or the namespace.
func (s *initServer) startTidy() {
	done := make(chan error, 1)
	s.tidying = done
	go func() {
		err := s.tmp.remount()
		if err == nil {
			s.tmpFresh = true
			if s.nextNet < 0 {
				err = s.prepareNet()
			}
		}
		done <- err
	}()
}

// settle waits for the tidy-up under way, if any, and returns the error of
// any tidy-up so far.
func (s *initServer) settle() error {
	if s.tidying != nil {
		if err := <-s.tidying; err != nil && s.tidyErr == nil {
			s.tidyErr = err
		}
		s.tidying = nil
	}
	return s.tidyErr
}

// filter returns the compiled seccomp program of a mode.
func (s *initServer) filter(mode string) (*seccomp.Program, error) {
	if p, ok := s.filters[mode]; ok {
		return p, nil
	}
	p, err := seccomp.Default(sandbox.SyscallMode(mode))
	if err != nil {
		return nil, err
	}
	if s.filters == nil {
		s.filters = make(map[string]*seccomp.Program)
	}
	s.filters[mode] = p
	return p, nil
}

// otherProcesses lists the pids in the container other than the init.
func otherProcesses() ([]int, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid != 1 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
