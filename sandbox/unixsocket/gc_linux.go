package unixsocket

// A collection of unix sockets held only by messages in flight that the caller can wait for.

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ErrCollectTimeout is returned by Collection.Wait when no collection
// released the canary in time.
var ErrCollectTimeout = errors.New("unixsocket: the garbage collection did not finish in time")

// Collection is a garbage collection started by StartCollection.
type Collection struct {
	canary int // read end of a pipe whose only writer is in flight in a garbage cycle
}

// StartCollection starts a collection of unix sockets that only messages
// in flight hold, as CollectGarbage does, and returns what Wait waits for.
// The kernel's collector runs in the background, and the files it frees are
// released later still (by a kernel worker), so files a dead box left in
// flight (a cycle of sockets that carries a tmpfs file or a memfd) keep
// their pages charged to the box's cgroup for a while after CollectGarbage
// returns. StartCollection puts a canary of its own in flight: the write end
// of a pipe, in a socket that holds itself. It is garbage only once the
// box's cycles already were, so the collection that frees it frees theirs
// too, and Wait sees it go (end of file on the pipe).
func StartCollection() (*Collection, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("unixsocket: canary pipe: %w", err)
	}
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("unixsocket: canary socket pair: %w", err)
	}
	// Sent on sv[0], the message waits in sv[1]'s queue and carries sv[1]
	// itself: a cycle that holds the pipe's write end.
	err = unix.Sendmsg(sv[0], []byte{0}, unix.UnixRights(p[1], sv[1]), nil, unix.MSG_DONTWAIT)
	unix.Close(p[1])
	unix.Close(sv[1])
	// Releasing sv[0], never in flight, starts the collection.
	unix.Close(sv[0])
	if err != nil {
		unix.Close(p[0])
		return nil, fmt.Errorf("unixsocket: canary in flight: %w", err)
	}
	return &Collection{canary: p[0]}, nil
}

// Wait waits until the collection has released the canary, and so every
// cycle that was garbage when StartCollection was called, or until timeout
// has passed (ErrCollectTimeout). It closes the canary either way; call it
// once.
func (c *Collection) Wait(timeout time.Duration) error {
	defer unix.Close(c.canary)
	deadline := time.Now().Add(timeout)
	kicked := false
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ErrCollectTimeout
		}
		// A collection already running when the canary went in flight
		// may have missed it: after a first wait, start another.
		wait := left
		if !kicked {
			wait = min(left, 50*time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(c.canary), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(wait.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("unixsocket: wait for the canary: %w", err)
		}
		if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return nil
		}
		if n == 0 && !kicked {
			CollectGarbage()
			kicked = true
		}
	}
}
