package protocol

// One end of the host-init socket: datagrams with descriptors and credentials, bodies in memfds.

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/memfd"
	"gosandbox/sandbox/unixsocket"
)

// Message is one received datagram, decoded down to its header; the body is
// decoded by whoever expects that kind.
type Message struct {
	Header
	Body []byte
	FDs  []int       // owned by the receiver; closed by CloseFDs unless taken
	Cred *unix.Ucred // SCM_CREDENTIALS, when the socket passes them
}

// CloseFDs closes every descriptor the message still holds.
func (m *Message) CloseFDs() {
	for _, fd := range m.FDs {
		unix.Close(fd)
	}
	m.FDs = nil
}

// Link sends and receives protocol messages over one socket.
type Link struct {
	conn *unixsocket.Conn
	buf  []byte
	// allowBodyFD accepts bodies passed in a memfd (the init does, for
	// large exec requests; the host never needs it from the init).
	allowBodyFD bool
}

// NewLink speaks the protocol over c. allowBodyFD accepts bodies passed in
// a memfd, which only the init needs (the host never sends a large reply).
func NewLink(c *unixsocket.Conn, allowBodyFD bool) *Link {
	return &Link{conn: c, buf: make([]byte, MaxPacket+1), allowBodyFD: allowBodyFD}
}

// Send sends one message. A body too large for a datagram goes in a memfd
// appended to fds.
func (l *Link) Send(kind Kind, seq uint32, body []byte, fds []int, cred *unix.Ucred) error {
	if len(body) > MaxBody {
		return fmt.Errorf("container: %s body of %d bytes, more than %d", kind, len(body), MaxBody)
	}
	h := Header{Kind: kind, Seq: seq, BodyLen: uint32(len(body)), NumFDs: uint16(len(fds))}
	if HeaderSize+len(body) <= MaxPacket {
		pkt := AppendHeader(make([]byte, 0, HeaderSize+len(body)), h)
		pkt = append(pkt, body...)
		return l.conn.Send(pkt, fds, cred)
	}
	f, err := memfd.WithContent("gosandbox-msg", body)
	if err != nil {
		return err
	}
	defer f.Close()
	h.Flags |= FlagBodyInFD
	h.NumFDs++
	all := append(append([]int(nil), fds...), int(f.Fd()))
	return l.conn.Send(AppendHeader(nil, h), all, cred)
}

// Recv receives and checks one message. Any error means the peer broke the
// protocol or went away; the message's descriptors are closed then.
func (l *Link) Recv() (Message, error) {
	m, err := l.conn.Recv(l.buf)
	if err != nil {
		return Message{}, err
	}
	msg := Message{FDs: m.FDs, Cred: m.Cred}
	h, body, err := ParsePacket(l.buf[:m.N], len(m.FDs))
	if err != nil {
		msg.CloseFDs()
		return Message{}, err
	}
	msg.Header = h
	if h.Flags&FlagBodyInFD == 0 {
		msg.Body = append([]byte(nil), body...)
		return msg, nil
	}
	if !l.allowBodyFD {
		msg.CloseFDs()
		return Message{}, Errorf("%s: body in a descriptor is not accepted here", h.Kind)
	}
	last := msg.FDs[len(msg.FDs)-1]
	msg.FDs = msg.FDs[:len(msg.FDs)-1]
	msg.Body, err = readBody(last, int64(h.BodyLen))
	unix.Close(last)
	if err != nil {
		msg.CloseFDs()
		return Message{}, err
	}
	return msg, nil
}

// readBody reads exactly size bytes from a body memfd, refusing anything
// that is not a regular file of that size (a pipe could block forever).
func readBody(fd int, size int64) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("container: stat message body: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != size {
		return nil, Errorf("message body descriptor: mode %#o size %d, want a regular file of %d bytes", st.Mode, st.Size, size)
	}
	b := make([]byte, size)
	for off := 0; off < len(b); {
		n, err := unix.Pread(fd, b[off:], int64(off))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("container: read message body: %w", err)
		}
		if n == 0 {
			return nil, Errorf("message body shorter than announced")
		}
		off += n
	}
	return b, nil
}
