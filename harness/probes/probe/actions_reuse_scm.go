package main

// reuse-scm: descriptors in flight in unix sockets are charged to the
// sender's host uid (the kernel's per-user unix_inflight count, checked
// against RLIMIT_NOFILE), and a garbage cycle of sockets keeps them charged
// until the kernel's unix garbage collector runs, which only the release of
// some unix socket starts. A box that reuses its host uid must not let one
// run's cycle stop the next from passing descriptors (U7).

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func init() {
	register("reuse-scm", reuseSCM)
}

// reuse-scm cycle: sends both ends of a socket pair through it until the
// kernel refuses, and exits holding nothing but the messages in flight
// (prints inflight=N, stop=ERRNO). reuse-scm (no argument): passes one
// descriptor through a fresh socket pair before any socket is closed
// (prints scm=ok or scm=ERRNO).
func reuseSCM(args []string) int {
	mustBeBoxed()
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	if len(args) == 1 && args[0] == "cycle" {
		n := 0
		for i := 0; i < 10000; i++ {
			if err := unix.Sendmsg(sv[0], []byte{'x'}, unix.UnixRights(sv[0], sv[1]), nil, unix.MSG_DONTWAIT); err != nil {
				fmt.Printf("stop=%s\n", errText(err))
				break
			}
			n += 2
		}
		fmt.Printf("inflight=%d\n", n)
		// Exit without closing: both sockets are then held only by the
		// messages in flight, and their release starts no collection.
		return 0
	}
	err = unix.Sendmsg(sv[0], []byte{'x'}, unix.UnixRights(sv[1]), nil, unix.MSG_DONTWAIT)
	fmt.Printf("scm=%s\n", errText(err))
	return 0
}
