package release

// Background work at a lower priority than the runs: the niced worker thread and deferred kicks.

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// backgroundNice is how much lower than the supervisor's the priority of
// background work is: stock refills and teardowns must not take a CPU from
// a run's start or its program (on a small machine, the refill of a
// network namespace started when a run takes its slot competed with that
// same run's clone and exec).
const backgroundNice = 10

// Go runs fn on a goroutine of its own, locked to its OS thread with that
// thread's nice value raised by backgroundNice (children it starts inherit
// it), and puts the thread back as it was after. Where the thread's
// priority cannot be restored, the thread ends with the goroutine instead of
// running other goroutines at the lower priority.
func Go(fn func()) {
	go func() {
		runtime.LockOSThread()
		tid := unix.Gettid()
		// The raw getpriority value is 20 - nice.
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			fn()
			runtime.UnlockOSThread()
			return
		}
		nice := 20 - raw
		// Without the right to lower it again, the thread would have to
		// end after fn, and with it the parent-death signal of every
		// child it ever started (a box's pid 1 from an earlier run).
		lowered := mayLowerNiceTo(nice) &&
			unix.Setpriority(unix.PRIO_PROCESS, tid, min(nice+backgroundNice, 19)) == nil
		fn()
		if lowered && unix.Setpriority(unix.PRIO_PROCESS, tid, nice) != nil {
			return // the thread ends with the goroutine
		}
		runtime.UnlockOSThread()
	}()
}

// mayLowerNiceTo reports whether this thread may set its nice value back
// down to nice: with CAP_SYS_NICE, or within RLIMIT_NICE (20 - nice at
// most), as setpriority(2) checks.
func mayLowerNiceTo(nice int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) == nil && data[0].Effective&(1<<unix.CAP_SYS_NICE) != 0 {
		return true
	}
	var rl unix.Rlimit
	return unix.Getrlimit(unix.RLIMIT_NICE, &rl) == nil && uint64(20-nice) <= rl.Cur
}
