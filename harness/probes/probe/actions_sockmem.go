package main

// sock-fill: memory held in socket buffers (R14). Kernel socket buffers are
// memory the box makes the host hold; whether they count against the box's
// memory limit depends on the cgroup version and the socket family, so the
// action fills one kind of socket and says how much the kernel holds for it.

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

func init() {
	register("sock-fill", sockFill)
}

// sockFillPairs bounds the socket pairs made, whatever the descriptor limit:
// a box that bounds nothing shows up as held=TARGET, not a host short of memory.
const sockFillPairs = 2000

// Indexes into SO_MEMINFO's array (include/uapi/linux/sock_diag.h).
const (
	meminfoRmemAlloc   = 0
	meminfoWmemAlloc   = 2
	meminfoWmemQueued  = 5
	meminfoVars        = 9
	sockFillChunk      = 64 << 10
	sockFillStallLimit = 20 // pairs in a row that take nothing: the kernel is refusing
)

// sock-fill KIND SIZE: queues up to SIZE bytes in sockets of KIND (tcp: a
// loopback connection whose reader never reads; tcp-backlog: loopback
// connections never accepted, so that their receiving ends are none of the
// box's descriptors, held counting what the senders handed over; udp: a loopback receiver that
// never reads; unix-stream, unix-dgram: socket pairs), pair after pair, each
// written without blocking until it takes no more. Prints held=N (what the
// kernel holds for the box's sockets, SO_MEMINFO's rmem_alloc and write
// queue summed, as often as it grows by 8 MiB and at the end), pairs=N,
// sent=N (payload bytes the kernel took),
// then fill=done when SIZE was held, or error=ERRNO for what stopped it.
// The sockets are kept open a moment after so the peak covers them all.
func sockFill(args []string) int {
	mustBeBoxed()
	if len(args) != 2 {
		return 2
	}
	target, err := sandbox.ParseSize(args[1])
	if err != nil {
		return 2
	}
	kind := args[0]
	var mk func() ([]int, int, error) // the pair's fds, the one written to
	switch kind {
	case "tcp":
		mk = tcpPair
	case "tcp-backlog":
		l, err := tcpListener(4096)
		if err != nil {
			fmt.Printf("listen=%s\n", errName(err))
			return 1
		}
		mk = func() ([]int, int, error) { return tcpUnaccepted(l) }
	case "udp":
		mk = udpPair
	case "unix-stream":
		mk = func() ([]int, int, error) { return unixPair(unix.SOCK_STREAM) }
	case "unix-dgram":
		mk = func() ([]int, int, error) { return unixPair(unix.SOCK_DGRAM) }
	default:
		fmt.Printf("kind=%s unknown (tcp, udp, unix-stream, unix-dgram)\n", kind)
		return 2
	}
	fmt.Printf("kind=%s target=%d\n", kind, target)
	chunk := make([]byte, sockFillChunk)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	var fds []int
	var held, shown, sent int64
	stalls, pairs := 0, 0
	stop := "pairs"
	for pairs < sockFillPairs {
		pair, w, err := mk()
		if err != nil {
			stop = errName(err)
			break
		}
		fds = append(fds, pair...)
		pairs++
		n := fillOne(w, chunk, kind == "udp")
		sent += n
		if n == 0 {
			if stalls++; stalls >= sockFillStallLimit {
				stop = "stalled"
				break
			}
		} else {
			stalls = 0
		}
		held = heldBy(fds)
		if kind == "tcp-backlog" {
			// The receiving ends are no descriptors of the box's: what
			// they hold is what the senders handed over.
			held = max(held, sent)
		}
		if held >= shown+8<<20 {
			fmt.Printf("held=%d\n", held)
			shown = held
		}
		if held >= target {
			stop = ""
			break
		}
	}
	if kind != "tcp-backlog" {
		held = heldBy(fds)
	}
	fmt.Printf("pairs=%d\nsent=%d\nheld=%d\n", pairs, sent, held)
	if stop == "" {
		fmt.Println("fill=done")
	} else {
		fmt.Printf("error=%s\n", stop)
	}
	// Not time.Sleep: with every descriptor taken the Go runtime cannot
	// make the eventfd its timers need, and dies.
	unix.Nanosleep(&unix.Timespec{Nsec: int64(100 * time.Millisecond)}, nil)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return 0
}

