// Package protocol is the wire protocol between a pooled container's host
// (sandbox/container's Builder, Container and Pool) and its init: the
// message header, the bodies of every message kind with their encoder and
// validating decoder, and the Link that carries messages, with their
// descriptors and credentials, over a SOCK_SEQPACKET socket. It is written
// out field by field in docs/protocol.md.
//
// Both sides are the same program, so the protocol has one version and no
// negotiation. Any violation (ErrViolation) ends the container: no
// legitimate peer sends a malformed message. Not for use outside
// sandbox/container.
package protocol
