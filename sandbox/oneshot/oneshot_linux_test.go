package oneshot

// Tests of one-shot runs: isolation, limits, verdicts, copies and what is left behind.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/workdir"
)

// probeDir holds the test probe, built once, bound read-only at probeMount.
var probeDir string

const probeMount = "/opt/probe"

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() == 0 && os.Getenv(helperEnv) == "" {
			dir, err := os.MkdirTemp("", "gosandbox-oneshot-probe-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			os.Chmod(dir, 0o755)
			cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "probe"), "./testdata/probe")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building the probe: %v\n%s", err, out)
				return 1
			}
			probeDir = dir
		}
		code := m.Run()
		// The runner's cgroup stock and background removals.
		if err := testRunner.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "Runner.Close:", err)
			code = 1
		}
		return code
	}()
	os.Exit(code)
}

var testRunner = &Runner{}

func needRoot(t testing.TB) {
	t.Helper()
	testhost.NeedRoot(t, "namespaces with an unmapped host id, cgroups, tmpfs work dir")
}

func needCgroups(t testing.TB) {
	t.Helper()
	if ok, err := testRunner.Cgroups(); !ok {
		t.Skipf("cgroups unavailable: %v", err)
	}
}

func probe(args ...string) sandbox.Spec {
	return sandbox.Spec{
		Args:  append([]string{probeMount + "/probe"}, args...),
		Env:   []string{"PATH=/usr/bin:/bin"},
		Binds: []sandbox.Bind{{Source: probeDir, Target: probeMount}},
	}
}

// outcome is a finished run with its captured stdout and stderr.
type outcome struct {
	sandbox.Result
	stdout, stderr string
}

// run runs spec on the test runner, capturing stdout and stderr into
// temporary files unless the spec sets them, and checks afterwards that the
// run left nothing behind.
func run(t *testing.T, spec sandbox.Spec) outcome {
	t.Helper()
	warmProcess(t)
	closeRunner(t)
	before := countFDs(t)
	var out, errf *os.File
	if spec.Stdout == nil {
		out = tempFile(t)
		spec.Stdout = out
	}
	if spec.Stderr == nil {
		errf = tempFile(t)
		spec.Stderr = errf
	}
	res, err := testRunner.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	o := outcome{Result: res}
	if out != nil {
		o.stdout = readBack(t, out)
	}
	if errf != nil {
		o.stderr = readBack(t, errf)
	}
	closeRunner(t)
	if after := countFDs(t); after > before {
		t.Errorf("descriptors: %d before the run, %d after", before, after)
	}
	assertNothingLeft(t)
	t.Logf("%s: status %s exit %d signal %q cpu %v wall %v mem %d procs %d acct %s msg %q stderr %q",
		strings.Join(spec.Args, " "), res.Status, res.ExitCode, res.Signal, res.CPU(), res.Wall(),
		res.MemoryBytes, res.ProcsPeak, res.Accounting, res.Message, o.stderr)
	return o
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp("", "gosandbox-oneshot-out-")
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(f.Name())
	return f
}

func readBack(t *testing.T, f *os.File) string {
	t.Helper()
	defer f.Close()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// closeRunner empties the test runner's cgroup stock and waits for the
// removal of its finished runs' groups, so that what is left can be told
// from what is kept on purpose.
// warmOnce: the first run in a process opens what every later run of any
// runner shares and keeps for the life of the process (the reaper's memfd,
// the host's pid namespace, the cpu controller's files, /dev/null), which a
// test counting the descriptors of its own run must not take for a leak
// when it happens to be the process's first (go test -run One).
var warmOnce sync.Once

func warmProcess(t testing.TB) {
	warmOnce.Do(func() {
		if _, err := testRunner.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/true"}}); err != nil {
			t.Fatalf("warm-up run: %v", err)
		}
	})
}