// fillOne writes chunks to fd until the kernel takes no more, and returns
// the bytes it took. A UDP sender is never told the receiver is full (the
// datagrams are dropped there), so it stops after what the receive buffer
// could hold at most.
func fillOne(fd int, chunk []byte, udp bool) int64 {
	var sent int64
	limit := int64(-1)
	if udp {
		rcv, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
		limit = 2*int64(rcv) + 256<<10
	}
	for limit < 0 || sent < limit {
		n, err := unix.Write(fd, chunk)
		if n > 0 {
			sent += int64(n)
		}
		if err != nil || n <= 0 {
			if errors.Is(err, unix.EMSGSIZE) && len(chunk) > 1024 {
				chunk = chunk[:len(chunk)/2]
				continue
			}
			break
		}
	}
	return sent
}

// heldBy sums what the kernel holds for the sockets: what waits to be read,
// and what is queued or in flight on the sending side.
func heldBy(fds []int) int64 {
	var total int64
	for _, fd := range fds {
		var info [meminfoVars]uint32
		size := uint32(len(info) * 4)
		if err := getsockoptRaw(fd, unix.SOL_SOCKET, unix.SO_MEMINFO, &info[0], &size); err != nil {
			continue
		}
		total += int64(info[meminfoRmemAlloc]) + int64(max(info[meminfoWmemAlloc], info[meminfoWmemQueued]))
	}
	return total
}

// tcpListener listens on a loopback port of the box's own.
func tcpListener(backlog int) (int, error) {
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(l)
		return -1, err
	}
	if err := unix.Listen(l, backlog); err != nil {
		unix.Close(l)
		return -1, err
	}
	return l, nil
}

// tcpConnect connects a new non-blocking socket to the listener l.
func tcpConnect(l int) (int, error) {
	addr, err := unix.Getsockname(l)
	if err != nil {
		return -1, err
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(c, addr); err != nil {
		unix.Close(c)
		return -1, err
	}
	if err := unix.SetNonblock(c, true); err != nil {
		unix.Close(c)
		return -1, err
	}
	return c, nil
}

// tcpUnaccepted is a connection to l that is never accepted: its
// receiving end waits in the listener's queue, holding what it receives.
func tcpUnaccepted(l int) ([]int, int, error) {
	c, err := tcpConnect(l)
	if err != nil {
		return nil, 0, err
	}
	return []int{c}, c, nil
}

func tcpPair() ([]int, int, error) {
	l, err := tcpListener(1)
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(l)
	c, err := tcpConnect(l)
	if err != nil {
		return nil, 0, err
	}
	a, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(c)
		return nil, 0, err
	}
	return []int{c, a}, c, nil
}

func udpPair() ([]int, int, error) {
	r, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	if err := unix.Bind(r, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(r)
		return nil, 0, err
	}
	addr, err := unix.Getsockname(r)
	if err != nil {
		unix.Close(r)
		return nil, 0, err
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		unix.Close(r)
		return nil, 0, err
	}
	if err := unix.Connect(s, addr); err != nil {
		unix.Close(r)
		unix.Close(s)
		return nil, 0, err
	}
	return []int{s, r}, s, nil
}

func unixPair(typ int) ([]int, int, error) {
	p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	return p[:], p[0], nil
}

// getsockoptRaw is getsockopt(2) into a caller's buffer, for options x/sys
// has no typed getter for (SO_MEMINFO's array).
func getsockoptRaw(fd, level, opt int, val *uint32, size *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(val)), uintptr(unsafe.Pointer(size)), 0)
	if e != 0 {
		return e
	}
	return nil
}
