package main

// host-nonblock: the standard streams are file descriptions the box shares
// with whoever handed them in; their status flags (O_NONBLOCK, O_APPEND)
// belong to the description, so a change made inside is seen outside (H4).

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func init() {
	register("host-nonblock", hostNonblock)
}

// host-nonblock: sets O_NONBLOCK on descriptor 0 and prints set=ok or
// set=ERRNO.
func hostNonblock([]string) int {
	mustBeBoxed()
	fl, err := unix.FcntlInt(0, unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(0, unix.F_SETFL, fl|unix.O_NONBLOCK)
	}
	fmt.Printf("set=%s\n", errText(err))
	return 0
}
