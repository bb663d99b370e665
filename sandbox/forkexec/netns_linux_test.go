package forkexec

// Tests of network namespaces made ahead and entered by the child, and of the clone hook.

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox/mount"
)

// makeNetNS makes an empty network namespace on a thread of its own and
// returns a descriptor of it, closed at cleanup.
func makeNetNS(t *testing.T) int {
	t.Helper()
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer unix.Close(home)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if serr := unix.Setns(home, unix.CLONE_NEWNET); serr != nil {
			ch <- result{-1, serr} // the thread dies with this goroutine
			return
		}
		runtime.UnlockOSThread()
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("make a network namespace: %v", r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
	return r.fd
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestBoxPresetNetNS starts a box in a network namespace made beforehand and
// checks that the box is in it, has no interface but a down loopback, and
// that no thread of ours stayed in it.
func TestBoxPresetNetNS(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	own := nsInode(t, "/proc/thread-self/ns/net")
	fd := makeNetNS(t)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1")
	r.CloneFlags &^= unix.CLONE_NEWNET
	r.NetNSFD = fd
	ws, got := runOut(t, r, out)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v, output %q", ws, got)
	}
	lines := strings.Fields(got)
	if want := fmt.Sprintf("net:[%d]", st.Ino); len(lines) == 0 || lines[0] != want {
		t.Errorf("box's network namespace %q, want %s", got, want)
	}
	if len(lines) != 2 || lines[1] != "lo" {
		t.Errorf("interfaces in the box: %q, want only lo", lines[1:])
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, task := range tasks {
		if ino := nsInode(t, task); ino != own {
			t.Errorf("%s is in network namespace %d, not ours (%d)", task, ino, own)
		}
	}

	r.CloneFlags |= unix.CLONE_NEWNET
	if _, err := r.Start(); err == nil {
		t.Error("NetNSFD with CLONE_NEWNET: started, want an error")
	}
}

// TestCloneHook: the hook and its after function run on one thread, around
// the clone, and a failing after function kills the child.
func TestCloneHook(t *testing.T) {
	checkNoLeaks(t)
	r := &Runner{Args: []string{"/bin/true"}, UID: -1, GID: -1}
	var before, after int
	r.CloneHook = func() (func() error, error) {
		before = unix.Gettid()
		return func() error { after = unix.Gettid(); return nil }, nil
	}
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	if ws := wait(t, pid); ws.ExitStatus() != 0 {
		t.Errorf("status %v", ws)
	}
	if before == 0 || before != after {
		t.Errorf("hook on thread %d, after on thread %d: want one thread", before, after)
	}
	r.CloneHook = func() (func() error, error) {
		return func() error { return unix.EIO }, nil
	}
	done := make(chan error)
	go func() {
		// A failed after function leaves the thread locked: let it end
		// with this goroutine.
		_, err := r.Start()
		done <- err
	}()
	if err := <-done; err == nil {
		t.Error("Start with a failing after function: no error")
	}
}

// TestNewNetNS: a namespace made ahead is a new one, owned by a user
// namespace that is not the caller's (no host uevents reach it, N5), and
// making it leaves no descriptor but the one returned.
func TestNewNetNS(t *testing.T) {
	requireUserns(t)
	before := countFDs(t)
	fd, err := NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if got := countFDs(t); got != before+1 {
		t.Errorf("descriptors: %d before, %d after (want one more)", before, got)
	}
	var own, made unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &own); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd, &made); err != nil {
		t.Fatal(err)
	}
	if own.Ino == made.Ino {
		t.Fatal("NewNetNS returned the caller's own network namespace")
	}
	const nsGetUserns = 0xb701 // NS_GET_USERNS
	owner, err := unix.IoctlRetInt(fd, nsGetUserns)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(owner)
	var ownUser, ownerSt unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &ownUser); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(owner, &ownerSt); err != nil {
		t.Fatal(err)
	}
	if ownUser.Ino == ownerSt.Ino {
		t.Error("the namespace is owned by the caller's user namespace: host uevents would reach it")
	}
}
