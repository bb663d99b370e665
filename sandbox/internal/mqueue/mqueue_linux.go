package mqueue

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/internal/nsenter"
)

// Mount mounts the mqueue file system of the IPC namespace ns (a
// descriptor) detached, from a thread that enters the namespace and comes
// back: the kernel gives the namespace's own, whose root lists its queues.
// The mount is a descriptor, held as long as the caller keeps it (its
// release, some 45 us here with its RCU wait, is the caller's to put off
// the run's path); RemoveAt empties the queues through it.
func Mount(ns int) (int, error) {
	mnt, mntErr := -1, error(nil)
	if err := nsenter.Run(ns, unix.CLONE_NEWIPC, func() { mnt, mntErr = mountHere() }); err != nil {
		if mnt >= 0 {
			unix.Close(mnt)
		}
		return -1, fmt.Errorf("mqueue: %w", err)
	}
	return mnt, mntErr
}

// mountHere mounts the calling thread's IPC namespace's mqueue file system
// detached.
func mountHere() (int, error) {
	fsfd, err := unix.Fsopen("mqueue", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("mqueue: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("mqueue: fsconfig create: %w", err)
	}
	mnt, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("mqueue: fsmount: %w", err)
	}
	return mnt, nil
}

// RemoveAt removes every queue of the mqueue mount mnt (from Mount): an
// unlinked queue that no process holds open goes at once, and its bytes
// with it. An empty namespace costs an open, one directory read and a
// close.
func RemoveAt(mnt int) error {
	dir, err := unix.Openat(mnt, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("mqueue: open the queues' directory: %w", err)
	}
	f := os.NewFile(uintptr(dir), "mqueue")
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("mqueue: list the queues: %w", err)
	}
	for _, name := range names {
		if err := unix.Unlinkat(mnt, name, 0); err != nil && err != unix.ENOENT {
			return fmt.Errorf("mqueue: remove queue %q: %w", name, err)
		}
	}
	return nil
}

// Remove is RemoveAt for the calling thread's IPC namespace, through a
// mount of its own. The caller's thread must be locked
// (runtime.LockOSThread) when it is in another IPC namespace than its
// process.
func Remove() error {
	mnt, err := mountHere()
	if err != nil {
		return err
	}
	defer unix.Close(mnt)
	return RemoveAt(mnt)
}
