package unixsocket

// Conn: a SOCK_SEQPACKET socket that sends and receives datagrams with descriptors and credentials.

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxFDs is the most descriptors one message may carry. The receive buffer
// for control data is sized for exactly this many, so a peer sending more
// produces ErrTruncated instead of a silent loss.
const MaxFDs = 64

// ErrTruncated means a message or its control data did not fit the buffer:
// the peer sent more than the protocol allows. Descriptors that did arrive
// have been closed.
var ErrTruncated = errors.New("unixsocket: message truncated")

// ErrControl means the control data held something other than descriptors
// and credentials. Descriptors that did arrive have been closed.
var ErrControl = errors.New("unixsocket: unexpected control message")

// Msg is one received message. The caller owns FDs (close-on-exec) and must
// close those it does not keep.
type Msg struct {
	N    int         // bytes of data placed in the caller's buffer
	FDs  []int       // descriptors passed with SCM_RIGHTS
	Cred *unix.Ucred // credentials, when the socket has SO_PASSCRED set
}

// Conn is one end of a SOCK_SEQPACKET pair. Send and Recv may be called from
// different goroutines at once; concurrent Sends (or Recvs) are the caller's
// to serialise if order matters.
type Conn struct {
	f  *os.File
	rc syscall.RawConn
}

// Pair makes a connected SOCK_SEQPACKET pair. The first end is a Conn for
// this process; the second is a plain blocking *os.File meant to be handed to
// a child (exec.Cmd.ExtraFiles), who wraps it with New. Both are
// close-on-exec in this process.
func Pair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("unixsocket: socketpair: %w", err)
	}
	c, err := New(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "unixsocket-peer"), nil
}

// New wraps fd, which must be a SOCK_SEQPACKET unix socket, and takes
// ownership of it (it is closed on error too). The descriptor is made
// non-blocking and close-on-exec.
func New(fd int) (*Conn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("unixsocket: fd %d: %w", fd, err)
	}
	if typ != unix.SOCK_SEQPACKET {
		unix.Close(fd)
		return nil, fmt.Errorf("unixsocket: fd %d: socket type %d, want SOCK_SEQPACKET", fd, typ)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("unixsocket: fd %d: set non-blocking: %w", fd, err)
	}
	// A non-blocking descriptor registers with the poller, which gives
	// deadlines and a Close that wakes readers.
	f := os.NewFile(uintptr(fd), "unixsocket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("unixsocket: %w", err)
	}
	return &Conn{f: f, rc: rc}, nil
}

// SetPassCred turns SO_PASSCRED on, so every received message carries the
// sender's credentials (or those it chose to send, within its privileges).
func (c *Conn) SetPassCred(on bool) error {
	var err error
	ctlErr := c.rc.Control(func(fd uintptr) {
		v := 0
		if on {
			v = 1
		}
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, v)
	})
	if ctlErr != nil {
		return fmt.Errorf("unixsocket: set SO_PASSCRED: %w", ctlErr)
	}
	if err != nil {
		return fmt.Errorf("unixsocket: set SO_PASSCRED: %w", err)
	}
	return nil
}

