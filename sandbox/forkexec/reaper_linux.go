package forkexec

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaped is where the box's pid 1 leaves the program's wait status when
// Runner.Reaper is set: one shared anonymous page, written by the reaper
// (a forked copy of the child) and read by the supervisor once the reaper
// was waited for.
//
// Why a reaper: the first process of a pid namespace is immune to every
// signal it has no handler for when the signal comes from inside the
// namespace, itself included. A program that is pid 1 survives
// raise(SIGTERM), turns abort() into SIGSEGV and ignores SIGXFSZ and
// SIGXCPU, so its verdict would be wrong (B7). With a reaper the program is
// pid 2 and every signal acts as it would on the host.
type Reaped struct {
	mem []byte
}

// reapedWord is the layout of the shared page: a flag then the status.
type reapedWord struct {
	done   uint32 // 1 once status is valid
	status uint32 // wait status of the program
}

// NewReaped maps a fresh page. Close it once the run is over.
func NewReaped() (*Reaped, error) {
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("forkexec: map the reaper's page: %w", err)
	}
	return &Reaped{mem: mem}, nil
}

func (r *Reaped) word() *reapedWord { return (*reapedWord)(unsafe.Pointer(&r.mem[0])) }

// Status returns the program's wait status, and false when the reaper left
// none (it was killed first, e.g. by the supervisor at a limit).
func (r *Reaped) Status() (unix.WaitStatus, bool) {
	w := r.word()
	if atomic.LoadUint32(&w.done) != 1 {
		return 0, false
	}
	return unix.WaitStatus(atomic.LoadUint32(&w.status)), true
}

// Close unmaps the page.
func (r *Reaped) Close() error {
	if r == nil || r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem = nil
	return err
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
