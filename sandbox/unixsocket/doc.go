// Package unixsocket carries datagrams with descriptors (SCM_RIGHTS) and
// credentials (SCM_CREDENTIALS) over a SOCK_SEQPACKET unix socket pair: the
// link between the host and a pooled container's init.
//
// A Conn keeps message boundaries (one Send is one Recv), never blocks the
// whole program (reads go through Go's poller, so deadlines and Close from
// another goroutine work) and refuses anything it cannot account for: a
// truncated message or truncated control data is an error and every
// descriptor that came with it is closed, so a misbehaving peer cannot leak
// descriptors into this process.
//
// It is a transport, not a protocol: what the bytes mean is the caller's
// business (see sandbox/container). Do not use it for streams; use a pipe or a
// SOCK_STREAM socket for that.
package unixsocket
