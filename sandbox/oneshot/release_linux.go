package oneshot

// Tear-down after the result: the box's mount namespace and work directory, released in the background.

import (
	"strconv"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// holdMountNS opens the box's mount namespace while its pid 1 runs. The
// last reference to a mount namespace unmounts its whole tree, and the
// kernel waits for an RCU grace period there: when that reference is the
// box's pid 1, its exit (and so the run's result) waits for it. Holding one
// more moves that work to the release queue, after the result. Nothing of the box
// can run meanwhile: its processes are dead once pid 1 is reaped. Returns -1
// when the namespace cannot be opened (the box then tears it down itself).
func holdMountNS(pid int) int {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// openBoxWorkDir opens the box's own /w (a tmpfs of its mount namespace)
// through its pid 1, so that the supervisor can look for files at the
// output limit after the box is gone: the descriptor keeps the mount. It
// returns -1 when it cannot (the program already exited).
func openBoxWorkDir(pid int) int {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root"+sandbox.WorkDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}
