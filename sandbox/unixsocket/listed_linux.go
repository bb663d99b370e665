package unixsocket

// Sockets of a network namespace left in flight after its processes are gone, and the wait for their collection.

import (
	"bytes"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/internal/nsenter"
)

// OpenListIn opens /proc/net/unix of the network namespace netns (an
// open descriptor) from a thread that enters it and comes back, for
// CountListed: no process needs to live there, so a namespace made ahead
// has its list before any run uses it.
func OpenListIn(netns int) (int, error) {
	fd, openErr := -1, error(nil)
	if err := nsenter.Run(netns, unix.CLONE_NEWNET, func() {
		fd, openErr = unix.Open("/proc/thread-self/net/unix", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("unixsocket: %w", err)
	}
	if openErr != nil {
		return -1, fmt.Errorf("unixsocket: open the socket list: %w", openErr)
	}
	return fd, nil
}

// CountListed returns how many sockets fd, an open /proc/.../net/unix,
// lists now. The descriptor lists the namespace it was opened in for as long
// as it stays open, after the namespace's last process is gone too: then
// the sockets left are those only messages in flight hold (a garbage cycle
// the kernel's collector has not freed yet) or that a socket outside the
// namespace holds.
func CountListed(fd int) (int, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return 0, fmt.Errorf("unixsocket: socket list: %w", err)
	}
	var text []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("unixsocket: socket list: %w", err)
		}
		if n == 0 {
			break
		}
		text = append(text, buf[:n]...)
	}
	// A header line, then one line per socket.
	return max(bytes.Count(text, []byte{'\n'})-1, 0), nil
}

// AwaitNoneListed waits until fd (see CountListed) lists no socket, having
// the kernel's collector run as often as that takes, at most tries times:
// each collection frees every cycle that was garbage when it started, and
// what it leaves is held from outside, which only the holder can let go
// (nil then too: failing would free nothing). When it had sockets to wait
// for, it waits for one collection more: the files the last cycles carried
// are released by the kernel's worker just after the sockets, and a later
// collection's release comes after theirs.
func AwaitNoneListed(fd, tries int) error {
	for try := 0; ; try++ {
		n, err := CountListed(fd)
		if err != nil {
			return err
		}
		if n == 0 {
			if try == 0 {
				return nil
			}
			return AwaitCollection()
		}
		if try == tries {
			return nil
		}
		if err := AwaitCollection(); err != nil {
			return err
		}
	}
}

// AwaitCollection has the kernel's collector of unix sockets run and waits
// for it (at most a second).
func AwaitCollection() error {
	gc, err := StartCollection()
	if err != nil {
		return err
	}
	return gc.Wait(time.Second)
}
