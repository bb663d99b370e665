package mqueue

// Tests of emptying an IPC namespace's POSIX message queues.

import (
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func mqOpen(name string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), 0o600, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// TestRemoveAtEmptiesTheNamespace: the queues a run left in its IPC
// namespace are gone once RemoveAt returns, through a mount made before
// they were.
func TestRemoveAtEmptiesTheNamespace(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("root: a new IPC namespace and an mqueue mount")
	}
	errs := make(chan string, 4)
	go func() {
		defer close(errs)
		// This thread alone goes into a new IPC namespace, and ends with
		// the goroutine (locked, never unlocked).
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			errs <- "unshare: " + err.Error()
			return
		}
		ns, err := unix.Open("/proc/thread-self/ns/ipc", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errs <- err.Error()
			return
		}
		defer unix.Close(ns)
		mnt, err := Mount(ns)
		if err != nil {
			errs <- "Mount: " + err.Error()
			return
		}
		defer unix.Close(mnt)
		for _, name := range []string{"left-1", "left-2"} {
			fd, err := mqOpen(name, unix.O_CREAT|unix.O_RDWR)
			if err != nil {
				errs <- "mq_open " + name + ": " + err.Error()
				return
			}
			unix.Close(fd)
		}
		if err := RemoveAt(mnt); err != nil {
			errs <- "RemoveAt: " + err.Error()
			return
		}
		for _, name := range []string{"left-1", "left-2"} {
			if fd, err := mqOpen(name, unix.O_RDONLY); err != unix.ENOENT {
				unix.Close(fd)
				errs <- "queue " + name + " is still there: " + errText(err)
			}
		}
		// An empty namespace is fine, and so is one left through Remove.
		if err := RemoveAt(mnt); err != nil {
			errs <- "RemoveAt of an empty namespace: " + err.Error()
		}
		fd, err := mqOpen("left-3", unix.O_CREAT|unix.O_RDWR)
		if err != nil {
			errs <- "mq_open left-3: " + err.Error()
			return
		}
		unix.Close(fd)
		if err := Remove(); err != nil {
			errs <- "Remove: " + err.Error()
		}
		if fd, err := mqOpen("left-3", unix.O_RDONLY); err != unix.ENOENT {
			unix.Close(fd)
			errs <- "queue left-3 is still there: " + errText(err)
		}
	}()
	for e := range errs {
		t.Error(e)
	}
}

func errText(err error) string {
	if err == nil {
		return "opened"
	}
	return err.Error()
}
