package unixsocket

// Tests of StartCollection: a wait returns only once a cycle that was garbage before it has been freed.

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCollectionFreesEarlierCycles leaves a pipe's write end in flight in
// a socket that holds itself, as a box may, and checks that once Wait
// returns the pipe has no writer left.
func TestCollectionFreesEarlierCycles(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Sendmsg(sv[0], []byte{0}, unix.UnixRights(p[1], sv[0], sv[1]), nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[1])
	unix.Close(sv[0])
	unix.Close(sv[1])

	gc, err := StartCollection()
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The cycle's files are released by the same kernel worker as the
	// canary, possibly just after it: a second collection orders after.
	gc, err = StartCollection()
	if err != nil {
		t.Fatal(err)
	}
	if err := gc.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, 0); err != nil {
		t.Fatal(err)
	}
	if fds[0].Revents&unix.POLLHUP == 0 {
		t.Fatalf("the pipe's write end is still open after the collection (revents %#x): the cycle was not freed", fds[0].Revents)
	}
}
