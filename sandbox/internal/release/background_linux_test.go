package release

// Tests of Go: background work without CAP_SYS_NICE keeps its threads, and with them the children they started.

import (
	"gosandbox/internal/testhost"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const noNiceEnv = "GOSANDBOX_RELEASE_NO_NICE"

// TestGoWithoutCapSysNice: a process that may raise its threads' nice value
// but not lower it again (no CAP_SYS_NICE, RLIMIT_NICE 0: any user but
// root) must not end a thread per Go call. A thread's end sends the
// parent-death signal of every child it started: a box's pid 1 started
// from that thread by an earlier run (forkexec sets Pdeathsig) would be
// killed mid-run. The test re-executes itself as nobody through setpriv.
func TestGoWithoutCapSysNice(t *testing.T) {
	if os.Getenv(noNiceEnv) != "" {
		noNiceChecks(t)
		return
	}
	out, err := testhost.RunAsNobody(t, "TestGoWithoutCapSysNice", noNiceEnv+"=1")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("run as nobody failed: %v", err)
	}
}

func noNiceChecks(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("still root")
	}
	// Children with a parent-death signal, started from whatever threads
	// the runtime has.
	var children []*exec.Cmd
	for range 4 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := exec.Command("/bin/sleep", "60")
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := c.Start(); err != nil {
				t.Error(err)
				return
			}
			children = append(children, c)
		}()
		<-done
	}
	defer func() {
		for _, c := range children {
			c.Process.Kill()
			c.Wait()
		}
	}()
	const calls = 40
	tids := map[int]bool{}
	for range calls {
		got := make(chan int)
		Go(func() { got <- unix.Gettid() })
		tids[<-got] = true
	}
	// A thread that ran fn and ended is never handed out again: one new
	// thread per call. Reused threads stay a handful.
	if len(tids) > calls/2 {
		t.Errorf("%d calls of Go ran on %d distinct threads: each call ended its thread", calls, len(tids))
	}
	for _, c := range children {
		var ws unix.WaitStatus
		if pid, _ := unix.Wait4(c.Process.Pid, &ws, unix.WNOHANG, nil); pid > 0 {
			t.Errorf("child %d started before the calls ended: %v", pid, ws)
		}
	}
}
