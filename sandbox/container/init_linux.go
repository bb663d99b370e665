package container

// The container's init: MaybeRunInit, the init's state (initServer) and the loop that serves the host's commands.

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/container/internal/protocol"
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
// for the fields that work in the background sets (tmpFresh, othersChecked,
// nextNet: see inBackground), which the main goroutine waits for (settle)
// before it uses any of them.
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
	// and Exited echo it. resetAfter says the init resets by itself once
	// the program has exited, and answers with that Seq (Exec.ResetAfter).
	execSeq    uint32
	resetAfter bool
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
	// nextSockets is /proc/net/unix of nextNet, opened from inside it;
	// runSockets that of the last program's namespace, kept until the
	// reset looks for sockets its processes left in flight (-1: none).
	nextSockets, runSockets int
	// homeIPC is the init's own IPC namespace; runIPC the last program's,
	// kept until the reset empties it; nextIPC the next program's, made
	// ahead with the next network namespace (prepareNet; -1: none).
	homeIPC, runIPC, nextIPC int
	// tidying is the work under way in the background (the next run's
	// network namespace, the tidy-up after a run: see startTidy), empty
	// when none is; tmpFresh says /tmp was mounted afresh, othersChecked
	// that no process but the init was found, since the last program
	// started.
	tidying       []chan error
	tidyErr       error // sticky: a failed tidy-up fails every reset after it
	tmpFresh      bool
	othersChecked bool
	// netMaking says the next run's network namespace is being made in
	// the background (until settle); lastReset is when the last reset
	// was answered.
	netMaking bool
	lastReset time.Time
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

		nextSockets: -1,
		runSockets:  -1,
		homeIPC:     -1,
		runIPC:      -1,
		nextIPC:     -1,
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
			if s.resetAfter {
				// The host reads nothing of the box after this run: the
				// reset it would ask for comes now, without the request's
				// trip, and the answer says the container is ready.
				s.resetAfter = false
				if err := s.answerReset(s.execSeq); err != nil {
					return err
				}
				trimStep = 0
				idle.Reset(idleTrimAfter)
			}
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
		return s.answerReset(m.Seq)
	}
	return protocol.Errorf("unexpected %s from the host", m.Kind)
}

// answerReset resets and answers OK or Error as seq: the reply to a reset
// request, or the init's own after a run (Exec.ResetAfter).
func (s *initServer) answerReset(seq uint32) error {
	if err := s.reset(); err != nil {
		return s.replyError(seq, err)
	}
	err := s.replyOK(seq)
	s.lastReset = time.Now()
	return err
}
