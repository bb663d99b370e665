package container

// Tests that a reused container looks fresh to its next run: pids, network counters, writable roots, memory.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// pidProbe prints the program's pid and the pids of three children, one of
// them a grandchild.
const pidProbe = `echo $$; sh -c 'echo $$'; sh -c 'echo $$'; sh -c 'sh -c "echo \$\$"'`

// TestPidNumbersDoNotCarryOver: after a run that forked many processes, the
// next program and its children get the numbers they get in a fresh
// container (U7).
func TestPidNumbersDoNotCarryOver(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	c := onlyContainer(t, p)
	first := runSpec(t, p, sh(pidProbe))
	wantStatus(t, first, sandbox.StatusOK)
	for i := 0; i < 5; i++ {
		wantStatus(t, runSpec(t, p, sh(`for i in $(seq 50); do /bin/true; done`)), sandbox.StatusOK)
		o := runSpec(t, p, sh(pidProbe))
		wantStatus(t, o, sandbox.StatusOK)
		if o.Stdout != first.Stdout {
			t.Fatalf("round %d: pids %q, in a fresh container %q", i, o.Stdout, first.Stdout)
		}
	}
	// The same container all along: no reset failed and had it replaced.
	if got := onlyContainer(t, p); got != c {
		t.Fatalf("the pool replaced its container: %v", p.lastErr)
	}
}

// TestNetworkCountersDoNotCarryOver: what a run sends over the loopback
// shows in no counter of the next run (U7), and the loopback is up in every
// run (N4).
func TestNetworkCountersDoNotCarryOver(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	counters := sh(`grep -A1 '^Udp:' /proc/net/snmp | tail -1; grep ' lo:' /proc/net/dev`)
	fresh := runSpec(t, p, counters)
	wantStatus(t, fresh, sandbox.StatusOK)
	// Loopback traffic: UDP datagrams and a TCP connection over v4 and v6.
	traffic := sh(`python3 -c '
import socket
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    r = socket.socket(fam, socket.SOCK_DGRAM); r.bind((addr, 0))
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(20): s.sendto(b"x" * 100, r.getsockname()[:2])
    for i in range(20): r.recv(200)
    l = socket.socket(fam, socket.SOCK_STREAM); l.bind((addr, 0)); l.listen(1)
    c = socket.create_connection(l.getsockname()[:2]); a, _ = l.accept()
    c.sendall(b"y" * 1000); assert len(a.recv(2000)) > 0
print("traffic-ok")
'`)
	for i := 0; i < 3; i++ {
		o := runSpec(t, p, traffic)
		wantStatus(t, o, sandbox.StatusOK)
		if !strings.Contains(o.Stdout, "traffic-ok") {
			t.Fatalf("loopback traffic failed: %q %q", o.Stdout, o.Stderr)
		}
		o = runSpec(t, p, counters)
		wantStatus(t, o, sandbox.StatusOK)
		if o.Stdout != fresh.Stdout {
			t.Fatalf("round %d: counters\n%s\nin a fresh container\n%s", i, o.Stdout, fresh.Stdout)
		}
	}
}

