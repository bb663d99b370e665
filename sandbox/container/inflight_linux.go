package container

// The init's check for what a run left in flight in unix sockets, which outlives every process of the box.

import (
	"bytes"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/unixsocket"
)

// A descriptor sent over a unix socket that is itself in flight (a garbage
// cycle) stays open after every process of the box is gone, until the
// kernel's collector runs, and a file held so (a memfd, a file of /w or
// /tmp) keeps its pages charged to the container's cgroup: the next run
// would start with them in its peak (U4) and its limit, and with the
// descriptors charged to the box's host uid (U7). Such a cycle is made of
// sockets of the run's network namespace, which its /proc/net/unix lists
// after the run only while they are in flight: a reset that finds none
// costs one read; one that finds some waits for collections until none is
// left.

// openUnixList opens /proc/net/unix of the calling thread's network
// namespace; the descriptor lists that namespace's sockets for as long as
// it stays open.
func openUnixList() (int, error) {
	fd, err := unix.Open("/proc/thread-self/net/unix", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("init: open the unix socket list: %w", err)
	}
	return fd, nil
}

// countSockets returns how many sockets the list of fd holds now.
func countSockets(fd int) (int, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return 0, fmt.Errorf("init: unix socket list: %w", err)
	}
	var text []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("init: unix socket list: %w", err)
		}
		if n == 0 {
			break
		}
		text = append(text, buf[:n]...)
	}
	// A header line, then one line per socket.
	return max(bytes.Count(text, []byte{'\n'})-1, 0), nil
}

// collectInFlight waits until no socket of the last run's network namespace
// is left, having the kernel's collector run as often as that takes (a few
// times at most: each run frees every cycle that was garbage when it
// started; sockets left after busyRetries runs are held from outside the
// box, and the reset goes on without them), then once more: the files the last cycles carried are released
// by the kernel's worker just after the sockets, and a later collection's
// release comes after theirs.
func (s *initServer) collectInFlight() error {
	fd := s.runSockets
	if fd < 0 {
		return nil // no program since the last reset
	}
	defer s.dropRunSockets()
	for try := 0; ; try++ {
		n, err := countSockets(fd)
		if err != nil {
			return err
		}
		if n == 0 {
			if try == 0 {
				return nil
			}
			return waitCollection()
		}
		if try == busyRetries {
			// What no collection frees is no garbage: a message in a
			// socket outside the box holds it (a box whose stream is a
			// unix socket may send its own sockets over it), and only
			// the holder can let it go. Failing the reset would not free
			// it either, and would cost the pool a rebuild per such run.
			return nil
		}
		if err := waitCollection(); err != nil {
			return err
		}
	}
}

// waitCollection has the kernel's collector of unix sockets run and waits
// for it.
func waitCollection() error {
	gc, err := unixsocket.StartCollection()
	if err != nil {
		return err
	}
	return gc.Wait(time.Second)
}

func (s *initServer) dropRunSockets() {
	if s.runSockets >= 0 {
		unix.Close(s.runSockets)
		s.runSockets = -1
	}
}