// Send sends data as one message with fds (SCM_RIGHTS) and, when cred is not
// nil, explicit credentials (SCM_CREDENTIALS: sending a pid other than one's
// own needs CAP_SYS_ADMIN over the pid namespace, and the kernel translates
// it into the receiver's pid namespace).
func (c *Conn) Send(data []byte, fds []int, cred *unix.Ucred) error {
	if len(fds) > MaxFDs {
		return fmt.Errorf("unixsocket: %d descriptors in one message, at most %d", len(fds), MaxFDs)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if cred != nil {
		oob = append(oob, unix.UnixCredentials(cred)...)
	}
	var err error
	writeErr := c.rc.Write(func(fd uintptr) bool {
		err = unix.Sendmsg(int(fd), data, oob, nil, unix.MSG_NOSIGNAL)
		return err != unix.EAGAIN
	})
	if writeErr != nil {
		return fmt.Errorf("unixsocket: send: %w", writeErr)
	}
	if err != nil {
		return fmt.Errorf("unixsocket: send: %w", err)
	}
	return nil
}

// oobSize fits MaxFDs descriptors and one set of credentials.
var oobSize = unix.CmsgSpace(MaxFDs*4) + unix.CmsgSpace(unix.SizeofUcred)

// Recv receives one message into buf. A message longer than buf, or with
// more control data than MaxFDs descriptors and credentials, is
// ErrTruncated. At end of stream (the peer closed) it returns io.EOF-like
// ErrClosed.
func (c *Conn) Recv(buf []byte) (Msg, error) {
	oob := make([]byte, oobSize)
	var (
		n, oobn, flags int
		err            error
	)
	readErr := c.rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, err = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return err != unix.EAGAIN
	})
	if readErr != nil {
		return Msg{}, fmt.Errorf("unixsocket: receive: %w", readErr)
	}
	if err != nil {
		return Msg{}, fmt.Errorf("unixsocket: receive: %w", err)
	}
	m := Msg{N: n}
	cerr := parseControl(oob[:oobn], &m)
	switch {
	case cerr != nil:
	case flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0, len(m.FDs) > MaxFDs:
		// More descriptors than MaxFDs can fit where the credentials would
		// have gone: just as much a breach of the limit.
		cerr = ErrTruncated
	case n == 0 && oobn == 0:
		// A SEQPACKET socket reads zero bytes only at end of stream: the
		// protocol never sends empty messages.
		cerr = ErrClosed
	}
	if cerr != nil {
		for _, fd := range m.FDs {
			unix.Close(fd)
		}
		return Msg{}, cerr
	}
	return m, nil
}

// ErrClosed means the peer closed its end.
var ErrClosed = errors.New("unixsocket: peer closed the connection")

func parseControl(oob []byte, m *Msg) error {
	if len(oob) == 0 {
		return nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		// The kernel wrote this buffer; a parse failure means it was cut
		// short. Descriptors in it cannot be found to close, which is why
		// the buffer is sized so this never happens.
		return fmt.Errorf("%w: %v", ErrControl, err)
	}
	var bad error
	for i := range cmsgs {
		cm := &cmsgs[i]
		switch {
		case cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SCM_RIGHTS:
			fds, err := unix.ParseUnixRights(cm)
			if err != nil {
				bad = fmt.Errorf("%w: %v", ErrControl, err)
				continue
			}
			m.FDs = append(m.FDs, fds...)
		case cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SCM_CREDENTIALS:
			cred, err := unix.ParseUnixCredentials(cm)
			if err != nil {
				bad = fmt.Errorf("%w: %v", ErrControl, err)
				continue
			}
			m.Cred = cred
		default:
			bad = fmt.Errorf("%w: level %d type %d", ErrControl, cm.Header.Level, cm.Header.Type)
		}
	}
	return bad
}

// SetReadDeadline bounds the Recv calls in progress and to come; a Recv past
// the deadline fails with an error wrapping os.ErrDeadlineExceeded.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline bounds Send the same way.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// Close closes the socket; Recv and Send blocked in other goroutines return
// an error.
func (c *Conn) Close() error { return c.f.Close() }

// Shutdown shuts both directions down without releasing the descriptor, so
// the peer sees end of stream while readers here still hold a valid Conn.
func (c *Conn) Shutdown() error {
	var err error
	ctlErr := c.rc.Control(func(fd uintptr) { err = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
	if ctlErr != nil {
		return ctlErr
	}
	return err
}

// CollectGarbage starts the kernel's collection of unix sockets that only
// messages in flight hold. Descriptors in flight are charged to the
// sender's host uid, and a cycle a box left (a socket sent over itself)
// stays charged until some unix socket is released somewhere: a later box
// with the same host uid (a reused slot or container) could then pass no
// descriptor (ETOOMANYREFS). Releasing a socket while anything is in
// flight starts a collection, which the kernel runs in the background.
func CollectGarbage() {
	if sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err == nil {
		unix.Close(sv[0])
		unix.Close(sv[1])
	}
}
