package testhost

import (
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EndThreadOnPhase returns a phase hook (a runner's phaseHook) that, the
// first time the named phase ends, blocks its caller's goroutine with a
// goroutine that returns locked to its thread next in line: unless the
// caller holds its thread, that goroutine runs on it and the runtime ends
// the thread, as it does for any goroutine of an embedding program that
// returns locked (namespace libraries do so on purpose). ended says
// whether the thread that goroutine ended was the caller's.
func EndThreadOnPhase(phase string) (hook func(phase string, d time.Duration), ended <-chan bool) {
	var once sync.Once
	result := make(chan bool, 1)
	hook = func(p string, _ time.Duration) {
		if p != phase {
			return
		}
		once.Do(func() {
			caller := unix.Gettid()
			resume := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				result <- unix.Gettid() == caller
				close(resume)
			}()
			<-resume
		})
	}
	return hook, result
}
