package container

// The init's check for what a run left in flight in unix sockets, which outlives every process of the box.

import (
	"fmt"

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

// collectInFlight waits until no socket of the last run's network namespace
// is left (unixsocket.AwaitNoneListed): sockets left after busyRetries
// collections are held from outside the box (a box whose stream is a unix
// socket may send its own sockets over it), and the reset goes on without
// them; failing it would not free them either, and would cost the pool a
// rebuild per such run.
func (s *initServer) collectInFlight() error {
	fd := s.runSockets
	if fd < 0 {
		return nil // no program since the last reset
	}
	defer s.dropRunSockets()
	if err := unixsocket.AwaitNoneListed(fd, busyRetries); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

func (s *initServer) dropRunSockets() {
	if s.runSockets >= 0 {
		unix.Close(s.runSockets)
		s.runSockets = -1
	}
}
