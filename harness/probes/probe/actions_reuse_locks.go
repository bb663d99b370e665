package main

// reuse-locks: file locks a run leaves on the files it was handed. A lock
// belongs to the open file (OFD and flock locks), not to the process: it
// lives as long as the supervisor keeps that open file, and a later run
// handed the same one (a /dev/null opened once for every run) would find
// it, a message from the previous run (U7), and a run could pile up locks,
// kernel memory nobody frees.

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func init() {
	register("reuse-locks", reuseLocks)
}

// reuse-locks plant|check: plant takes 64 one-byte OFD read locks and a
// shared flock on its standard input (prints locked=N flock=ok|ERRNO);
// check opens its standard input anew and asks whether any lock is held on
// that file by another open file, OFD and flock (prints leak=WHAT for each
// found, then checked=2).
func reuseLocks(args []string) int {
	mustBeBoxed()
	if len(args) != 1 || args[0] != "plant" && args[0] != "check" {
		fmt.Println("usage: reuse-locks plant|check")
		return 2
	}
	if args[0] == "plant" {
		n := 0
		for k := range 64 {
			lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: int64(1000 + 2*k), Len: 1}
			if err := unix.FcntlFlock(0, unix.F_OFD_SETLK, &lk); err != nil {
				fmt.Printf("lock=%s\n", errText(err))
				break
			}
			n++
		}
		fmt.Printf("locked=%d\n", n)
		fmt.Printf("flock=%s\n", errText(unix.Flock(0, unix.LOCK_SH)))
		return 0
	}
	fd, err := unix.Open("/proc/self/fd/0", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("open=%s\n", errText(err))
		return 1
	}
	defer unix.Close(fd)
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
		fmt.Printf("getlk=%s\n", errText(err))
	} else if lk.Type != unix.F_UNLCK {
		fmt.Printf("leak=lock type=%d start=%d len=%d\n", lk.Type, lk.Start, lk.Len)
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err == unix.EWOULDBLOCK {
		fmt.Println("leak=flock")
	} else if err != nil {
		fmt.Printf("flock=%s\n", errText(err))
	}
	fmt.Println("checked=2")
	return 0
}
