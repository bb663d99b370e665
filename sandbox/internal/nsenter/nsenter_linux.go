package nsenter

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// nsNames are the names under /proc/thread-self/ns of the kinds Run takes.
var nsNames = map[int]string{
	unix.CLONE_NEWIPC: "ipc",
	unix.CLONE_NEWNET: "net",
	unix.CLONE_NEWUTS: "uts",
}

// Run calls f on an OS thread that has entered ns, an open descriptor of a
// namespace of kind nstype (unix.CLONE_NEWIPC, CLONE_NEWNET or
// CLONE_NEWUTS), and returns the thread to its own namespace after. It
// returns an error when the thread could not enter (f did not run) or
// could not come back (f ran: the caller undoes what f made; the thread
// stays locked and ends with its goroutine, so nothing else runs in the
// wrong namespace).
func Run(ns, nstype int, f func()) error {
	name, ok := nsNames[nstype]
	if !ok {
		return fmt.Errorf("nsenter: namespace kind %#x not supported", nstype)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("nsenter: open this thread's %s namespace: %w", name, err)
			return
		}
		defer unix.Close(home)
		if err := unix.Setns(ns, nstype); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("nsenter: enter the %s namespace: %w", name, err)
			return
		}
		f()
		if err := unix.Setns(home, nstype); err != nil {
			done <- fmt.Errorf("nsenter: back to this thread's %s namespace: %w", name, err)
			return // locked: the thread ends with this goroutine
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	return <-done
}