func closeRunner(t testing.TB) {
	t.Helper()
	if err := testRunner.Close(); err != nil {
		t.Errorf("Runner.Close: %v", err)
	}
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// assertNothingLeft checks that no run of this process left a mount, a work
// directory, a cgroup or a process on the host.
func assertNothingLeft(t testing.TB) {
	t.Helper()
	closeRunner(t)
	assertNothingLeftBy(t, os.Getpid())
}

func assertNothingLeftBy(t testing.TB, pid int) {
	t.Helper()
	tag := fmt.Sprintf("oneshot-%d-", pid)
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, tag) {
			t.Errorf("mount left behind: %s", line)
		}
	}
	if ents, err := os.ReadDir(workdir.DefaultRootForRoot); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tag) {
				t.Errorf("work dir left behind: %s", e.Name())
			}
		}
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/gosandbox/" + tag + "*")
	cgs2, _ := filepath.Glob("/sys/fs/cgroup/unified/gosandbox/" + tag + "*")
	cgs3, _ := filepath.Glob("/sys/fs/cgroup/memory/*/*/gosandbox/" + tag + "*") // a nested memory hierarchy
	for _, cg := range append(append(cgs, cgs2...), cgs3...) {
		t.Errorf("cgroup left behind: %s", cg)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), tag) {
			t.Errorf("process left behind: %s", p)
		}
	}
	// A box's pid 1 is our child until it is reaped.
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, ...
		if len(f) > 1 && f[1] == fmt.Sprint(os.Getpid()) {
			t.Errorf("child process left behind: %s", strings.TrimSpace(s[:min(len(s), i+4)]))
		}
	}
}