// TestWritableRootsLookFresh: the times and modes of /w, /tmp and /dev/shm
// after a reset say nothing of the previous run (U7): every time is at least
// the end of that run, as on directories made then.
func TestWritableRootsLookFresh(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	// Mount options of /tmp, and /dev/shm a link to it: the same after a
	// reset.
	mounts := sh(`awk '$5 == "/tmp" || $5 == "/dev/shm" { sub(/.* - /, ""); print $0 " " }' /proc/self/mountinfo; awk '$5 == "/tmp" || $5 == "/dev/shm" { print $5, $6 }' /proc/self/mountinfo; echo "/dev/shm -> $(readlink /dev/shm)"`)
	before := runSpec(t, p, mounts)
	wantStatus(t, before, sandbox.StatusOK)
	if after := runSpec(t, p, mounts); after.Stdout != before.Stdout || !strings.Contains(before.Stdout, "/dev/shm -> /tmp\n") || !strings.Contains(before.Stdout, "/tmp rw") {
		t.Errorf("mounts after a reset\n%s\nafter the build\n%s", after.Stdout, before.Stdout)
	}
	o := runSpec(t, p, sh(`
		ls -a /w /tmp /dev/shm >/dev/null
		touch -d @1000000000 /w
		chmod 700 /w
		sleep 1.2`))
	wantStatus(t, o, sandbox.StatusOK)
	ended := time.Now().Unix()
	// -L: /dev/shm is a link to /tmp, and what a run sees there is /tmp.
	o = runSpec(t, p, sh(`stat -L -c '%n %a %X %Y %Z' /w /tmp /dev/shm`))
	wantStatus(t, o, sandbox.StatusOK)
	lines := strings.Split(strings.TrimSpace(o.Stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("stat printed %q (%q)", o.Stdout, o.Stderr)
	}
	modes := map[string]string{"/w": "755", "/tmp": "1777", "/dev/shm": "1777"}
	for _, l := range lines[:3] {
		f := strings.Fields(l)
		if modes[f[0]] != f[1] {
			t.Errorf("%s: mode %s, want %s", f[0], f[1], modes[f[0]])
		}
		for i, what := range []string{"atime", "mtime", "ctime"} {
			if v, _ := strconv.ParseInt(f[2+i], 10, 64); v < ended-1 {
				t.Errorf("%s: %s %d is before the previous run ended (%d)", f[0], what, v, ended)
			}
		}
	}
	// A fresh tmpfs numbers its inodes afresh: the previous run's files
	// must not show in the next inode number.
	wantStatus(t, runSpec(t, p, sh(`for i in $(seq 20); do touch /tmp/x$i /w/y$i; done`)), sandbox.StatusOK)
	o = runSpec(t, p, sh(`touch /tmp/probe /w/probe; stat -c '%i' /tmp/probe /w/probe`))
	wantStatus(t, o, sandbox.StatusOK)
	lines = strings.Split(o.Stdout, "\n")
	fresh := newPool(t, PoolOptions{Size: 1})
	f := runSpec(t, fresh, sh(`touch /tmp/probe /w/probe; stat -c '%i' /tmp/probe /w/probe`))
	wantStatus(t, f, sandbox.StatusOK)
	if got, want := lines[0], strings.Split(f.Stdout, "\n")[0]; got != want {
		t.Errorf("inode of a new /tmp file %s, in a fresh container %s", got, want)
	}
}

// TestMemoryAfterPageCache: page cache a run filled is not part of the next
// run's memory figure (U4).
func TestMemoryAfterPageCache(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	if ok, _ := p.Builder().Cgroups(); !ok {
		t.Skip("no cgroups")
	}
	// Files on the host's disk, read through the page cache: most of /usr.
	spec := sh(`find /usr/lib /usr/share -type f -size +100k 2>/dev/null | head -c 1000000 | xargs cat 2>/dev/null | head -c 125829120 | wc -c`)
	spec.Limits.Wall = 60 * time.Second
	spec.Limits.CPU = 60 * time.Second
	o := runSpec(t, p, spec)
	wantStatus(t, o, sandbox.StatusOK)
	if n, _ := strconv.Atoi(strings.TrimSpace(o.Stdout)); n < 100<<20 {
		t.Skipf("read only %d bytes of files", n)
	}
	for i := 0; i < 2; i++ {
		o = runSpec(t, p, sandbox.Spec{Args: []string{"/bin/true"}})
		wantStatus(t, o, sandbox.StatusOK)
		if o.MemoryBytes >= 16<<20 {
			t.Fatalf("/bin/true after reading 120 MiB reports %d bytes", o.MemoryBytes)
		}
	}
}

// TestStartKilledBeforeExec: a program whose start failed for want of
// memory did not run: no nonzero-exit 127 (B7). Limits this small are
// refused by Validate (sandbox.MinMemory), so the container is driven
// directly: a Spec that slips past the check must still end honestly.
func TestStartKilledBeforeExec(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	if ok, _ := p.Builder().Cgroups(); !ok {
		t.Skip("no cgroups")
	}
	c, err := p.Builder().Build(testContext(t), Shape{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	for _, mem := range []int64{1, 4 << 10, 64 << 10} {
		out := tempFile(t)
		spec := sandbox.Spec{Args: []string{"/bin/echo", "hello"}, Stdout: out, Stderr: out}
		spec.Limits.Memory = mem
		o := c.Run(testContext(t), spec)
		t.Logf("memory %d: %s exit %d %q", mem, o.Status, o.ExitCode, o.Message)
		if mem <= 4<<10 && o.Status != sandbox.StatusMemoryLimit {
			t.Errorf("memory %d: %s (exit %d, %q), want memory-limit", mem, o.Status, o.ExitCode, o.Message)
		}
		if o.Status != sandbox.StatusOK && o.Status != sandbox.StatusMemoryLimit && o.Status != sandbox.StatusExecError {
			t.Errorf("memory %d: %s (exit %d, %q), want memory-limit or exec-error", mem, o.Status, o.ExitCode, o.Message)
		}
		if c.Broken() == nil {
			if err := c.Reset(testContext(t)); err != nil {
				t.Fatalf("reset after memory %d: %v", mem, err)
			}
		}
	}
	wantStatus(t, runSpec(t, p, sh("true")), sandbox.StatusOK)
}

// TestIdleContainerGivesMemoryBack: a container left idle after a reset
// gives back what its runs left (free heap, program pages read), and runs
// and resets as before afterwards (the trim starts no thread: the next
// reset's pid check would fail).
func TestIdleContainerGivesMemoryBack(t *testing.T) {
	needRoot(t)
	bl := &Builder{}
	defer bl.Close()
	c := buildOne(t, bl)
	ctx := testContext(t)
	spec := sandbox.Spec{Args: []string{"/bin/true"}}
	for i := 0; i < 20; i++ {
		if r := c.Run(ctx, spec); r.Status != sandbox.StatusOK {
			t.Fatalf("run: %+v", r)
		}
		if err := c.Reset(ctx); err != nil {
			t.Fatal(err)
		}
	}
	busy := pssKiB(t, c)
	// Well past idleTrimAfter: the memory figure is what is checked, not
	// when the trim happens.
	time.Sleep(4*idleTrimAfter + time.Second)
	idle := pssKiB(t, c)
	t.Logf("PSS right after a reset %d KiB, idle %d KiB", busy, idle)
	if idle > busy-256 {
		t.Errorf("idle PSS %d KiB, right after the reset %d KiB: less than 256 KiB given back", idle, busy)
	}
	for i := 0; i < 3; i++ {
		if r := c.Run(ctx, spec); r.Status != sandbox.StatusOK {
			t.Fatalf("run: %+v", r)
		}
		if err := c.Reset(ctx); err != nil {
			t.Fatalf("reset after an idle trim: %v", err)
		}
	}
}

// TestManyXattrsOnWorkDirWiped: a run that labels /w with more extended
// attribute names than a first 4 KiB listing holds still gets a clean reset:
// the next run in the same container sees none of them (U2, U7).
func TestManyXattrsOnWorkDirWiped(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	c := onlyContainer(t, p)
	label := runSpec(t, p, sh(`python3 -c '
import os
for i in range(120): os.setxattr("/w", "user.label%03d%s" % (i, "x" * 40), b"1")
print(len(os.listxattr("/w")))
'`))
	wantStatus(t, label, sandbox.StatusOK)
	if strings.TrimSpace(label.Stdout) != "120" {
		t.Skipf("the box could not label /w (%q %q): no user xattrs on this tmpfs", label.Stdout, label.Stderr)
	}
	next := runSpec(t, p, sh(`python3 -c 'import os; print(len(os.listxattr("/w")))'`))
	wantStatus(t, next, sandbox.StatusOK)
	if got := strings.TrimSpace(next.Stdout); got != "0" {
		t.Fatalf("the next run sees %s xattrs on /w", got)
	}
	if got := onlyContainer(t, p); got != c {
		t.Fatalf("the pool replaced its container (its reset failed): %v", p.lastErr)
	}
}

// maxIdleInitThreads bounds the threads of an idle init: each costs the
// idle container its Go stacks (about 48 KiB of PSS) and a kernel stack. The
// init warms initThreads at build time; the runtime adds its own (sysmon,
// the template thread that starts threads for locked goroutines) and the
// main thread.
const maxIdleInitThreads = 8

// TestIdleInitThreads: after runs that take every path of the init that
// blocks a thread (a program with children, a wall-limit kill, a
// non-zero exit, resets between them), the init holds few threads, and
// started none after its build (the resets' pid check would have failed).
func TestIdleInitThreads(t *testing.T) {
	needRoot(t)
	bl := &Builder{}
	defer bl.Close()
	c := buildOne(t, bl)
	ctx := testContext(t)
	killed := sandbox.Spec{Args: []string{"/bin/sleep", "10"}}
	killed.Limits.Wall = 200 * time.Millisecond
	specs := []sandbox.Spec{
		{Args: []string{"/bin/true"}},
		{Args: []string{"/bin/sh", "-c", "/bin/true & /bin/true & wait"}},
		killed,
		{Args: []string{"/bin/false"}},
	}
	for i := 0; i < 3; i++ {
		for _, spec := range specs {
			if r := c.Run(ctx, spec); r.Status == sandbox.StatusInternalError || r.Status == sandbox.StatusExecError {
				t.Fatalf("run %v: %+v", spec.Args, r)
			}
			if err := c.Reset(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", c.InitPid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the idle init has %d threads", len(tasks))
	if len(tasks) > maxIdleInitThreads {
		t.Errorf("the idle init has %d threads, want at most %d", len(tasks), maxIdleInitThreads)
	}
}

// TestNextNetworkNamespaceMadeDuringTheRun: when runs come back to back,
// the init makes the next run's network namespace while the program runs,
// so that the reset the next run waits for has not to (the namespace takes
// the kernel's rtnl lock and some 0.8 ms here); the next run then starts in
// exactly that namespace, and the running program is in none the init holds
// (U7).
func TestNextNetworkNamespaceMadeDuringTheRun(t *testing.T) {
	p, c, home := poolAndInitNamespace(t, "net")
	// A run that waited for its container's reset counts as back to back:
	// the probe follows a run at once. On a loaded host one may still come
	// late, so a few are tried.
	var held []string
	var running string
	for attempt := 0; attempt < 5 && len(held) == 0; attempt++ {
		held, running = heldDuringRun(t, p, c, home)
	}
	if len(held) != 1 || held[0] == running {
		t.Fatalf("while the program ran in %s the init held network namespaces %v besides its own (%s), want the next run's alone", running, held, home)
	}
	next := runSpec(t, p, sh(`readlink /proc/self/ns/net`))
	wantStatus(t, next, sandbox.StatusOK)
	if got := strings.TrimSpace(next.Stdout); got != held[0] {
		t.Fatalf("the next run is in %s, not in %s made during the run before", got, held[0])
	}
}

// heldDuringRun runs /bin/true and right after it a program that prints its
// network namespace and waits, and returns, once it printed, the network namespaces other than home that
// c's init holds descriptors of (waiting up to 2 s for one), and the
// program's.
func heldDuringRun(t *testing.T, p *Pool, c *Container, home string) (held []string, running string) {
	t.Helper()
	// The program waits on its stdin until the init's descriptors are seen.
	hold, release, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	defer release.Close()
	spec := sh(`readlink /proc/self/ns/net; read x || true`)
	out := tempFile(t)
	spec.Stdin, spec.Stdout = hold, out
	spec.Limits.Wall = time.Minute // longer than the waits below
	type ran struct {
		res sandbox.Result
		err error
	}
	first := make(chan ran, 1)
	wantStatus(t, runSpec(t, p, sandbox.Spec{Args: []string{"/bin/true"}}), sandbox.StatusOK)
	go func() {
		res, err := p.Run(testContext(t), spec)
		first <- ran{res, err}
	}()
	for running == "" {
		select {
		case r := <-first:
			t.Fatalf("the program ended before it was released: %+v %v", r.res, r.err)
		case <-time.After(time.Millisecond):
		}
		running = strings.TrimSpace(readBack(t, out))
	}
	held = heldNamespaces(c, "net", home)
	release.Close()
	r := <-first
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantStatus(t, outcome{Result: r.res, Stdout: readBack(t, out)}, sandbox.StatusOK)
	return held, running
}

// TestNextIPCNamespaceMadeAhead: the init makes the next run's IPC
// namespace ahead, with its network namespace, and the next program starts
// in exactly that one.
// (That it is empty, whatever the run before left, is U3 of the suites; a
// namespace's inode number is reused once it is freed, so numbers cannot
// tell the runs' apart here.)
func TestNextIPCNamespaceMadeAhead(t *testing.T) {
	p, c, home := poolAndInitNamespace(t, "ipc")
	wantStatus(t, runSpec(t, p, sandbox.Spec{Args: []string{"/bin/true"}}), sandbox.StatusOK)
	for i := 0; i < 3; i++ {
		// The reset is over once the container is ready again.
		if got := onlyContainer(t, p); got != c {
			t.Fatal("the pool replaced its container")
		}
		held := heldNamespaces(c, "ipc", home)
		if len(held) != 1 {
			t.Fatalf("the idle init holds IPC namespaces %v besides its own (%s), want the next run's alone", held, home)
		}
		next := runSpec(t, p, sh(`readlink /proc/self/ns/ipc`))
		wantStatus(t, next, sandbox.StatusOK)
		if got := strings.TrimSpace(next.Stdout); got != held[0] {
			t.Fatalf("the next run is in %s, not in %s made after the run before", got, held[0])
		}
	}
}

// TestBackToBackRunsKeepTheirContainer: runs that follow each other at once
// overlap the init's background work (the next network namespace made
// with the next IPC namespace while the program runs, the tidy-up after
// it). None of it may start an init thread after
// the build, whose number would lie in the runs' pid range and fail the
// reset: one container serves every run, and its init keeps its threads.
func TestBackToBackRunsKeepTheirContainer(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	c := onlyContainer(t, p)
	ctx := testContext(t)
	for i := 0; i < 100; i++ {
		spec := sandbox.Spec{Args: []string{"/bin/true"}}
		if i%10 == 0 {
			spec = sh(`ipcmk -M 4096 >/dev/null && ipcmk -Q >/dev/null && echo x >/tmp/x`)
		}
		res, err := p.Run(ctx, spec)
		if err != nil || res.Status != sandbox.StatusOK {
			t.Fatalf("run %d: %+v %v", i, res, err)
		}
	}
	if got := onlyContainer(t, p); got != c {
		t.Fatalf("the pool replaced its container (%d replaced, last error %v)", p.Stats().Replaced, p.Stats().LastErr)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", c.InitPid()))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) > maxIdleInitThreads {
		t.Errorf("after back-to-back runs the idle init has %d threads, want at most %d", len(tasks), maxIdleInitThreads)
	}
}

// poolAndInitNamespace is a pool of one container, the container, and its
// init's own namespace of kind (net, ipc) as /proc names it.
func poolAndInitNamespace(t *testing.T, kind string) (*Pool, *Container, string) {
	t.Helper()
	p := newPool(t, PoolOptions{Size: 1})
	c := onlyContainer(t, p)
	home, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", c.InitPid(), kind))
	if err != nil {
		t.Fatal(err)
	}
	return p, c, home
}

// heldNamespaces lists the namespaces of kind other than home that c's init
// holds descriptors of, waiting up to 2 s for one (bounded for an init that
// holds none; one that makes the next has it within milliseconds).
func heldNamespaces(c *Container, kind, home string) []string {
	var held []string
	for deadline := time.Now().Add(2 * time.Second); len(held) == 0 && time.Now().Before(deadline); {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.InitPid()))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", c.InitPid(), fd.Name()))
			if err == nil && strings.HasPrefix(link, kind+":[") && link != home {
				held = append(held, link)
			}
		}
		if len(held) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return held
}

// TestBackToBackRunSeesNothingOfTheLast: a run that follows one without
// copy-out at once gets a container whose /w and /tmp are empty and whose
// memory peak does not count the last run's files (U2, U4): the init wipes
// by itself after such a run, and the host must neither hand the container
// out nor reset its cgroup before the init says the wipe is done.
func TestBackToBackRunSeesNothingOfTheLast(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	cgroups, _ := p.Builder().Cgroups()
	ctx := testContext(t)
	for i := 0; i < 20; i++ {
		fill := sh(`head -c 48000000 /dev/zero >/w/big && echo x >/w/mark && mkdir /w/d && echo y >/tmp/mark`)
		fill.Limits.Output = 64 << 20
		if res, err := p.Run(ctx, fill); err != nil || res.Status != sandbox.StatusOK {
			t.Fatalf("run %d: %+v %v", i, res, err)
		}
		o := runSpec(t, p, sh(`ls -A /w /tmp`))
		wantStatus(t, o, sandbox.StatusOK)
		if got := strings.Fields(o.Stdout); len(got) != 2 {
			t.Fatalf("round %d: the next run sees %q in /w and /tmp", i, o.Stdout)
		}
		if cgroups && o.MemoryBytes >= 32<<20 {
			t.Fatalf("round %d: a run after one that left 48 MB in /w reports a peak of %d bytes", i, o.MemoryBytes)
		}
	}
}

// TestFailedSelfResetBreaksTheContainer: when the init's own reset after a
// run fails (here a file of /w the host made immutable while the program
// ran), the container is broken, as after a failed reset the host asked
// for (B6), and not used again.
func TestFailedSelfResetBreaksTheContainer(t *testing.T) {
	needRoot(t)
	bl := &Builder{}
	t.Cleanup(func() { bl.Close() })
	c := buildOne(t, bl)
	ctx := testContext(t)
	f := filepath.Join(c.wd.Path(), "f")
	done := make(chan sandbox.Result, 1)
	c.selfReset = true
	go func() {
		done <- c.Run(ctx, sh(`echo x >/w/f; while [ ! -e /w/go ]; do sleep 0.01; done`))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(f); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the program made no /w/f")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out, err := exec.Command("chattr", "+i", f).CombinedOutput(); err != nil {
		t.Skipf("chattr +i on the work directory: %v: %s", err, out)
	}
	defer exec.Command("chattr", "-i", f).Run()
	if err := os.WriteFile(filepath.Join(c.wd.Path(), "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.Status != sandbox.StatusOK {
		t.Fatalf("run: %+v", r)
	}
	err := c.Reset(ctx)
	if err == nil || c.Broken() == nil {
		t.Fatalf("the init's reset could not remove an immutable /w/f, yet the reset says %v and the container %v", err, c.Broken())
	}
	if !errors.Is(err, ErrBroken) || !errors.Is(err, unix.EPERM) {
		t.Errorf("reset: %v, want ErrBroken and EPERM", err)
	}
}
