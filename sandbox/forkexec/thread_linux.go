package forkexec

// thread_linux.go: running code on an OS thread of its own, never the main one.

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// OnOwnThread runs f on a goroutine locked to an OS thread that is not the
// process's main thread, and returns when f returns. The thread stays
// locked: when f has changed what belongs to the thread (its mount
// namespace, its credentials), the runtime ends the thread after f instead
// of handing it to other goroutines.
//
// The main thread is avoided because it is the thread group leader: what
// /proc/self shows (mountinfo, root, ns) is its view, and a goroutine that
// ends while locked to it does not end it (the runtime parks it for good),
// so a namespace entered there would stay the process's /proc/self view.
func OnOwnThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Stay locked here while f starts elsewhere: a thread locked
			// to this goroutine runs no other goroutine, so the new one
			// cannot land on the main thread too.
			OnOwnThread(f)
			runtime.UnlockOSThread()
			close(done)
			return
		}
		defer close(done)
		f()
	}()
	<-done
}

// HoldThread locks the calling goroutine to its OS thread until release
// (which may be called more than once) lets it go. A child's parent-death
// signal fires when the thread that cloned it ends, not the process, and
// Go ends a thread whenever a goroutine returns locked to it: a caller
// that clones a child with Pdeathsig and then blocks holds the thread so
// that the runtime hands it to no such goroutine while the child lives.
func HoldThread() (release func()) {
	runtime.LockOSThread()
	held := true
	return func() {
		if held {
			runtime.UnlockOSThread()
			held = false
		}
	}
}

// WaitExit waits for the child pid to end and reaps it (wait4, again after
// EINTR), filling status and rusage; at is when it was reaped. Called on a
// held thread (HoldThread), the wait blocks that thread in the system call,
// which the child's end wakes directly: a goroutine locked to its thread
// that waited on a channel instead would need the thread woken and handed
// the processor.
func WaitExit(pid int, status *unix.WaitStatus, rusage *unix.Rusage) (at time.Time, err error) {
	for {
		_, err = unix.Wait4(pid, status, 0, rusage)
		if err != unix.EINTR {
			return time.Now(), err
		}
	}
}
