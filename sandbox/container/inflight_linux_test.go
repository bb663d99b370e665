package container

// Tests of the reset's wait for unix sockets a run left in flight.

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// TestResetAfterSocketSentOut: a box whose stdout is a unix socket (which
// sandbox.CheckStream accepts) may send one of its own unix sockets over
// it; the message waits in the caller's end, which the caller holds, so
// that socket outlives the box without being garbage. No collection frees
// it, and the reset must not fail for it (a failed reset costs the pool a
// rebuild, which every such run could force).
func TestResetAfterSocketSentOut(t *testing.T) {
	c, ctx := resetAfterSendingOut(t, `import socket, array
a, b = socket.socketpair()
out = socket.socket(fileno=1)
out.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno()]))])
`)
	if r := c.Run(ctx, sandbox.Spec{Args: []string{"/bin/true"}}); r.Status != sandbox.StatusOK {
		t.Fatalf("run after the reset: %+v", r)
	}
}

// TestResetAfterTmpFileSentOut: as TestResetAfterSocketSentOut, with an open
// file of /tmp sent out: the old /tmp stays busy for as long as the caller
// holds the message, and the reset must still give the next run a fresh
// one instead of failing.
func TestResetAfterTmpFileSentOut(t *testing.T) {
	c, ctx := resetAfterSendingOut(t, `import socket, array, os
f = os.open("/tmp/held", os.O_CREAT | os.O_RDWR, 0o600)
out = socket.socket(fileno=1)
out.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [f]))])
`)
	if r := c.Run(ctx, sandbox.Spec{Args: []string{"/bin/sh", "-c", "test ! -e /tmp/held"}}); r.Status != sandbox.StatusOK {
		t.Fatalf("the run after the reset sees the last run's /tmp: %+v", r)
	}
}

// resetAfterSendingOut runs the Python script in a container whose stdout
// is a unix socket the test holds (the script sends something over it),
// resets the container, which must not fail, and returns it for a next run.
func resetAfterSendingOut(t *testing.T, script string) (*Container, context.Context) {
	t.Helper()
	needRoot(t)
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for the box")
	}
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours := os.NewFile(uintptr(sv[0]), "ours")
	theirs := os.NewFile(uintptr(sv[1]), "theirs")
	t.Cleanup(func() { ours.Close() })
	bl := &Builder{}
	t.Cleanup(func() { bl.Close() })
	c := buildOne(t, bl)
	ctx := testContext(t)
	r := c.Run(ctx, sandbox.Spec{Args: []string{"/usr/bin/python3", "-c", script}, Stdout: theirs})
	theirs.Close()
	if r.Status != sandbox.StatusOK {
		t.Fatalf("run: %+v", r)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatalf("reset after a run that sent something out over its stdout: %v", err)
	}
	return c, ctx
}
