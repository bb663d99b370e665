package forkexec

// Tests of Runner: plain and boxed starts, identity, file system, seccomp, rlimits, sync and child errors.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
)

const allNamespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// wait reaps pid and returns its wait status.
func wait(t testing.TB, pid int) unix.WaitStatus {
	t.Helper()
	ws, err := waitStatus(pid)
	if err != nil {
		t.Fatalf("wait4 %d: %v", pid, err)
	}
	return ws
}

// waitStatus reaps pid, retrying on EINTR; for the helper processes, which
// have no testing.T.
func waitStatus(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return ws, err
		}
	}
}

// requireUserns skips unless the test runs as root on a host that allows
// user namespaces.
func requireUserns(t testing.TB) {
	t.Helper()
	testhost.NeedRoot(t, "the box maps to an unallocated host id")
	testhost.NeedUserns(t)
}

// boxRunner returns a Runner with every namespace, the box user and the
// default plan, writing the program's stdout and stderr to out.
func boxRunner(t testing.TB, plan *mount.Plan, out *os.File, args ...string) *Runner {
	hu, hg := sandbox.HostBoxUID()
	files := []int{-1, -1, -1}
	if out != nil {
		files = []int{-1, int(out.Fd()), int(out.Fd())}
	}
	return &Runner{
		Args:       args,
		Env:        []string{"PATH=/usr/bin:/bin", "HOME=/w"},
		Dir:        "/w",
		Files:      files,
		NoNewPrivs: true,
		DropCaps:   true,
		CloneFlags: allNamespaces,
		UIDMap:     []IDMap{{sandbox.BoxUID, hu, 1}},
		GIDMap:     []IDMap{{sandbox.BoxGID, hg, 1}},
		UID:        sandbox.BoxUID,
		GID:        sandbox.BoxGID,
		Mount:      plan,
		Hostname:   "box-test",
		Pdeathsig:  syscall.SIGKILL,
	}
}

func defaultPlan(t testing.TB, o mount.Options) *mount.Plan {
	t.Helper()
	p, err := mount.Default(o)
	if err != nil {
		t.Fatalf("default plan: %v", err)
	}
	return p
}

// runOut runs r to its end and returns its exit status and output.
func runOut(t *testing.T, r *Runner, out *os.File) (unix.WaitStatus, string) {
	t.Helper()
	pid, err := r.Start()
	if err != nil {
		t.Fatalf("start %q: %v", r.Args, err)
	}
	ws := wait(t, pid)
	if _, err := out.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return ws, string(b)
}

// checkNoLeaks records fds and gosandbox mounts and checks them at cleanup.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := countFDs(t)
	t.Cleanup(func() {
		if after := countFDs(t); after != before {
			t.Errorf("descriptors: %d before, %d after", before, after)
		}
		mi, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(mi, []byte("gosandbox/skel")) {
			t.Errorf("host mountinfo mentions a skeleton:\n%s", mi)
		}
	})
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestPlainTrue(t *testing.T) {
	checkNoLeaks(t)
	r := &Runner{Args: []string{"true"}, Env: []string{"PATH=/usr/bin:/bin"}, UID: -1, GID: -1, Files: []int{0, 1, 2}}
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	if ws := wait(t, pid); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("true: status %v", ws)
	}
}

func TestPlainMissingProgram(t *testing.T) {
	checkNoLeaks(t)
	r := &Runner{Args: []string{"no-such-program-gosandbox"}, UID: -1, GID: -1}
	_, err := r.Start()
	var ce *ChildError
	if !errors.As(err, &ce) || !ce.ProgramFault() || ce.Errno != unix.ENOENT || ce.Step != StepExecve {
		t.Fatalf("want a ChildError at execve with ENOENT, got %v", err)
	}
}

func TestPlainFilesAndEnv(t *testing.T) {
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	// The same descriptor twice, and one that is already in a low slot.
	r := &Runner{
		Args:  []string{"/bin/sh", "-c", `echo "$FOO"; ls /proc/self/fd | sort -n | tr '\n' ' '`},
		Env:   []string{"FOO=bar baz"},
		Files: []int{int(null.Fd()), int(out.Fd()), int(out.Fd())},
		UID:   -1, GID: -1,
	}
	ws, s := runOut(t, r, out)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v, output %q", ws, s)
	}
	// ls itself opens one directory descriptor (3).
	if want := "bar baz\n0 1 2 3 "; s != want {
		t.Fatalf("output %q, want %q", s, want)
	}
}

