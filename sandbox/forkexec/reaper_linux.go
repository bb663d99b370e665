package forkexec

// The box's pid 1 once the program runs: reaps orphans and reports the program's wait status.

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaped is where the box's pid 1 leaves the program's wait status when
// Runner.Reaper is set, for the supervisor to read once it waited for pid 1:
// a pipe whose write end becomes pid 1's descriptor 0. Pid 1 is the reaper
// program (reaperImage, executed from a memfd), or, where that program
// cannot run, the child itself staying on (reaperLoop); both write the
// status there.
//
// Why a reaper: the first process of a pid namespace is immune to every
// signal it has no handler for when the signal comes from inside the
// namespace, itself included. A program that is pid 1 survives
// raise(SIGTERM), turns abort() into SIGSEGV and ignores SIGXFSZ and
// SIGXCPU, so its verdict would be wrong (B7). With a reaper the program is
// pid 2 and every signal acts as it would on the host.
//
// With Runner.ReaperApart pid 1 is no parent of the program: it is a second
// child of the caller, made first, and the pipe stays empty (the caller
// waits for the program itself). End it with Kill once the program was
// waited for; Close reaps it.
type Reaped struct {
	// r is non-blocking, so a reaper killed before it wrote leaves nothing
	// to wait for.
	r, w int
	// pid1 and pidfd are the apart pid 1 (Runner.ReaperApart), 0 and -1
	// when there is none.
	pid1, pidfd int
	nsfd        int // see enterPidNS; -1 when not opened
}

// NewReaped opens the status pipe. Close it once the run is over.
func NewReaped() (*Reaped, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("forkexec: reaper status pipe: %w", err)
	}
	unix.SetNonblock(p[0], true)
	return &Reaped{r: p[0], w: p[1], pidfd: -1, nsfd: -1}, nil
}

// Kill ends the apart pid 1 (Runner.ReaperApart), which takes every process
// left in the box's pid namespace with it, without waiting. It does nothing
// without one.
func (r *Reaped) Kill() {
	if r == nil || r.pid1 <= 0 {
		return
	}
	if r.pidfd >= 0 {
		unix.PidfdSendSignal(r.pidfd, unix.SIGKILL, nil, 0)
	} else {
		unix.Kill(r.pid1, unix.SIGKILL)
	}
}