func TestExitCodes(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		code   int
		status sandbox.Status
	}{{0, sandbox.StatusOK}, {1, sandbox.StatusNonzeroExit}, {42, sandbox.StatusNonzeroExit}} {
		o := run(t, probe("exit", fmt.Sprint(tc.code)))
		if o.Status != tc.status || o.ExitCode != tc.code {
			t.Errorf("exit %d: status %s exit code %d", tc.code, o.Status, o.ExitCode)
		}
	}
	o := run(t, sandbox.Spec{Args: []string{"/bin/sh", "-c", "kill -SEGV $$; sleep 1; true"}, Env: []string{"PATH=/usr/bin:/bin"}})
	// The program is not pid 1 of its pid namespace (the box's reaper is),
	// so a fatal signal it sends itself acts as on the host (B7).
	if o.Status != sandbox.StatusSignalled || o.Signal != "SIGSEGV" {
		t.Errorf("self-signalled program: status %s signal %q, want signalled SIGSEGV", o.Status, o.Signal)
	}
	o = run(t, sandbox.Spec{Args: []string{"/bin/sh", "-c", "/bin/sh -c 'kill -SEGV $$'; exit $?"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if o.Status != sandbox.StatusNonzeroExit || o.ExitCode != 128+11 {
		t.Errorf("child killed by SIGSEGV: status %s exit %d, want nonzero-exit 139", o.Status, o.ExitCode)
	}
}

// TestLoadIsHidden: the host's load average, which a previous run's CPU
// use raises, is not shown to the box (U7).
func TestLoadIsHidden(t *testing.T) {
	needRoot(t)
	o := run(t, sandbox.Spec{Args: []string{"/bin/cat", "/proc/loadavg"}})
	if o.Status != sandbox.StatusOK || o.stdout != "0.00 0.00 0.00 1/1 1\n" {
		t.Fatalf("/proc/loadavg: status %s, %q", o.Status, o.stdout)
	}
}

func TestIdentity(t *testing.T) {
	needRoot(t)
	spec := probe("id")
	spec.Hostname = "judge"
	o := run(t, spec)
	if want := "uid=1000 gid=1000 pid=2 host=judge\n"; o.stdout != want {
		t.Errorf("stdout %q, want %q", o.stdout, want)
	}
	o = run(t, probe("fds"))
	if o.stdout != "0\n1\n2\n3\n" { // 3 is ReadDir's own descriptor
		t.Errorf("descriptors in the box: %q, want 0-2 (and ReadDir's)", o.stdout)
	}
}

func TestExecError(t *testing.T) {
	needRoot(t)
	for _, args := range [][]string{{"/nonexistent/prog"}, {"no-such-program"}, {"/etc/passwd"}} {
		o := run(t, sandbox.Spec{Args: args})
		if o.Status != sandbox.StatusExecError || o.Message == "" {
			t.Errorf("%v: status %s message %q, want exec-error with a message", args, o.Status, o.Message)
		}
	}
}

func TestInvalidSpecRunsNothing(t *testing.T) {
	for _, spec := range []sandbox.Spec{
		{},
		{Args: []string{"/bin/true"}, Limits: sandbox.Limits{CPU: -1}},
		{Args: []string{"/bin/true"}, CopyIn: []sandbox.CopyIn{{Name: "x", HostPath: "/nonexistent/input"}}},
		{Args: []string{"/bin/true"}, CopyIn: []sandbox.CopyIn{{Name: "x", Content: make([]byte, 8192)}}, Limits: sandbox.Limits{Tmpfs: 4096}},
		{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/nonexistent/src", Target: "/data"}}},
		{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/etc/hostname", Target: "/proc/x"}}},
	} {
		_, err := testRunner.Run(context.Background(), spec)
		if !errors.Is(err, sandbox.ErrInvalidSpec) {
			t.Errorf("%+v: got %v, want ErrInvalidSpec", spec, err)
		}
	}
	// One prefix per package: "invalid spec: oneshot: mount: bad plan: ...".
	_, err := testRunner.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/etc/hostname", Target: "/tmp/x"}}})
	if !errors.Is(err, sandbox.ErrInvalidSpec) || strings.Count(err.Error(), "mount:") != 1 || strings.Count(err.Error(), "oneshot:") > 1 {
		t.Errorf("bind inside /tmp: got %v, want ErrInvalidSpec with each package named once", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := testRunner.Run(ctx, sandbox.Spec{Args: []string{"/bin/true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

func TestCPULimit(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name     string
		args     []string
		cgroups  bool // R2: children and threads are counted only by a cgroup
		cpuLimit time.Duration
	}{
		{"spinner ignoring SIGXCPU", []string{"spin"}, false, 500 * time.Millisecond},
		{"threads", []string{"spin-threads", "4"}, true, 500 * time.Millisecond},
		{"child process", []string{"spin-child"}, true, 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cgroups {
				needCgroups(t)
			}
			spec := probe(tc.args...)
			spec.Limits = sandbox.Limits{CPU: tc.cpuLimit, Wall: time.Minute}
			o := run(t, spec)
			if o.Status != sandbox.StatusCPULimit || o.CPU() < tc.cpuLimit {
				t.Errorf("status %s cpu %v, want cpu-limit with at least %v", o.Status, o.CPU(), tc.cpuLimit)
			}
		})
	}
}

func TestWallLimit(t *testing.T) {
	needRoot(t)
	for _, args := range [][]string{{"sleep", "1h"}, {"stop-child"}} {
		spec := probe(args...)
		spec.Limits = sandbox.Limits{Wall: 300 * time.Millisecond}
		o := run(t, spec)
		if o.Status != sandbox.StatusWallLimit || o.Wall() < 300*time.Millisecond || o.Signal != "SIGKILL" {
			t.Errorf("%v: status %s wall %v signal %q, want wall-limit after 300ms by SIGKILL", args, o.Status, o.Wall(), o.Signal)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	needRoot(t)
	needCgroups(t)
	spec := probe("membomb")
	spec.Limits = sandbox.Limits{Memory: 64 << 20, Wall: time.Minute, CPU: 30 * time.Second}
	o := run(t, spec)
	if o.Status != sandbox.StatusMemoryLimit || !o.OOMKilled {
		t.Errorf("status %s oom %v, want memory-limit with oom_killed", o.Status, o.OOMKilled)
	}
}

func TestMemoryPeak(t *testing.T) {
	needRoot(t)
	needCgroups(t)
	o := run(t, probe("touch", "100"))
	if o.Status != sandbox.StatusOK || o.MemoryBytes < 100<<20 {
		t.Errorf("status %s memory %d, want ok with at least 100MiB (R7)", o.Status, o.MemoryBytes)
	}
}

func TestOutputLimitOnAFile(t *testing.T) {
	needRoot(t)
	spec := probe("flood")
	spec.Limits = sandbox.Limits{Output: 1 << 20}
	out := tempFile(t)
	defer out.Close()
	spec.Stdout = out
	o := run(t, spec)
	st, _ := out.Stat()
	if o.Status != sandbox.StatusOutputLimit || st.Size() > 1<<20 {
		t.Errorf("status %s, file %d bytes; want output-limit and at most 1MiB", o.Status, st.Size())
	}
}

func TestOutputLimitOnACapture(t *testing.T) {
	needRoot(t)
	c, err := workdir.NewCapture(64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	spec := probe("flood")
	spec.Stdout = c.Writer()
	res, err := testRunner.Run(c.Watch(context.Background()), spec)
	if err != nil {
		t.Fatal(err)
	}
	data, exceeded := c.Wait()
	if res.Status != sandbox.StatusOutputLimit || !exceeded || len(data) != 64<<10 {
		t.Errorf("status %s exceeded %v captured %d; want output-limit, true, 64KiB", res.Status, exceeded, len(data))
	}
	assertNothingLeft(t)
}

func TestForkBombIsHeld(t *testing.T) {
	needRoot(t)
	needCgroups(t)
	// The guard refuses to start the bomb unless the shell is pid 2 of its
	// own pid namespace (the box's reaper is pid 1), i.e. inside the box:
	// on the host pid 2 is kthreadd.
	spec := sandbox.Spec{
		Args: []string{"/bin/sh", "-c", `test $$ = 2 || exit 99; f() { f | f & }; f; sleep 2; echo survived`},
		Env:  []string{"PATH=/usr/bin:/bin"},
		// CPU far above what 1.5 s of wall time on every core can use: a
		// bomb spins every core, and its CPU total must not be the limit
		// that ends it.
		Limits: sandbox.Limits{Procs: 32, Wall: 1500 * time.Millisecond, CPU: 30 * time.Second},
	}
	o := run(t, spec)
	if o.ExitCode == 99 {
		t.Fatal("the guard says the shell was not in a pid namespace")
	}
	if o.ProcsPeak > 32 {
		t.Errorf("procs peak %d above the cap 32", o.ProcsPeak)
	}
	if o.Status != sandbox.StatusWallLimit && o.Status != sandbox.StatusOK {
		t.Errorf("status %s, want wall-limit (or ok)", o.Status)
	}
	// The host is fine: the next run works.
	if o := run(t, probe("exit", "0")); o.Status != sandbox.StatusOK {
		t.Errorf("run after the bomb: %s %s", o.Status, o.Message)
	}
}

func TestDaemonsAreKilled(t *testing.T) {
	needRoot(t)
	o := run(t, probe("daemon"))
	if o.Status != sandbox.StatusOK {
		t.Errorf("status %s (%s)", o.Status, o.stdout)
	}
	// run has checked that no process of the box is left.
}

func TestCopyInOut(t *testing.T) {
	needRoot(t)
	host := t.TempDir()
	script := filepath.Join(host, "prog.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nread x < in.txt; echo \"got $x\" > out.txt; ln -s /etc/shadow link; mkfifo fifo\n"), 0o755)
	spec := sandbox.Spec{
		Args:    []string{"./prog.sh"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		CopyIn:  []sandbox.CopyIn{{Name: "prog.sh", HostPath: script}, {Name: "in.txt", Content: []byte("41\n")}},
		CopyOut: []string{"out.txt", "link", "fifo", "missing"},
	}
	o := run(t, spec)
	if o.Status != sandbox.StatusOK {
		t.Fatalf("status %s %s: %s", o.Status, o.Message, o.stderr)
	}
	if string(o.Files["out.txt"]) != "got 41\n" {
		t.Errorf("out.txt = %q", o.Files["out.txt"])
	}
	for _, name := range []string{"link", "fifo", "missing"} {
		if o.FileErrors[name] == "" {
			t.Errorf("%s: no refusal reason (files %q errors %q)", name, o.Files, o.FileErrors)
		}
	}
}

func TestCancel(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	spec := probe("sleep", "1h")
	spec.Limits.Wall = time.Hour
	res, err := testRunner.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.StatusInternalError || !strings.Contains(res.Message, "cancel") {
		t.Errorf("status %s message %q", res.Status, res.Message)
	}
	assertNothingLeft(t)
}

func TestParallelRuns(t *testing.T) {
	needRoot(t)
	n := 4 * runtime.NumCPU()
	var wg sync.WaitGroup
	results := make([]sandbox.Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = testRunner.Run(context.Background(), probe("exit", fmt.Sprint(i%3)))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].ExitCode != i%3 {
			t.Errorf("run %d: %v %s exit %d %s", i, errs[i], results[i].Status, results[i].ExitCode, results[i].Message)
		}
	}
	assertNothingLeft(t)
}

func TestWithoutCgroups(t *testing.T) {
	needRoot(t)
	r := &Runner{NoCgroups: true}
	// Not the Go probe: without cgroups the memory cap is RLIMIT_AS, and the
	// Go runtime reserves more address space than the default 256MiB.
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", "while :; do :; done"}}
	spec.Limits = sandbox.Limits{CPU: 300 * time.Millisecond}
	errf := tempFile(t)
	spec.Stderr = errf
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accounting != sandbox.AccountingRusage || res.Status != sandbox.StatusCPULimit {
		t.Errorf("accounting %s status %s (%+v), want rusage cpu-limit; stderr %s", res.Accounting, res.Status, res, readBack(t, errf))
	}
	assertNothingLeft(t)
}

func TestSyscallDenied(t *testing.T) {
	needRoot(t)
	spec := sandbox.Spec{Args: []string{"/usr/bin/unshare", "--user", "/bin/true"}, Syscalls: sandbox.SyscallsKill}
	o := run(t, spec)
	if o.Status != sandbox.StatusSyscallDenied || o.Signal != "SIGSYS" {
		t.Errorf("kill mode: status %s signal %q, want syscall-denied by SIGSYS", o.Status, o.Signal)
	}
	// The name comes from the kernel's audit record, when it logs one.
	if !strings.Contains(o.Message, "unshare (272, x86_64)") {
		t.Logf("the message does not name the call (no audit record in /dev/kmsg?): %q", o.Message)
	}
	spec.Syscalls = sandbox.SyscallsErrno
	o = run(t, spec)
	if o.Status != sandbox.StatusNonzeroExit || !strings.Contains(o.stderr, "not permitted") {
		t.Errorf("errno mode: status %s stderr %q, want nonzero-exit with EPERM", o.Status, o.stderr)
	}
}

const helperEnv = "GOSANDBOX_ONESHOT_HELPER"

// TestSupervisorDeathKillsTheBox kills a supervisor while its box runs and
// checks that the box dies with it (B4). The supervisor is this test binary
// re-executed; the box shares its stdout, so the pipe reaches EOF exactly
// when every process of the box is gone.
func TestSupervisorDeathKillsTheBox(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		// The supervisor: run a box that says it started, then sleeps.
		res, err := (&Runner{}).Run(context.Background(), sandbox.Spec{
			Args:   []string{"/bin/sh", "-c", "echo started; exec sleep 3600"},
			Stdout: os.Stdout,
			Limits: sandbox.Limits{Wall: time.Hour, CPU: time.Hour},
		})
		t.Fatalf("the box ended although its supervisor should have been killed: %v %+v", err, res)
	}
	needRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestSupervisorDeathKillsTheBox$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer r.Close()
	line := make([]byte, len("started\n"))
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "started\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the box did not start: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// EOF: the last writer, the box's sleep, is gone. The test's own
	// timeout is the only limit on how long that may take.
	if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
		t.Errorf("after the supervisor died: %q %v", rest, err)
	}
	// What a killed supervisor cannot clean up itself: its empty cgroups.
	// The processes are gone, so they can be removed; a process still in
	// one would make rmdir fail and show below.
	tag := fmt.Sprintf("oneshot-%d-", cmd.Process.Pid)
	for _, pattern := range []string{"/sys/fs/cgroup/*/gosandbox/", "/sys/fs/cgroup/memory/*/*/gosandbox/"} {
		dirs, _ := filepath.Glob(pattern + tag + "*")
		for _, d := range dirs {
			// The kernel releases the group a moment after its last task
			// exited: retry while it says busy.
			err := os.Remove(d)
			for i := 0; errors.Is(err, syscall.EBUSY) && i < 500; i++ {
				time.Sleep(10 * time.Millisecond)
				err = os.Remove(d)
			}
			if err != nil {
				t.Errorf("leftover cgroup %s: %v", d, err)
			}
		}
	}
	assertNothingLeftBy(t, cmd.Process.Pid)
}

func TestStdioEdgeCases(t *testing.T) {
	needRoot(t)
	// A closed stdout: the program sees no descriptor 1, the run still
	// completes as the program's own failure, not the sandbox's.
	closed := tempFile(t)
	closed.Close()
	o := run(t, sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo hi"}, Stdout: closed})
	if o.Status == sandbox.StatusInternalError {
		t.Errorf("closed stdout: %s %s", o.Status, o.Message)
	}
	// Unread stdin: the caller's writer gets EPIPE when the box is gone,
	// nobody blocks.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	writeErr := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, 4<<20))
		w.Close()
		writeErr <- err
	}()
	o = run(t, sandbox.Spec{Args: []string{"/bin/true"}, Stdin: r})
	r.Close()
	if o.Status != sandbox.StatusOK || !errors.Is(<-writeErr, syscall.EPIPE) {
		t.Errorf("unread stdin: %s", o.Status)
	}
	// An extra file becomes descriptor 3.
	er, ew, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	o = run(t, sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo extra >&3"}, ExtraFiles: []*os.File{ew}})
	ew.Close()
	got, _ := io.ReadAll(er)
	er.Close()
	if o.Status != sandbox.StatusOK || string(got) != "extra\n" {
		t.Errorf("extra file: %s %q", o.Status, got)
	}
}

// TestRunOutlivesEndedThreads: a program embedding the library may end OS
// threads while a run is under way (a goroutine that returns locked to its
// thread, as namespace libraries do on purpose to drop a tainted thread).
// The box's parent-death signal is tied to the thread that cloned it, so
// the runtime must not hand that thread to such a goroutine while the box
// lives. Right after the start, the run's goroutine blocks with such a
// goroutine next in line on its thread.
func TestRunOutlivesEndedThreads(t *testing.T) {
	needRoot(t)
	hook, ended := testhost.EndThreadOnPhase("start")
	phaseHook = hook
	defer func() { phaseHook = nil }()
	o := run(t, sandbox.Spec{Args: []string{"/bin/sleep", "0.2"}})
	if o.Status != sandbox.StatusOK || o.ExitCode != 0 {
		t.Fatalf("a run under way while a thread of the host process ended (the one that cloned the box: %v): status %s exit %d signal %q msg %q",
			<-ended, o.Status, o.ExitCode, o.Signal, o.Message)
	}
}

// TestBindFileOfAnotherBoxIsNotOutput: runs at once may share a writable
// bind. A file another box (another host uid of the range) grows to the
// output limit there while this run's program runs is not this run's
// output: the run ends ok (R10).
func TestBindFileOfAnotherBoxIsNotOutput(t *testing.T) {
	needRoot(t)
	const limit = 1 << 20
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	other := hostid.Base + hostid.Count - 1
	var hookErr error
	phaseHook = func(phase string, _ time.Duration) {
		if phase != "start" {
			return
		}
		// The other box's file, made once this run's program runs.
		p := filepath.Join(dir, "theirs")
		if hookErr = os.WriteFile(p, make([]byte, limit), 0o644); hookErr == nil {
			hookErr = os.Chown(p, other, other)
		}
	}
	defer func() { phaseHook = nil }()
	spec := sandbox.Spec{Args: []string{"/bin/true"}, Limits: sandbox.Limits{Output: limit},
		Binds: []sandbox.Bind{{Source: dir, Target: "/out", Writable: true}}}
	o := run(t, spec)
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if _, err := os.Stat(filepath.Join(dir, "theirs")); err != nil {
		t.Fatalf("the other box's file was not made during the run: %v", err)
	}
	if o.Status != sandbox.StatusOK {
		t.Fatalf("a file another box (host uid %d) grew to the limit in a shared writable bind decided this run: status %s msg %q",
			other, o.Status, o.Message)
	}
}