func TestPlainVfork(t *testing.T) {
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	r := &Runner{
		Args:  []string{"sh", "-c", `echo "$X" $$; exit 3`},
		Env:   []string{"X=vfork", "PATH=/usr/bin:/bin"},
		Files: []int{-1, int(out.Fd()), int(out.Fd())},
		UID:   -1, GID: -1,
		Vfork: true,
	}
	for range 50 { // the parent's stack and state must survive every start
		if _, err := out.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		if err := out.Truncate(0); err != nil {
			t.Fatal(err)
		}
		ws, s := runOut(t, r, out)
		if !ws.Exited() || ws.ExitStatus() != 3 || !strings.HasPrefix(s, "vfork ") {
			t.Fatalf("status %v output %q", ws, s)
		}
	}
	r.Args = []string{"no-such-program-gosandbox"}
	_, err := r.Start()
	var ce *ChildError
	if !errors.As(err, &ce) || ce.Step != StepExecve || ce.Errno != unix.ENOENT {
		t.Fatalf("want execve ENOENT, got %v", err)
	}
}

func TestBoxTrue(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	r := boxRunner(t, defaultPlan(t, mount.Options{}), nil, "true")
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	if ws := wait(t, pid); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("true: status %v", ws)
	}
}

// TestBoxReaper: with a Reaper the program is pid 2, its own signals act
// on it (a pid 1 would ignore them) and its status comes back, both from
// the reaper program and from the child staying on as the reaper.
func TestBoxReaper(t *testing.T) {
	requireUserns(t)
	reaperExec() // the process's one reaper memfd, kept open: not a leak
	checkNoLeaks(t)
	for _, own := range []bool{false, true} {
		out := testhost.TempFile(t, "out")
		r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", "echo $$; kill -TERM $$; exit 3")
		reaped, err := NewReaped()
		if err != nil {
			t.Fatal(err)
		}
		r.Reaper, r.noReaperProgram = reaped, own
		ws, stdout := runOut(t, r, out)
		st, ok := reaped.Status()
		reaped.Close()
		if !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("child stays the reaper %v: the reaper ended %v", own, ws)
		}
		if !ok || !st.Signaled() || st.Signal() != unix.SIGTERM || stdout != "2\n" {
			t.Errorf("child stays the reaper %v: program status %v (%v), stdout %q; want pid 2 killed by SIGTERM", own, st, ok, stdout)
		}
	}
}

func TestBoxIdentity(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c",
		`grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; hostname; id -un; echo pid=$$`)
	ws, s := runOut(t, r, out)
	wantOutput(t, ws, s,
		"Uid:\t1000\t1000\t1000\t1000", "Gid:\t1000\t1000\t1000\t1000", "Groups:\t \n",
		"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
		"CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1",
		"box-test\n", "box\n", "pid=1\n")
}

func TestBoxFilesystem(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	script := `
		test -e /etc/shadow && echo shadow-visible
		test -e /root && echo root-visible
		test -e /home && echo home-visible
		touch /usr/gosandbox-x 2>&1 | grep -q 'Read-only' && echo usr-ro
		touch /gosandbox-x 2>&1 | grep -q 'Read-only' && echo root-ro
		echo hi > /w/f && cat /w/f
		echo t > /tmp/f && echo tmp-ok
		echo s > /dev/shm/f && echo shm-ok
		echo x > /proc/sys/kernel/hostname 2>/dev/null || echo procsys-ro
		test -s /proc/kcore || echo kcore-masked
		ls /proc | grep -c '^[0-9]'
		ls /dev | tr '\n' ' '; echo
		head -c 4 /dev/zero | wc -c
	`
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", script)
	ws, s := runOut(t, r, out)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v, output:\n%s", ws, s)
	}
	for _, bad := range []string{"shadow-visible", "root-visible", "home-visible"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s:\n%s", bad, s)
		}
	}
	for _, want := range []string{"usr-ro", "root-ro", "hi\n", "tmp-ok", "shm-ok", "procsys-ro", "kcore-masked",
		"fd full null random shm stderr stdin stdout urandom zero \n", "4\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestBoxMissingProgram(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	r := boxRunner(t, defaultPlan(t, mount.Options{}), nil, "no-such-program-gosandbox")
	_, err := r.Start()
	var ce *ChildError
	if !errors.As(err, &ce) || !ce.ProgramFault() || ce.Step != StepExecve || ce.Errno != unix.ENOENT {
		t.Fatalf("want ChildError at execve ENOENT, got %v", err)
	}
}

