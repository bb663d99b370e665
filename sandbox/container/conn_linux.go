package container

// The host's end of the init's socket: the read loop, sending commands and awaiting their replies.

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/container/internal/protocol"
)

// readLoop hands every message to whoever waits for one; the first error
// (the init closed the socket or sent garbage) marks the container dead.
func (c *Container) readLoop() {
	for {
		m, err := c.link.Recv()
		if err != nil {
			c.deadErr = err
			close(c.dead)
			return
		}
		select {
		case c.in <- m:
		case <-c.closing:
			m.CloseFDs()
			return
		}
	}
}

func (c *Container) send(kind protocol.Kind, body []byte, fds []int, cred *unix.Ucred) (uint32, error) {
	c.seq++
	if err := c.sendSeq(kind, c.seq, body, fds, cred); err != nil {
		return 0, err
	}
	return c.seq, nil
}

// sendSeq sends one message with a given sequence number. A stopped init
// stops reading and its socket queue fills up: the deadline keeps the host
// from blocking on it for good.
func (c *Container) sendSeq(kind protocol.Kind, seq uint32, body []byte, fds []int, cred *unix.Ucred) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.b.replyTimeout()))
	if err := c.link.Send(kind, seq, body, fds, cred); err != nil {
		return c.fail(fmt.Errorf("send %s: %w", kind, err))
	}
	return nil
}

// await waits for the next message, bounded by ctx, timeout and the init's
// death. A wrong sequence number breaks the container.
func (c *Container) await(ctx context.Context, seq uint32, timeout time.Duration) (protocol.Message, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m := <-c.in:
		if m.Seq != seq {
			m.CloseFDs()
			return protocol.Message{}, c.fail(protocol.Errorf("%s for request %d while waiting for %d", m.Kind, m.Seq, seq))
		}
		return m, nil
	case <-c.dead:
		return protocol.Message{}, c.fail(fmt.Errorf("connection to the init lost: %w", c.deadErr))
	case <-t.C:
		return protocol.Message{}, c.fail(fmt.Errorf("the init did not answer within %v", timeout))
	case <-ctx.Done():
		// The exchange is half done: the container cannot be trusted to be
		// in step any more.
		return protocol.Message{}, c.fail(fmt.Errorf("cancelled while waiting for the init: %w", ctx.Err()))
	}
}

// request sends a command and expects KindOK; KindError becomes an error.
func (c *Container) request(ctx context.Context, kind protocol.Kind, body []byte, fds []int, timeout time.Duration) error {
	seq, err := c.sendRequest(kind, body, fds)
	if err != nil {
		return err
	}
	return c.reply(ctx, kind, seq, timeout)
}

// sendRequest sends a command whose answer reply then waits for.
func (c *Container) sendRequest(kind protocol.Kind, body []byte, fds []int) (uint32, error) {
	if err := c.Broken(); err != nil {
		return 0, err
	}
	return c.send(kind, body, fds, nil)
}

// reply waits for the answer to the command kind sent as seq: KindOK, or
// KindError, which becomes an error.
func (c *Container) reply(ctx context.Context, kind protocol.Kind, seq uint32, timeout time.Duration) error {
	m, err := c.await(ctx, seq, timeout)
	if err != nil {
		return err
	}
	defer m.CloseFDs()
	if len(m.FDs) != 0 {
		return c.fail(protocol.Errorf("%s reply with descriptors", kind))
	}
	switch m.Kind {
	case protocol.KindOK:
		if err := protocol.EmptyBody(m.Kind, m.Body); err != nil {
			return c.fail(err)
		}
		c.lastUsed = time.Now()
		return nil
	case protocol.KindError:
		r, err := protocol.UnmarshalError(m.Body)
		if err != nil {
			return c.fail(err)
		}
		// A failed command leaves the container in an unknown state.
		return c.fail(&replyError{kind, r})
	}
	return c.fail(protocol.Errorf("%s in reply to %s", m.Kind, kind))
}

// replyError is a command the init answered with KindError.
type replyError struct {
	kind protocol.Kind
	r    protocol.ErrorReply
}

func (e *replyError) Error() string {
	if e.r.Errno != 0 {
		return fmt.Sprintf("%s: %s (%v)", e.kind, e.r.Message, unix.Errno(e.r.Errno))
	}
	return fmt.Sprintf("%s: %s", e.kind, e.r.Message)
}

// Unwrap gives the errno, if any, to errors.Is.
func (e *replyError) Unwrap() error {
	if e.r.Errno != 0 {
		return unix.Errno(e.r.Errno)
	}
	return nil
}
