package unixsocket

// Tests of Conn: data, descriptors and credentials, truncation, too many descriptors, close, deadlines.

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, peer, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(peer.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	peer.Close()
	b, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestSendRecvDataFDsAndCredentials(t *testing.T) {
	a, b := pair(t)
	if err := b.SetPassCred(true); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cred := &unix.Ucred{Pid: int32(os.Getpid()), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if err := a.Send([]byte("hello"), []int{int(w.Fd())}, cred); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	m, err := b.Recv(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:m.N]) != "hello" || len(m.FDs) != 1 || m.Cred == nil || m.Cred.Pid != int32(os.Getpid()) {
		t.Fatalf("got %q fds=%v cred=%+v", buf[:m.N], m.FDs, m.Cred)
	}
	// The passed descriptor is the pipe's write end.
	if _, err := unix.Write(m.FDs[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	unix.Close(m.FDs[0])
	one := make([]byte, 1)
	if _, err := r.Read(one); err != nil || one[0] != 'x' {
		t.Fatalf("read %q %v", one, err)
	}
}

func TestTruncatedMessageIsAnErrorAndLeaksNoFD(t *testing.T) {
	a, b := pair(t)
	before := openFDs(t)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	if err := a.Send(make([]byte, 100), []int{int(devnull.Fd())}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(make([]byte, 10)); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if got := openFDs(t); got != before+1 { // +1: devnull
		t.Fatalf("fds: %d before, %d after", before, got)
	}
}

func TestTooManyFDsAreRefusedAndClosed(t *testing.T) {
	a, b := pair(t)
	before := openFDs(t)
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	fds := make([]int, MaxFDs+4)
	for i := range fds {
		fds[i] = int(devnull.Fd())
	}
	// Bypass Send's own check, as a hostile peer would.
	var err error
	a.rc.Write(func(fd uintptr) bool {
		err = unix.Sendmsg(int(fd), []byte("x"), unix.UnixRights(fds...), nil, 0)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Recv(make([]byte, 10)); !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if got := openFDs(t); got != before+1 {
		t.Fatalf("fds: %d before, %d after", before, got)
	}
}

func TestPeerCloseIsErrClosed(t *testing.T) {
	a, b := pair(t)
	a.Close()
	if _, err := b.Recv(make([]byte, 10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
}

func TestDeadlineAndCloseWakeAReader(t *testing.T) {
	_, b := pair(t)
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := b.Recv(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	b.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() { _, err := b.Recv(make([]byte, 10)); done <- err }()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Recv after Close returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
}

func TestNewRefusesOtherSocketTypes(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if _, err := New(fds[0]); err == nil {
		t.Fatal("New accepted a SOCK_STREAM socket")
	}
}