func TestBoxBadBindSource(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	plan := defaultPlan(t, mount.Options{Binds: []sandbox.Bind{{Source: "/nonexistent/gosandbox-src", Target: "/opt/data"}}})
	_, err := boxRunner(t, plan, nil, "true").Start()
	var ce *ChildError
	if !errors.As(err, &ce) || ce.ProgramFault() || ce.Step != StepBind || ce.Errno != unix.ENOENT {
		t.Fatalf("want a bind-step ChildError, got %v", err)
	}
	if !strings.Contains(err.Error(), "bind mount") || !strings.Contains(err.Error(), "/opt/data") {
		t.Fatalf("message %q should name the step and the target", err)
	}
}

func TestBoxHugeArgv(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	huge := strings.Repeat("x", 128<<10)
	args := []string{"true"}
	for range 64 { // 8 MiB: above any ARG_MAX an 8 MiB stack allows
		args = append(args, huge)
	}
	_, err := boxRunner(t, defaultPlan(t, mount.Options{}), nil, args...).Start()
	var ce *ChildError
	if !errors.As(err, &ce) || !ce.ProgramFault() || ce.Errno != unix.E2BIG {
		t.Fatalf("want an execve E2BIG ChildError, got %v", err)
	}
}

func TestBoxWorkDirAndBind(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	hu, hg := sandbox.HostBoxUID()
	base, err := os.MkdirTemp("", "gosandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	work := filepath.Join(base, "w")
	data := filepath.Join(base, "data.txt")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(work, hu, hg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("payload\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o666); err != nil { // only the read-only bind stops the box
		t.Fatal(err)
	}
	plan := defaultPlan(t, mount.Options{WorkDir: work, Binds: []sandbox.Bind{{Source: data, Target: "/opt/in/data.txt"}}})
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, plan, out, "/bin/sh", "-c", `cat /opt/in/data.txt; echo w > /w/made; { echo x >> /opt/in/data.txt; } 2>&1 | grep -q 'Read-only' && echo bind-ro`)
	ws, s := runOut(t, r, out)
	if ws.ExitStatus() != 0 || s != "payload\nbind-ro\n" {
		t.Fatalf("status %v output %q", ws, s)
	}
	if b, err := os.ReadFile(filepath.Join(work, "made")); err != nil || string(b) != "w\n" {
		t.Fatalf("work dir file: %q, %v", b, err)
	}
}

func TestBoxSeccompAndRlimits(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	prog, err := seccomp.Default(sandbox.SyscallsErrno)
	if err != nil {
		t.Skipf("seccomp policy: %v", err)
	}
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", `grep '^Seccomp:' /proc/self/status; ulimit -n; ulimit -Hn`)
	r.Seccomp = prog.Fprog()
	r.RLimits = []rlimit.RLimit{{Resource: unix.RLIMIT_NOFILE, Limit: unix.Rlimit{Cur: 17, Max: 17}}}
	ws, s := runOut(t, r, out)
	if ws.ExitStatus() != 0 || s != "Seccomp:\t2\n17\n17\n" {
		t.Fatalf("status %v, output %q", ws, s)
	}
}

func TestPlainExecFD(t *testing.T) {
	checkNoLeaks(t)
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	fd, err := unix.MemfdCreate("program", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skipf("memfd: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, prog); err != nil {
		t.Fatal(err)
	}
	r := &Runner{Args: []string{"program"}, ExecFD: fd, UID: -1, GID: -1}
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	if ws := wait(t, pid); ws.ExitStatus() != 0 {
		t.Fatalf("status %v", ws)
	}
}

// testCgroup2 makes a cgroup v2 directory for one test, or skips.
func testCgroup2(t *testing.T) string {
	t.Helper()
	root := testhost.NeedCgroup2(t)
	dir := filepath.Join(root, fmt.Sprintf("gosandbox-forkexec-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cgroup v2: %v", err)
	}
	t.Cleanup(func() {
		for range 100 { // the reaped child may take a moment to leave
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cgroup %s not removed", dir)
	})
	return dir
}

func TestBoxSyncFuncAndCgroupNamespace(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	cg := testCgroup2(t)
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", `grep '^0::' /proc/self/cgroup`)
	var synced int
	r.SyncFunc = func(pid int) error {
		synced = pid
		return os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
	}
	r.UnshareCgroupAfterSync = true
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	ws := wait(t, pid)
	b, _ := os.ReadFile(out.Name())
	if synced != pid || ws.ExitStatus() != 0 || string(b) != "0::/\n" {
		t.Fatalf("sync pid %d (child %d), status %v, cgroup %q", synced, pid, ws, b)
	}
}

func TestBoxSyncFuncFailure(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	r := boxRunner(t, defaultPlan(t, mount.Options{}), nil, "true")
	r.SyncFunc = func(int) error { return errors.New("no cgroup today") }
	if _, err := r.Start(); err == nil || !strings.Contains(err.Error(), "no cgroup today") {
		t.Fatalf("want the SyncFunc error, got %v", err)
	}
}

func TestBoxCloneIntoCgroup(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	cg := testCgroup2(t)
	fd, err := unix.Open(cg, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", `grep '^0::' /proc/self/cgroup`)
	r.CgroupFD = fd
	ws, s := runOut(t, r, out)
	// CLONE_NEWCGROUP at clone time, already inside: the box's cgroup is its root.
	if ws.ExitStatus() != 0 || s != "0::/\n" {
		t.Fatalf("status %v, cgroup %q", ws, s)
	}
}

// TestBoxPdeathsig checks B4: a helper process starts a box and dies; the
// box must die with it.
func TestBoxPdeathsig(t *testing.T) {
	requireUserns(t)
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=pdeathsig")
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(outb)))
	if err != nil {
		t.Fatalf("helper said %q", outb)
	}
	for range 500 {
		if !alive(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	unix.Kill(pid, unix.SIGKILL)
	t.Fatalf("box %d outlived its supervisor", pid)
}

// alive reports whether pid runs (a zombie, or a pid reused by something
// that is not a sleeping box, counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[1] == "(sleep)" && f[2] != "Z"
}

const helperEnv = "GOSANDBOX_FORKEXEC_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "pdeathsig" {
		plan, err := mount.Default(mount.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		runtime.LockOSThread() // Pdeathsig follows the starting thread
		r := boxRunner(nil, plan, nil, "sleep", "1000")
		pid, err := r.Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(pid)
		os.Exit(0)
	}
	if os.Getenv(helperEnv) == "clone3-eperm" {
		os.Exit(clone3EPERMHelper())
	}
	if h := os.Getenv(helperEnv); h == "bset-partial-exec" || h == "bset-partial" {
		os.Exit(boundingSetPartialHelper(h))
	}
	if os.Getenv(helperEnv) == "clone3-eperm-cgroup" {
		os.Exit(clone3EPERMCgroupHelper(os.Getenv(cgroupDirEnv)))
	}
	os.Exit(m.Run())
}

// TestVforkWhereClone3IsRefused: a seccomp policy that refuses clone3 with
// EPERM (Docker's default profile did before 20.10.10, which knew no
// clone3) must not stop vfork starts: they fall back to a plain vfork,
// as where the kernel has no clone3.
func TestVforkWhereClone3IsRefused(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	if got := helperSays(t, "a vfork start under a policy that refuses clone3 with EPERM", helperEnv+"=clone3-eperm"); got != "ok" {
		t.Fatalf("helper said:\n%s", got)
	}
}

// helperSays runs this test binary as the helper env names and returns
// what it printed; it fails the test, saying what the helper did, when the
// helper fails.
func helperSays(t *testing.T, what string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	return strings.TrimSpace(string(out))
}

// cgroupDirEnv names the cgroup v2 directory clone3EPERMCgroupHelper
// starts its children in.
const cgroupDirEnv = "GOSANDBOX_FORKEXEC_TEST_CGROUP"

// TestCloneIntoCgroupWhereClone3IsRefused: a start into a cgroup v2 group
// (CgroupFD, clone3 with CLONE_INTO_CGROUP) under a seccomp policy that
// refuses clone3 with EPERM falls back to a plain clone that SyncFunc
// places, as where the kernel has no clone3.
func TestCloneIntoCgroupWhereClone3IsRefused(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	cg := testCgroup2(t)
	if got := helperSays(t, "a start into a cgroup under a policy that refuses clone3 with EPERM",
		helperEnv+"=clone3-eperm-cgroup", cgroupDirEnv+"="+cg); got != "ok" {
		t.Fatalf("helper said:\n%s", got)
	}
}

// refuseClone3 makes clone3 fail with EPERM in every thread of this
// process (a seccomp filter).
func refuseClone3() error {
	const (
		retAllow = 0x7fff0000
		retErrno = 0x00050000
	)
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_CLONE3},
		{Code: unix.BPF_RET | unix.BPF_K, K: retErrno | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: retAllow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, 1 /* SECCOMP_SET_MODE_FILTER */, 1 /* SECCOMP_FILTER_FLAG_TSYNC */, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}

// clone3EPERMCgroupHelper refuses clone3 with EPERM and starts, twice,
// /bin/sh into the cgroup v2 directory cg through CgroupFD, with a SyncFunc
// that places it there; each must run in cg.
func clone3EPERMCgroupHelper(cg string) int {
	if err := refuseClone3(); err != nil {
		fmt.Println(err)
		return 1
	}
	fd, err := unix.Open(cg, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer unix.Close(fd)
	for range 2 {
		out, err := os.CreateTemp("", "gosandbox-forkexec-clone3-")
		if err != nil {
			fmt.Println(err)
			return 1
		}
		os.Remove(out.Name())
		defer out.Close()
		synced := 0
		r := &Runner{Args: []string{"/bin/sh", "-c", "grep '^0::' /proc/self/cgroup"}, Files: []int{-1, int(out.Fd()), -1},
			UID: -1, GID: -1, CgroupFD: fd}
		r.SyncFunc = func(pid int) error {
			synced = pid
			return os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
		}
		pid, err := r.Start()
		if err != nil {
			fmt.Println("start:", err)
			return 1
		}
		ws, _ := waitStatus(pid)
		b, _ := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(out.Fd())))
		if want := "0::/" + filepath.Base(cg) + "\n"; ws.ExitStatus() != 0 || synced != pid || !strings.HasSuffix(string(b), want) {
			fmt.Printf("status %v, synced %d (child %d), cgroup %q, want one ending %q\n", ws, synced, pid, b, want)
			return 1
		}
	}
	fmt.Println("ok")
	return 0
}

// clone3EPERMHelper refuses clone3 with EPERM in every thread of this
// process (a seccomp filter) and starts /bin/true with a vfork start.
func clone3EPERMHelper() int {
	if err := refuseClone3(); err != nil {
		fmt.Println(err)
		return 1
	}
	for range 2 {
		r := &Runner{Args: []string{"/bin/true"}, Files: []int{-1, -1, -1}, UID: -1, GID: -1, Vfork: true}
		pid, err := r.Start()
		if err != nil {
			fmt.Println("start:", err)
			return 1
		}
		ws, _ := waitStatus(pid)
		if ws.ExitStatus() != 0 {
			fmt.Println("status:", ws)
			return 1
		}
	}
	fmt.Println("ok")
	return 0
}

// TestBoxParallel starts boxes from several goroutines at once: every start
// must succeed and report its own outcome.
func TestBoxParallel(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	plan := defaultPlan(t, mount.Options{})
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for n := range 10 {
				args := []string{"sh", "-c", fmt.Sprintf("exit %d", (g+n)%7)}
				if n == 5 {
					args = []string{"no-such-program-gosandbox"}
				}
				pid, err := boxRunner(t, plan, nil, args...).Start()
				var ce *ChildError
				switch {
				case n == 5 && (!errors.As(err, &ce) || ce.Errno != unix.ENOENT):
					errs <- fmt.Errorf("missing program: %v", err)
					return
				case n == 5:
					continue
				case err != nil:
					errs <- err
					return
				}
				var ws unix.WaitStatus
				if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != (g+n)%7 {
					errs <- fmt.Errorf("box %d/%d: status %v, %v", g, n, ws, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestPlainCloseLoop checks the descriptor layout on the path for kernels
// without close_range.
func TestPlainCloseLoop(t *testing.T) {
	was := haveCloseRange()
	closeRangeOK = false
	defer func() { closeRangeOK = was }()
	TestPlainFilesAndEnv(t)
}

// TestVforkSignalDefaults: a vfork start clears the runtime's handlers in
// the kernel (CLONE_CLEAR_SIGHAND), which keeps SIG_IGN; every signal this
// process ignores, whether through the runtime (signal.Ignore) or behind
// its back (a raw sigaction on a signal the runtime leaves alone, as an
// ignored SIGTSTP inherited at start), must still reach the program at its
// default, and none blocked.
func TestVforkSignalDefaults(t *testing.T) {
	ignoreRaw := func(sig syscall.Signal, handler uintptr) {
		t.Helper()
		act := [4]uint64{uint64(handler)} // struct kernel_sigaction
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); e != 0 {
			t.Fatalf("rt_sigaction %v: %v", sig, e)
		}
	}
	const sigIgn, sigDfl = 1, 0
	signal.Ignore(syscall.SIGHUP, syscall.SIGUSR2, syscall.Signal(40))
	defer signal.Reset(syscall.SIGHUP, syscall.SIGUSR2, syscall.Signal(40))
	ignoreRaw(syscall.SIGTSTP, sigIgn)
	defer ignoreRaw(syscall.SIGTSTP, sigDfl)
	// The second vfork start takes the path of a kernel without clone3 or
	// CLONE_CLEAR_SIGHAND: a plain vfork, each signal reset in the child.
	defer clearSighandMissing.Store(clearSighandMissing.Load())
	for i, vfork := range []bool{true, true, false} {
		clearSighandMissing.Store(i == 1)
		out := testhost.TempFile(t, "out")
		r := &Runner{
			Args:  []string{"/bin/cat", "/proc/self/status"},
			Files: []int{-1, int(out.Fd()), int(out.Fd())},
			UID:   -1, GID: -1,
			Vfork: vfork,
		}
		ws, s := runOut(t, r, out)
		if ws.ExitStatus() != 0 {
			t.Fatalf("vfork %v: status %v: %s", vfork, ws, s)
		}
		for _, want := range []string{"SigIgn:\t0000000000000000\n", "SigBlk:\t0000000000000000\n", "SigCgt:\t0000000000000000\n"} {
			if !strings.Contains(s, want) {
				t.Errorf("vfork %v: want %q in the program's status:\n%s", vfork, want, s)
			}
		}
	}
}

// TestVforkKeepsCPUs: a vfork start pins the starting thread to its CPU
// while it clones (pinForVfork); the program gets the caller's CPUs back,
// and so does the caller's thread.
func TestVforkKeepsCPUs(t *testing.T) {
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		t.Fatal(err)
	}
	if mine.Count() < 2 {
		t.Skip("one CPU: nothing is pinned")
	}
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Cpus_allowed_list:") {
			want = l
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for range 5 {
		out := testhost.TempFile(t, "out")
		r := &Runner{
			Args:  []string{"/bin/cat", "/proc/self/status"},
			Files: []int{-1, int(out.Fd()), int(out.Fd())},
			UID:   -1, GID: -1,
			Vfork: true,
		}
		ws, s := runOut(t, r, out)
		if ws.ExitStatus() != 0 {
			t.Fatalf("status %v: %s", ws, s)
		}
		if !strings.Contains(s, want+"\n") {
			t.Fatalf("want %q in the program's status:\n%s", want, s)
		}
		var after unix.CPUSet
		if err := unix.SchedGetaffinity(0, &after); err != nil {
			t.Fatal(err)
		}
		if after != mine {
			t.Fatalf("the starting thread's CPUs are %v after the start, were %v", after, mine)
		}
	}
}

// startFromDroppedThread starts r from a thread whose bounding set a
// CloneHook empties (DropThreadBoundingSet), as a container's init does,
// and returns the program's output. The thread stays locked and ends with
// its goroutine: no thread of the test process keeps an empty bounding set.
func startFromDroppedThread(t *testing.T, r *Runner, out *os.File) (unix.WaitStatus, string) {
	t.Helper()
	r.CloneHook = func() (func() error, error) {
		if err := DropThreadBoundingSet(); err != nil {
			return nil, err
		}
		// A second call finds the set empty already.
		if err := DropThreadBoundingSet(); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil
	}
	r.BoundingSetDropped = true
	type result struct {
		ws  unix.WaitStatus
		err error
	}
	done := make(chan result)
	go func() {
		// Never unlocked: the thread ends with the goroutine, once the
		// child (whose parent-death signal it would fire) is reaped.
		runtime.LockOSThread()
		pid, err := r.Start()
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{ws: wait(t, pid)}
	}()
	res := <-done
	if res.err != nil {
		t.Fatalf("start %q: %v", r.Args, res.err)
	}
	ws := res.ws
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	return ws, string(b)
}

// TestBoundingSetDroppedByThread: a child started from a thread whose
// bounding set is empty skips its own drops and still has none.
func TestBoundingSetDroppedByThread(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, nil, out, "/bin/sh", "-c", `grep -E '^(CapBnd|CapEff|CapPrm):' /proc/self/status`)
	r.CloneFlags, r.UIDMap, r.GIDMap, r.Mount, r.Dir, r.Hostname = 0, nil, nil, nil, "/", ""
	ws, s := startFromDroppedThread(t, r, out)
	wantOutput(t, ws, s, "CapBnd:\t0000000000000000", "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000")
}

// wantOutput checks that a program exited 0 and printed each of want.
func wantOutput(t *testing.T, ws unix.WaitStatus, s string, want ...string) {
	t.Helper()
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v, output:\n%s", ws, s)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("output lacks %q:\n%s", w, s)
		}
	}
}

