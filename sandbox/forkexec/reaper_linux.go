package forkexec

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaped is where the box's pid 1 leaves the program's wait status when
// Runner.Reaper is set, for the supervisor to read once it waited for pid 1:
// a pipe that the reaper program (reaperImage, executed from a memfd)
// writes to, or, where that program cannot run, a shared anonymous page
// that the child itself, staying on as the reaper (reaperLoop), writes to.
//
// Why a reaper: the first process of a pid namespace is immune to every
// signal it has no handler for when the signal comes from inside the
// namespace, itself included. A program that is pid 1 survives
// raise(SIGTERM), turns abort() into SIGSEGV and ignores SIGXFSZ and
// SIGXCPU, so its verdict would be wrong (B7). With a reaper the program is
// pid 2 and every signal acts as it would on the host.
type Reaped struct {
	mem []byte
	// The status pipe: the reaper program (see reaperImage) writes the
	// status to w; r is non-blocking, so a reaper killed before it wrote
	// leaves nothing to wait for.
	r, w int
}

// reapedWord is the layout of the shared page: a flag then the status.
type reapedWord struct {
	done   uint32 // 1 once status is valid
	status uint32 // wait status of the program
}

// NewReaped maps a fresh page and opens the status pipe. Close it once the
// run is over.
func NewReaped() (*Reaped, error) {
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("forkexec: map the reaper's page: %w", err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("forkexec: reaper status pipe: %w", err)
	}
	unix.SetNonblock(p[0], true)
	return &Reaped{mem: mem, r: p[0], w: p[1]}, nil
}

func (r *Reaped) word() *reapedWord { return (*reapedWord)(unsafe.Pointer(&r.mem[0])) }

// Status returns the program's wait status, and false when the reaper left
// none (it was killed first, e.g. by the supervisor at a limit).
// Call it once the reaper was waited for.
func (r *Reaped) Status() (unix.WaitStatus, bool) {
	w := r.word()
	if atomic.LoadUint32(&w.done) == 1 {
		return unix.WaitStatus(atomic.LoadUint32(&w.status)), true
	}
	var b [4]byte
	if n, err := unix.Read(r.r, b[:]); err != nil || n != len(b) {
		return 0, false
	}
	return unix.WaitStatus(binary.LittleEndian.Uint32(b[:])), true
}

// Close unmaps the page and closes the pipe.
func (r *Reaped) Close() error {
	if r == nil || r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	unix.Close(r.r)
	unix.Close(r.w)
	r.mem = nil
	return err
}

// reaperExec is a sealed memfd holding reaperImage, made once per process
// and kept open for its life (one descriptor, close-on-exec; a count of a
// process's descriptors sees it from the first reaped run on); -1 where
// there is no image or memfds cannot be made. A child that cannot
// execute it (vm.memfd_noexec) stays the reaper itself (reaperLoop).
var reaperExec = sync.OnceValue(func() int {
	img := reaperImage()
	if img == nil {
		return -1
	}
	fd, err := unix.MemfdCreate("gosandbox-reaper", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
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
})

// The reaper program's argv and envp (NULL-terminated), for the child.
var (
	reaperArgv0 = [...]byte{'g', 'o', 's', 'a', 'n', 'd', 'b', 'o', 'x', '-', 'r', 'e', 'a', 'p', 'e', 'r', 0}
	reaperArgv  = [2]*byte{&reaperArgv0[0], nil}
	reaperEnvp  = [1]*byte{nil}
)

// execReaper replaces the child, the box's pid 1, with the reaper program
// once the program runs: pid 1 then holds a few pages instead of a copy of
// the whole supervisor, and that copy is torn down while the program runs,
// not after it. The status pipe becomes descriptor 0; everything else is
// closed. It returns only when the exec failed. Raw system calls only.
//
//go:nosplit
//go:norace
func execReaper(exe, status int) {
	if exe < 0 {
		return
	}
	syscall.RawSyscall(syscall.SYS_DUP3, uintptr(status), 0, 0)
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 1, uintptr(exe-1), 0)
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(exe+1), closeRangeAll, 0)
	syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(exe), uintptr(unsafe.Pointer(&emptyPath[0])),
		uintptr(unsafe.Pointer(&reaperArgv[0])), uintptr(unsafe.Pointer(&reaperEnvp[0])), unix.AT_EMPTY_PATH, 0)
}

// reaperLoop is the box's pid 1 once the program is forked: it closes every
// descriptor (so pipes see EOF and EPIPE as if it were not there), reaps
// whatever is reparented to it, and when the program itself ends leaves its
// status in the shared page and exits; the kernel then kills every process
// left in the namespace (P4). Raw system calls only: it runs in the child.
//
//go:nosplit
//go:norace
func reaperLoop(w *reapedWord, program uintptr, closeLoopTo int) {
	var (
		status uint32
		r1     uintptr
		err1   syscall.Errno
	)
	if closeLoopTo == 0 {
		syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 0, closeRangeAll, 0)
	} else {
		for r1 = 0; r1 < uintptr(closeLoopTo); r1++ {
			syscall.RawSyscall(syscall.SYS_CLOSE, r1, 0, 0)
		}
	}
	for {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&status)), unix.WALL, 0, 0, 0)
		if err1 == syscall.EINTR {
			continue
		}
		if err1 != 0 {
			break // ECHILD: nothing left, the program among it
		}
		if r1 == program {
			w.status = status
			w.done = 1
			break
		}
	}
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
}
