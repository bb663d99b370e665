package forkexec

// thread_linux.go: running code on an OS thread of its own, never the main one.

import (
	"runtime"

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