// TestBoundingSetDroppedNewUser: a child in a new user namespace gets a
// full bounding set from the kernel whatever its parent's was, so
// BoundingSetDropped must not spare it the drops.
func TestBoundingSetDroppedNewUser(t *testing.T) {
	requireUserns(t)
	checkNoLeaks(t)
	out := testhost.TempFile(t, "out")
	r := boxRunner(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", `grep '^CapBnd:' /proc/self/status`)
	ws, s := startFromDroppedThread(t, r, out)
	wantOutput(t, ws, s, "CapBnd:\t0000000000000000")
}

// TestDropThreadBoundingSetPartialStart: a process whose threads started
// without the last capability in their bounding set (a service manager or
// a container runtime dropped it, as Docker's default set does) must still
// get a thread emptied: the missing last capability says nothing about
// the others.
func TestDropThreadBoundingSetPartialStart(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	if r, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_READ, lastCapability(), 0); e != 0 || r != 1 {
		t.Skip("the last capability is not in this process's bounding set")
	}
	if got := helperSays(t, "a thread's drops in a process started without the last capability", helperEnv+"=bset-partial-exec"); got != "CapBnd:\t0000000000000000" {
		t.Fatalf("a thread emptied by DropThreadBoundingSet in a process started without the last capability has\n%s", got)
	}
}

// boundingSetPartialHelper: at stage "bset-partial-exec" it drops the last
// capability from its thread's bounding set and execs itself from that
// thread, so that the new image starts without it; at "bset-partial" it
// empties a thread's set with DropThreadBoundingSet and prints the
// thread's CapBnd line.
func boundingSetPartialHelper(stage string) int {
	runtime.LockOSThread() // never unlocked: the thread ends with the process
	if stage == "bset-partial-exec" {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_CAPBSET_DROP, lastCapability(), 0); e != 0 {
			fmt.Fprintln(os.Stderr, "drop the last capability:", e)
			return 2
		}
		// The first of two settings of a name wins: replace it.
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"=bset-partial")
		err := syscall.Exec("/proc/self/exe", []string{os.Args[0], "-test.run=^$"}, env)
		fmt.Fprintln(os.Stderr, "exec:", err)
		return 2
	}
	if err := DropThreadBoundingSet(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "CapBnd:") {
			fmt.Println(l)
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "no CapBnd line")
	return 2
}
