package forkexec

// Tests that OnOwnThread never runs on the main thread.

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestOnOwnThreadNeverMain: f never runs on the main thread, and each call
// gets a thread of its own (a locked goroutine that ends takes its thread).
func TestOnOwnThreadNeverMain(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		var tid int
		OnOwnThread(func() { tid = unix.Gettid() })
		if tid == unix.Getpid() {
			t.Fatalf("call %d ran on the main thread", i)
		}
		if seen[tid] {
			t.Fatalf("call %d reused thread %d: the thread was not ended", i, tid)
		}
		seen[tid] = true
	}
}