// Apart reports whether an apart pid 1 was started (StartApart) and has
// not ended: a pid 1 made ahead of its run (a runner's stock) may have
// been killed meanwhile, and a run must not be started into its dead
// namespace. Without a pidfd it cannot tell, and says true.
func (r *Reaped) Apart() bool {
	if r == nil || r.pid1 <= 0 {
		return false
	}
	if r.pidfd < 0 {
		return true
	}
	// A pidfd polls readable once its process has exited.
	fds := []unix.PollFd{{Fd: int32(r.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 0
}

// Pid1 is the host pid of the apart pid 1, 0 when there is none.
func (r *Reaped) Pid1() int {
	if r == nil {
		return 0
	}
	return r.pid1
}

// setPid1 records the apart pid 1. (A pidfd is close-on-exec from the
// start.)
func (r *Reaped) setPid1(pid int) {
	r.pid1 = pid
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		r.pidfd = fd
	}
}

// pidfdSetnsMissing is set once setns(2) refused a pidfd: pidfd_open came
// in Linux 5.3, but setns takes a pidfd only since 5.8 (EINVAL before).
var pidfdSetnsMissing atomic.Bool

// enterPidNS makes the apart pid 1's pid namespace that of the calling
// thread's next children: through its pidfd where setns takes one, else
// through its /proc/PID/ns/pid, opened once.
func (r *Reaped) enterPidNS() error {
	if r.pidfd >= 0 && !pidfdSetnsMissing.Load() {
		err := setnsPid1(r.pidfd, unix.CLONE_NEWPID)
		if err != unix.EINVAL {
			return err
		}
		pidfdSetnsMissing.Store(true)
	}
	if r.nsfd < 0 {
		fd, err := unix.Open("/proc/"+strconv.Itoa(r.pid1)+"/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		r.nsfd = fd
	}
	return setnsPid1(r.nsfd, unix.CLONE_NEWPID)
}

// endPid1 kills and reaps the apart pid 1.
func (r *Reaped) endPid1() {
	if r.pid1 <= 0 {
		return
	}
	r.Kill()
	reap(r.pid1)
	r.pid1 = 0
	if r.pidfd >= 0 {
		unix.Close(r.pidfd)
		r.pidfd = -1
	}
	if r.nsfd >= 0 {
		unix.Close(r.nsfd)
		r.nsfd = -1
	}
}

// Status returns the program's wait status, and false when the reaper left
// none (it was killed first, e.g. by the supervisor at a limit).
// Call it once the reaper was waited for.
func (r *Reaped) Status() (unix.WaitStatus, bool) {
	var b [4]byte
	if n, err := unix.Read(r.r, b[:]); err != nil || n != len(b) {
		return 0, false
	}
	return unix.WaitStatus(binary.LittleEndian.Uint32(b[:])), true
}

// Close kills and reaps the apart pid 1, if any, and closes the pipe. It
// accepts nil.
func (r *Reaped) Close() error {
	if r == nil {
		return nil
	}
	r.endPid1()
	if r.r < 0 {
		return nil
	}
	unix.Close(r.r)
	err := unix.Close(r.w)
	r.r, r.w = -1, -1
	return err
}

// reaperExec is a sealed memfd holding reaperImage, made once per process
// and kept open for its life (one descriptor, close-on-exec; a count of a
// process's descriptors sees it from the first reaped run on); -1 where
// there is no image or memfds cannot be made. A child that cannot
// execute it (vm.memfd_noexec) stays the reaper itself (reaperLoop).
var reaperExec = sync.OnceValue(func() int { return programMemfd("gosandbox-reaper", reaperImage()) })

// idleReaperExec is reaperExec for idleReaperImage (Runner.ReaperApart).
var idleReaperExec = sync.OnceValue(func() int { return programMemfd("gosandbox-reaper", idleReaperImage()) })

// programMemfd returns a sealed, close-on-exec memfd holding img, or -1.
func programMemfd(name string, img []byte) int {
	if img == nil {
		return -1
	}
	// Executable on purpose: where vm.memfd_noexec is 1 a memfd made
	// without MFD_EXEC could not be executed; where it is 2 none can, and
	// the caller goes without (before Linux 6.3 the flag is unknown, and
	// every memfd may be executed).
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1
	}
	if _, err := unix.Write(fd, img); err != nil {
		unix.Close(fd)
		return -1
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// The reaper program's argv and envp (NULL-terminated), for the child.
var (
	reaperArgv0 = [...]byte{'g', 'o', 's', 'a', 'n', 'd', 'b', 'o', 'x', '-', 'r', 'e', 'a', 'p', 'e', 'r', 0}
	reaperArgv  = [2]*byte{&reaperArgv0[0], nil}
	reaperEnvp  = [1]*byte{nil}
)

// becomeReaper turns the child, the box's pid 1, into the reaper once the
// program runs: the status pipe becomes descriptor 0 and everything else
// is closed (so pipes see EOF and EPIPE as if pid 1 were not there); then
// it execs the reaper program, so that pid 1 holds a few pages instead of a
// copy of the whole supervisor, torn down while the program runs rather
// than after it. Where that exec fails it reaps the program itself
// (reaperLoop). It never returns. Raw system calls only: it runs in the
// child.
//
//go:nosplit
//go:norace
func becomeReaper(exe, status int, program uintptr, closeLoopTo int) {
	var fd uintptr
	syscall.RawSyscall(syscall.SYS_DUP3, uintptr(status), 0, 0)
	switch {
	case closeLoopTo > 0: // before Linux 5.9: one close per descriptor
		for fd = 1; fd < uintptr(closeLoopTo); fd++ {
			if int(fd) != exe {
				syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
			}
		}
	case exe > 0:
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 1, uintptr(exe-1), 0)
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(exe+1), closeRangeAll, 0)
	default:
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 1, closeRangeAll, 0)
	}
	if exe > 0 {
		syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(exe), uintptr(unsafe.Pointer(&emptyPath[0])),
			uintptr(unsafe.Pointer(&reaperArgv[0])), uintptr(unsafe.Pointer(&reaperEnvp[0])), unix.AT_EMPTY_PATH, 0)
		syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(exe), 0, 0)
	}
	reaperLoop(program)
}

// reaperLoop does what the reaper program does (see reaperCode): reap
// whatever is reparented to pid 1, and when the program itself ends write
// its status to descriptor 0 and exit; the kernel then kills every process
// left in the namespace (P4). Raw system calls only: it runs in the child.
//
//go:nosplit
//go:norace
func reaperLoop(program uintptr) {
	var (
		status uint32
		r1     uintptr
		err1   syscall.Errno
	)
	for {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&status)), unix.WALL, 0, 0, 0)
		if err1 == syscall.EINTR {
			continue
		}
		if err1 != 0 {
			break // ECHILD: nothing left, the program among it
		}
		if r1 == program {
			syscall.RawSyscall(syscall.SYS_WRITE, 0, uintptr(unsafe.Pointer(&status)), 4)
			break
		}
	}
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
}
