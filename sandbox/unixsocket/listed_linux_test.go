package unixsocket

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/internal/nsenter"
)

// TestAwaitNoneListedFreesALeftCycle: a garbage cycle left in a network
// namespace of its own (both ends of a pair sent through it, then closed)
// stays listed until a collection frees it; AwaitNoneListed returns once
// none is listed.
func TestAwaitNoneListedFreesALeftCycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own")
	}
	type outcome struct {
		before, after int
		err           error
	}
	done := make(chan outcome, 1)
	go func() {
		// The thread stays in the new namespace: locked, it ends with
		// this goroutine.
		runtime.LockOSThread()
		var o outcome
		defer func() { done <- o }()
		if o.err = unix.Unshare(unix.CLONE_NEWNET); o.err != nil {
			return
		}
		list, err := unix.Open("/proc/thread-self/net/unix", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if o.err = err; err != nil {
			return
		}
		defer unix.Close(list)
		sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if o.err = err; err != nil {
			return
		}
		for range 8 {
			if o.err = unix.Sendmsg(sv[0], []byte{'x'}, unix.UnixRights(sv[0], sv[1]), nil, unix.MSG_DONTWAIT); o.err != nil {
				return
			}
		}
		unix.Close(sv[0])
		unix.Close(sv[1])
		if o.before, o.err = CountListed(list); o.err != nil {
			return
		}
		if o.err = AwaitNoneListed(list, 3); o.err != nil {
			return
		}
		o.after, o.err = CountListed(list)
	}()
	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.before != 2 || o.after != 0 {
		t.Fatalf("sockets listed: %d with the cycle in flight (want 2), %d after AwaitNoneListed (want 0)", o.before, o.after)
	}
}

// TestOpenListInSeesTheNamespacesSockets: the list OpenListIn opens from
// outside a network namespace (no process of it lives there) shows the
// sockets made in it, and only those.
func TestOpenListInSeesTheNamespacesSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own")
	}
	netns := make(chan int, 1)
	go func() {
		// The thread stays in the new namespace: locked, it ends with
		// this goroutine.
		runtime.LockOSThread()
		if unix.Unshare(unix.CLONE_NEWNET) != nil {
			netns <- -1
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = -1
		}
		netns <- fd
	}()
	ns := <-netns
	if ns < 0 {
		t.Fatal("could not make a network namespace")
	}
	defer unix.Close(ns)
	list, err := OpenListIn(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(list)
	var sv [2]int
	var pairErr error
	if err := nsenter.Run(ns, unix.CLONE_NEWNET, func() {
		sv, pairErr = unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	}); err != nil || pairErr != nil {
		t.Fatal(err, pairErr)
	}
	n, err := CountListed(list)
	unix.Close(sv[0])
	unix.Close(sv[1])
	if err != nil || n != 2 {
		t.Fatalf("the namespace's list shows %d sockets (%v); want the pair made in it", n, err)
	}
}
