package container

// The init's IPC namespace per run: made on the starting thread, kept, and emptied by the reset.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/internal/mqueue"
)

// Each program gets an IPC namespace of its own (U3), made on the thread
// that starts it (a forkexec CloneHook) rather than by a clone flag, so that
// the init keeps a descriptor of it. The kernel frees an IPC namespace in the
// background, some time after its last process is gone, and the SysV
// shared memory segments and message queues left in it (without IPC_RMID)
// stay charged to the container's cgroup until then: a peak reset before
// would start the next run at their size (U4). The reset removes them
// instead, from inside the namespace, which frees their memory at once.

// newRunIPC is the CloneHook of a program's start: the starting thread
// moves into the IPC namespace made ahead (prepareNet), or else into a new
// one, which the child is born in, and comes back right after the clone.
// Made ahead, the namespace (and the mqueue mount the kernel makes with it,
// 35-50 µs here) costs the start two setns.
func (s *initServer) newRunIPC() (after func() error, err error) {
	back := func(openErr error) func() error {
		return func() error {
			if err := unix.Setns(s.homeIPC, unix.CLONE_NEWIPC); err != nil {
				return fmt.Errorf("init: back to the init's IPC namespace: %w", err)
			}
			if openErr != nil {
				return fmt.Errorf("init: open the run's IPC namespace: %w", openErr)
			}
			return nil
		}
	}
	if fd := s.nextIPC; fd >= 0 {
		s.nextIPC = -1
		if err := unix.Setns(fd, unix.CLONE_NEWIPC); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("init: enter the run's IPC namespace: %w", err)
		}
		s.dropRunIPC()
		s.runIPC = fd
		return back(nil), nil
	}
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		return nil, fmt.Errorf("init: new IPC namespace: %w", err)
	}
	fd, openErr := unix.Open("/proc/thread-self/ns/ipc", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if openErr == nil {
		s.dropRunIPC()
		s.runIPC = fd
	}
	return back(openErr), nil
}

// emptyRunIPC removes every SysV object of the last program's IPC
// namespace, from a thread that enters it for that, and lets the namespace go.
func (s *initServer) emptyRunIPC() error {
	if s.runIPC < 0 {
		return nil
	}
	defer s.dropRunIPC()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(s.runIPC, unix.CLONE_NEWIPC); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("init: enter the run's IPC namespace: %w", err)
			return
		}
		err := removeSysV()
		if err == nil {
			// POSIX queues too: the namespace is freed some time
			// after the reset, and the next run, whose queues are
			// charged to the same user, would find their bytes
			// still charged (U3).
			err = mqueue.Remove()
		}
		if rerr := unix.Setns(s.homeIPC, unix.CLONE_NEWIPC); rerr != nil {
			done <- fmt.Errorf("init: back to the init's IPC namespace: %w", rerr)
			return // locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

// removeSysV removes every shared memory segment, message queue and
// semaphore set of the calling thread's IPC namespace (/proc/sysvipc lists
// those of the reader's). No process is left to be attached, so each
// goes, with its memory, at once.
func removeSysV() error {
	for _, k := range []struct {
		kind string
		nr   uintptr
		info uintptr // the *_INFO command, which counts the objects
	}{{"shm", unix.SYS_SHMCTL, shmInfo}, {"msg", unix.SYS_MSGCTL, msgInfo}, {"sem", unix.SYS_SEMCTL, semInfo}} {
		// Most programs leave nothing: one call that counts the
		// namespace's objects spares the listing, a file read that costs
		// nine system calls through package os (three kinds, every reset).
		if n, err := sysvCount(k.nr, k.info); err == nil && n == 0 {
			continue
		}
		ids, err := sysvIDs(k.kind)
		if err != nil {
			return err
		}
		for _, id := range ids {
			// semctl takes the semaphore number second; shmctl and msgctl
			// the command.
			cmd, sem := uintptr(unix.IPC_RMID), uintptr(0)
			if k.kind == "sem" {
				cmd, sem = sem, cmd
			}
			if _, _, e := unix.Syscall(k.nr, uintptr(id), cmd, sem); e != 0 && e != unix.EINVAL && e != unix.EIDRM {
				return fmt.Errorf("init: remove the run's SysV %s %d: %w", k.kind, id, e)
			}
		}
	}
	return nil
}

// The *_INFO commands of shmctl, msgctl and semctl (linux/shm.h, msg.h, sem.h).
const (
	shmInfo = 14
	msgInfo = 12
	semInfo = 19
)

// sysvCount is how many objects of one SysV kind the calling thread's IPC
// namespace holds, from the *_INFO command of its control call: the number
// of ids in use is shm_info.used_ids, msginfo.msgpool and seminfo.semusz.
func sysvCount(nr, info uintptr) (int32, error) {
	var buf [16]int32 // struct shm_info (48 bytes) is the largest of the three
	var e unix.Errno
	if nr == unix.SYS_SEMCTL {
		_, _, e = unix.Syscall6(nr, 0, 0, info, uintptr(unsafe.Pointer(&buf[0])), 0, 0)
	} else {
		_, _, e = unix.Syscall(nr, 0, info, uintptr(unsafe.Pointer(&buf[0])))
	}
	if e != 0 {
		return 0, e
	}
	if nr == unix.SYS_SEMCTL {
		return buf[7], nil // semusz, the eighth int
	}
	return buf[0], nil // used_ids, msgpool: the first int
}

// sysvIDs lists the ids in /proc/sysvipc/KIND (the second column).
func sysvIDs(kind string) ([]int, error) {
	b, err := os.ReadFile("/proc/sysvipc/" + kind)
	if err != nil {
		return nil, fmt.Errorf("init: list the run's SysV %s: %w", kind, err)
	}
	var ids []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := bytes.Fields(sc.Bytes())
		if first || len(f) < 2 {
			continue // the header
		}
		id, err := strconv.Atoi(string(f[1]))
		if err != nil {
			return nil, fmt.Errorf("init: /proc/sysvipc/%s: %q", kind, sc.Text())
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}

func (s *initServer) dropRunIPC() {
	if s.runIPC >= 0 {
		unix.Close(s.runIPC)
		s.runIPC = -1
	}
}
