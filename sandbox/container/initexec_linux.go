package container

// The init's side of a run: the program started (cgroup entry, round trip, seccomp), then it and the rest of the box reaped.

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/workdir"
)

// perRunNamespaces are made fresh for every program: a new UTS namespace
// restores the hostname without a single cleanup step (U3). Each program
// also gets an IPC namespace of its own (so SysV shared memory, semaphores,
// message queues and POSIX message queues start empty), made by the
// starting thread (newRunIPC) so that the reset can empty it, and a
// network namespace of its own, made ahead by the reset
// (initServer.prepareNet) and entered with Runner.NetNSFD: made at clone
// time, it would cost the run its creation.
const perRunNamespaces = unix.CLONE_NEWUTS

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
	outputLimit := int64(-1)
	for i, r := range x.RLimits {
		rl[i] = rlimit.RLimit{Resource: int(r.Resource), Limit: unix.Rlimit{Cur: r.Cur, Max: r.Max}}
		if r.Resource == unix.RLIMIT_FSIZE && r.Cur <= math.MaxInt64 {
			outputLimit = int64(r.Cur)
		}
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
	fe.CloneHook = chainCloneHooks(chainCloneHooks(fe.CloneHook, s.newRunIPC), dropBounding)
	// The starting thread's bounding set is empty (dropBounding), and the
	// child inherits it.
	fe.BoundingSetDropped = true
	if err := s.settle(); err != nil {
		return s.execFailed(seq, err)
	}
	if s.nextNet < 0 {
		// The build and every exec leave one made (a failure to make it
		// is the settle error above); should none be there, it is made
		// now.
		if err := s.prepareNet(); err != nil {
			return s.execFailed(seq, err)
		}
	}
	fe.NetNSFD, fe.HomeNetNSFD = s.nextNet, s.homeNet
	var syncErr error // a protocol failure during the sync ends the init
	// EntryNone sets nothing: the program stays in the init's cgroup
	// namespace.
	boxcfg.CgroupWay{Entry: s.entry(x), DirFD: s.cgFD, JoinFDs: s.procs, Move: func(pid int) error {
		err := s.syncStart(seq, pid)
		var pe *protocolFailure
		if errors.As(err, &pe) {
			syncErr = pe.err
		}
		return err
	}}.Set(fe)
	if x.Syscalls != "" {
		p, err := s.filter(x.Syscalls)
		if err != nil {
			return s.execFailed(seq, err)
		}
		fe.Seccomp = p.Fprog()
	}
	// From here on the program may write /tmp and start processes.
	s.tmpFresh, s.othersChecked = false, false
	pid, err := fe.Start()
	// The child is in its namespace (or gone). When runs come back to
	// back, the next run's is made while this program runs, off the path
	// of the reset that the next run waits for; otherwise after the run
	// (startTidy), where it costs no run anything.
	s.dropNet()
	if x.Queued || s.backToBack() {
		s.inBackground(s.prepareNet)
		s.netMaking = true
	}
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
	s.running, s.execSeq, s.resetAfter = pid, seq, x.ResetAfter
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
	resetAfter := x.ResetAfter
	go func() {
		x := waitBox(pid)
		// With every box process gone, before the tidy-up's fresh /tmp
		// and, when the host leaves /w to the init, before its wipe.
		x.ScratchAtLimit = outputLimit >= 0 && (tmpHasFileAtLeast(outputLimit) ||
			resetAfter && workHasFileAtLeast(outputLimit))
		s.exited <- x
	}()
	return nil
}

// tmpHasFileAtLeast reports whether a regular file in the container's /tmp
// (also its /dev/shm) is at least size bytes long: the output limit is the
// largest file a program may write anywhere, not only in /w. An empty
// tmpfs is answered from one fstatfs.
func tmpHasFileAtLeast(size int64) bool {
	fd, err := unix.Open(tmpDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return workdir.TreeHasFileAtLeast(fd, size)
}

// workHasFileAtLeast is tmpHasFileAtLeast for /w, for a run after which
// the host does not look at /w itself (Exec.ResetAfter): the init wipes it
// right after the run. The host passes over files it copied in; such runs
// have none at the limit.
func workHasFileAtLeast(size int64) bool {
	for _, r := range wipedRoots {
		fd, err := unix.Open(r, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		found := workdir.TreeHasFileAtLeast(fd, size)
		unix.Close(fd)
		if found {
			return true
		}
	}
	return false
}

// entry is how the program of x enters the container's cgroup, as the conf
// and x say (the conf's validation leaves one way at most; see
// boxcfg.CgroupEntry).
func (s *initServer) entry(x protocol.Exec) boxcfg.CgroupEntry {
	switch {
	case s.cgFD > 0:
		return boxcfg.EntryBorn
	case len(s.procs) > 0 && !x.Sync:
		return boxcfg.EntryJoinsItself
	case s.conf.SyncStart:
		return boxcfg.EntryHostMoves
	}
	return boxcfg.EntryNone
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

// dropBounding is the CloneHook that empties the capability bounding set
// of the thread that starts the program, once per thread of the init: the
// program inherits it empty, instead of dropping its 41 capabilities one
// system call at a time on every start. The init keeps its effective
// capabilities; it never execs, and raises no inheritable capability, which
// is all a bounding set limits.
func dropBounding() (func() error, error) {
	if err := forkexec.DropThreadBoundingSet(); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	return func() error { return nil }, nil
}

// chainCloneHooks runs first and then second before the clone, and their
// afters in reverse order after it (first may be nil).
func chainCloneHooks(first, second func() (func() error, error)) func() (func() error, error) {
	if first == nil {
		return second
	}
	return func() (func() error, error) {
		afterFirst, err := first()
		if err != nil {
			return nil, err
		}
		afterSecond, err := second()
		if err != nil {
			if aerr := afterFirst(); aerr != nil {
				return func() error { return aerr }, nil
			}
			return nil, err
		}
		return func() error {
			if err := afterSecond(); err != nil {
				return err
			}
			return afterFirst()
		}, nil
	}
}
