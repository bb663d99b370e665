package cgroup

// Tests of cgroup groups on this host: detection, life cycle, limits, peaks, resets, CPU sets.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Children of this test binary: GOSANDBOX_CGROUP_CHILD=touch makes the child
// wait for a line on stdin (so the parent can move it into a group first),
// then allocate and touch GOSANDBOX_CGROUP_MIB MiB, print "touched" and
// wait for stdin to close.
const (
	envChild = "GOSANDBOX_CGROUP_CHILD"
	envMiB   = "GOSANDBOX_CGROUP_MIB"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "touch" {
		touchChild()
		return
	}
	if os.Getenv(envChild) == "sockets" {
		socketsChild()
		return
	}
	code := m.Run()
	if code == 0 {
		if left := leftovers(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "cgroups left behind: %v\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

func touchChild() {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(2)
	}
	mib, _ := strconv.Atoi(os.Getenv(envMiB))
	chunks := make([][]byte, 0, mib)
	for range mib {
		c := make([]byte, 1<<20)
		for i := 0; i < len(c); i += 4096 {
			c[i] = 1
		}
		chunks = append(chunks, c)
	}
	fmt.Println("touched")
	io.Copy(io.Discard, in)
	_ = chunks[len(chunks)-1][0]
}

var (
	testManager     *Manager
	testManagerErr  error
	testManagerOnce sync.Once
)

// manager returns the shared manager or skips the test with the reason.
func manager(t testing.TB) *Manager {
	t.Helper()
	testManagerOnce.Do(func() { testManager, testManagerErr = New() })
	if errors.Is(testManagerErr, ErrUnavailable) {
		t.Skipf("cgroups unavailable: %v", testManagerErr)
	}
	if testManagerErr != nil {
		t.Fatal(testManagerErr)
	}
	return testManager
}

// leftovers lists groups of this test process still present, then removes
// our roots when empty.
func leftovers() []string {
	if testManager == nil {
		return nil
	}
	var left []string
	for _, root := range roots(testManager) {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), testPrefix()) {
				left = append(left, filepath.Join(root, e.Name()))
			}
		}
	}
	if err := testManager.Close(); err != nil {
		left = append(left, err.Error())
	}
	return left
}

func roots(m *Manager) []string {
	switch impl := m.impl.(type) {
	case *v1Manager:
		return slices.DeleteFunc([]string{impl.memory, impl.pids, impl.cpuacct, impl.cpuset}, func(s string) bool { return s == "" })
	case *v2Manager:
		return []string{impl.root}
	}
	return nil
}

func testPrefix() string { return fmt.Sprintf("test-%d-", os.Getpid()) }

func create(t testing.TB, m *Manager, suffix string, l Limits) *Group {
	t.Helper()
	g, err := m.Create(testPrefix()+suffix, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Errorf("remove %s: %v", g.Name(), err)
		}
	})
	return g
}

// groupDirs are the directories of g in every hierarchy.
func groupDirs(g *Group) []string {
	switch impl := g.impl.(type) {
	case *v1Group:
		return slices.Clone(impl.dirs)
	case *v2Group:
		return []string{impl.dir}
	}
	return nil
}

func inGroup(t *testing.T, g *Group, pid int) bool {
	t.Helper()
	for _, d := range groupDirs(g) {
		pids, err := readPids(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(pids, pid) {
			return false
		}
	}
	return true
}

func TestDetect(t *testing.T) {
	info, err := Detect()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("cgroups unavailable: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	switch info.Mode {
	case V1:
		if info.Accounting() != "cgroup-v1" || info.V1["memory"].Mount == "" {
			t.Fatalf("v1 info incomplete: %+v", info)
		}
	case V2:
		if info.Accounting() != "cgroup-v2" || info.V2Mount == "" {
			t.Fatalf("v2 info incomplete: %+v", info)
		}
	default:
		t.Fatalf("no mode in %+v", info)
	}
	t.Logf("mode %v, memory hierarchy %+v, cgroup2 at %q", info.Mode, info.V1["memory"], info.V2Mount)
}

func TestNames(t *testing.T) {
	m := manager(t)
	for _, bad := range []string{"", ".", "..", "a/b", "x\n"} {
		if _, err := m.Create(bad, Limits{}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func TestLifecycle(t *testing.T) {
	m := manager(t)
	g := create(t, m, "life", Limits{Memory: 64 << 20, Procs: 16})

	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	if err := g.AddProc(sleeper.Process.Pid); err != nil {
		sleeper.Process.Kill()
		t.Fatal(err)
	}
	if !inGroup(t, g, sleeper.Process.Pid) {
		t.Fatalf("sleep %d not in every hierarchy of %s", sleeper.Process.Pid, g.Name())
	}

	// A busy shell in the group uses CPU time that the group counts.
	busy := exec.Command("sh", "-c", `read x; i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	stdin, _ := busy.StdinPipe()
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.AddProc(busy.Process.Pid); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := busy.Wait(); err != nil {
		t.Fatal(err)
	}
	cpu, err := g.CPU()
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 {
		t.Fatalf("CPU %v after a busy loop in the group", cpu)
	}
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU < cpu || u.MemoryPeak <= 0 || u.OOMKilled || u.PeakSource == "" {
		t.Fatalf("usage %+v (cpu polled %v)", u, cpu)
	}
	t.Logf("usage %+v", u)

	if err := g.KillAll(); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("sleep ended with %v, want SIGKILL", err)
	}
	dirs := groupDirs(g)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Remove (%v)", d, err)
		}
	}
	if err := g.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := g.AddProc(os.Getpid()); !errors.Is(err, ErrRemoved) {
		t.Fatalf("AddProc after Remove: %v, want ErrRemoved", err)
	}
}

func TestRemoveKillsWhatIsLeft(t *testing.T) {
	m := manager(t)
	g, err := m.Create(testPrefix()+"leftover", Limits{Procs: 8})
	if err != nil {
		t.Fatal(err)
	}
	// A stopped process and one that ignores SIGTERM.
	stopped := exec.Command("sh", "-c", "kill -STOP $$; sleep 1000")
	deaf := exec.Command("sh", "-c", "trap '' TERM; sleep 1000")
	for _, c := range []*exec.Cmd{stopped, deaf} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := g.AddProc(c.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	waits := make(chan error, 2)
	go func() { waits <- stopped.Wait() }()
	go func() { waits <- deaf.Wait() }()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-waits; err == nil {
			t.Fatal("a process of the removed group exited normally")
		}
	}
}

func TestCreateExistingFails(t *testing.T) {
	m := manager(t)
	g := create(t, m, "dup", Limits{Memory: 32 << 20})
	if _, err := m.Create(g.Name(), Limits{}); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create: %v, want ErrExist", err)
	}
	// The first group is intact.
	for _, d := range groupDirs(g) {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("first group damaged: %v", err)
		}
	}
}

// startToucher starts a child that touches mib MiB once it is in g.
func startToucher(t *testing.T, g *Group, mib int) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envChild+"=touch", fmt.Sprintf("%s=%d", envMiB, mib))
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	stdin := startInGroup(t, g, cmd)
	return cmd, stdin, bufio.NewReader(stdout)
}

func TestMemoryLimitOOMKills(t *testing.T) {
	m := manager(t)
	g := create(t, m, "oom", Limits{Memory: 64 << 20, Procs: 16})
	cmd, stdin, out := startToucher(t, g, 200)
	defer stdin.Close()
	line, _ := out.ReadString('\n')
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child touching 200 MiB in 64 MiB ended with %v (output %q), want SIGKILL", err, line)
	}
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if !u.OOMKilled {
		t.Fatalf("usage %+v: OOMKilled false after an OOM kill", u)
	}
	if u.MemoryPeak < 60<<20 {
		t.Fatalf("peak %d after filling a 64 MiB group", u.MemoryPeak)
	}
	t.Logf("usage after OOM: %+v", u)

	// Reused, the group forgets the OOM kill and the peak.
	if err := g.Reset(Limits{Memory: 64 << 20, Procs: 16}); err != nil {
		t.Fatal(err)
	}
	u, err = g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.OOMKilled || u.MemoryPeak >= 60<<20 || u.CPU != 0 || u.ProcsPeak != 0 {
		t.Fatalf("usage after Reset of an empty group: %+v", u)
	}
}

func TestPeakMemory(t *testing.T) {
	m := manager(t)
	g := create(t, m, "peak", Limits{Memory: 256 << 20, Procs: 16})
	cmd, stdin, out := startToucher(t, g, 100)
	if line, err := out.ReadString('\n'); err != nil || line != "touched\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if u.MemoryPeak < 100<<20 {
		t.Fatalf("peak %d < 100 MiB touched (source %s)", u.MemoryPeak, u.PeakSource)
	}
	if u.OOMKilled {
		t.Fatal("OOMKilled without an OOM")
	}
	t.Logf("usage: %+v", u)
}

// TestPeakMemoryOfReusedGroup runs a heavy and then an idle program in one
// reset group, polling CPU while the heavy one holds its memory as a
// supervisor does: the heavy run's peak is reported after it freed its
// memory, and the idle run does not carry it. Where the kernel cannot reset
// memory.peak (v2 before 6.12) this is the sampled peak.
func TestPeakMemoryOfReusedGroup(t *testing.T) {
	m := manager(t)
	g := create(t, m, "peak-reuse", Limits{Memory: 256 << 20, Procs: 16})
	if err := g.Reset(Limits{Memory: 256 << 20, Procs: 16}); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, out := startToucher(t, g, 100)
	if line, err := out.ReadString('\n'); err != nil || line != "touched\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	if _, err := g.CPU(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	heavy, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if heavy.MemoryPeak < 100<<20 {
		t.Fatalf("heavy run: peak %d < 100 MiB touched (source %s)", heavy.MemoryPeak, heavy.PeakSource)
	}

	if err := g.Reset(Limits{Memory: 256 << 20, Procs: 16}); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, out = startToucher(t, g, 1)
	if line, err := out.ReadString('\n'); err != nil || line != "touched\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	if _, err := g.CPU(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if idle.MemoryPeak >= 60<<20 {
		t.Fatalf("idle run after a heavy one: peak %d (source %s) carries the heavy run", idle.MemoryPeak, idle.PeakSource)
	}
	t.Logf("heavy: %+v; idle: %+v", heavy, idle)
}

func TestLimitsRestoredByReset(t *testing.T) {
	m := manager(t)
	g := create(t, m, "reset", Limits{Memory: 32 << 20, Procs: 4})
	if err := g.Reset(Limits{Memory: 128 << 20, Procs: 32}); err != nil {
		t.Fatal(err)
	}
	if err := g.Reset(Limits{Memory: 16 << 20, Procs: 2}); err != nil {
		t.Fatal(err)
	}
	var memFile, pidsFile string
	switch impl := g.impl.(type) {
	case *v1Group:
		memFile, pidsFile = filepath.Join(impl.memory, "memory.limit_in_bytes"), filepath.Join(impl.pids, "pids.max")
	case *v2Group:
		memFile, pidsFile = filepath.Join(impl.dir, "memory.max"), filepath.Join(impl.dir, "pids.max")
	}
	if got := readString(memFile); got != strconv.Itoa(16<<20) {
		t.Errorf("%s = %s, want %d", memFile, got, 16<<20)
	}
	if got := readString(pidsFile); got != "2" {
		t.Errorf("%s = %s, want 2", pidsFile, got)
	}
}

func TestConcurrentGroups(t *testing.T) {
	m := manager(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				g, err := m.Create(fmt.Sprintf("%sconc-%d-%d", testPrefix(), w, i), Limits{Memory: 16 << 20, Procs: 4})
				if err != nil {
					errs <- err
					return
				}
				if _, err := g.CPU(); err != nil {
					errs <- err
				}
				if err := g.Remove(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkCreateAddRemove measures the cgroup work on the one-shot path:
// Create, AddProc of a live process, and Remove after that process was
// killed and reaped (the supervisor reaps before it removes). Starting,
// killing and reaping the process are not timed. Run with -benchtime=200x;
// it reports the median.
func BenchmarkCreateAddRemove(b *testing.B) {
	m := manager(b)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		p := exec.Command("sleep", "1000")
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		g, err := m.Create(fmt.Sprintf("%sbench-%d", testPrefix(), i), Limits{Memory: 64 << 20, Procs: 16})
		if err != nil {
			b.Fatal(err)
		}
		if err := g.AddProc(p.Process.Pid); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		b.StopTimer()
		p.Process.Kill()
		p.Wait()
		b.StartTimer()
		t1 := time.Now()
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, d+time.Since(t1))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "median-us")
	b.ReportMetric(float64(samples[len(samples)*9/10].Microseconds()), "p90-us")
}

// TestCreateAfterClose: another manager (another process) may remove our
// empty root at any time; Create makes it again.
func TestCreateAfterClose(t *testing.T) {
	m := manager(t)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	g := create(t, m, "after-close", Limits{Memory: 16 << 20, Procs: 4})
	for _, d := range groupDirs(g) {
		if _, err := os.Stat(d); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCPUSet(t *testing.T) {
	m := manager(t)
	if m.Info().Mode == V1 {
		if _, ok := m.Info().V1["cpuset"]; !ok {
			t.Skip("no cpuset hierarchy")
		}
	} else if !m.impl.(*v2Manager).enabled["cpuset"] {
		t.Skip("cpuset controller not enabled")
	}
	g := create(t, m, "cpuset", Limits{Memory: 16 << 20, Procs: 4, CPUSet: "0"})
	p := exec.Command("sleep", "1000")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Process.Kill()
	if err := g.AddProc(p.Process.Pid); err != nil {
		t.Fatal(err)
	}
	allowed := func() string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatal("no Cpus_allowed_list")
		return ""
	}
	if got := allowed(); got != "0" {
		t.Fatalf("Cpus_allowed_list %q in a group pinned to CPU 0", got)
	}
	if err := g.Reset(Limits{Memory: 16 << 20, Procs: 4}); err != nil {
		t.Fatal(err)
	}
	if got := allowed(); got == "0" && runtime.NumCPU() > 1 {
		t.Fatalf("still pinned to CPU 0 after Reset without a CPU set")
	}
}

// TestCPUSetUnderHalfMadeRoot: another process that is remaking the shared
// root (after a third one's Close removed it) has made the directory but
// not yet filled its cpuset.cpus and cpuset.mems; a group made under it
// meanwhile must still get its CPU set (v1 refuses CPUs that are not a
// subset of the parent's with EACCES).
func TestCPUSetUnderHalfMadeRoot(t *testing.T) {
	m := manager(t)
	if m.Info().Mode != V1 {
		t.Skip("a v1 cpuset matter: a v2 cpuset inherits its parent's effective set")
	}
	v1 := m.impl.(*v1Manager)
	if v1.cpuset == "" {
		t.Skip("no cpuset hierarchy")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkdir(v1.cpuset, 0o755); err == unix.EEXIST {
		t.Skip("another process's groups keep the shared root: it cannot be half-made here")
	} else if err != nil {
		t.Fatal(err)
	}
	g := create(t, m, "half-made-root", Limits{Memory: 16 << 20, Procs: 4, CPUSet: "0"})
	if got := readString(filepath.Join(v1.cpuset, g.Name(), "cpuset.cpus")); got != "0" {
		t.Fatalf("cpuset.cpus %q, want 0", got)
	}
}

// BenchmarkReset measures the cgroup work between two runs of a pooled box.
func BenchmarkReset(b *testing.B) {
	m := manager(b)
	l := Limits{Memory: 64 << 20, Procs: 16}
	g := create(b, m, "bench-reset", l)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := g.Reset(l); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "median-us")
}

// TestRemoveAfterPartialAdd: on v1 a process can end up in one hierarchy
// only (AddProc failed half-way); Remove still kills it and leaves nothing.
func TestRemoveAfterPartialAdd(t *testing.T) {
	m := manager(t)
	if m.Info().Mode != V1 {
		t.Skip("only v1 has several hierarchies")
	}
	g, err := m.Create(testPrefix()+"partial", Limits{Procs: 4})
	if err != nil {
		t.Fatal(err)
	}
	impl := g.impl.(*v1Group)
	if impl.pids == "" {
		t.Skip("no pids hierarchy")
	}
	p := exec.Command("sleep", "1000")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	if err := writeFile(filepath.Join(impl.pids, "cgroup.procs"), strconv.Itoa(p.Process.Pid)); err != nil {
		p.Process.Kill()
		t.Fatal(err)
	}
	dirs := groupDirs(g)
	if err := g.Remove(); err != nil {
		p.Process.Kill()
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("sleep exited normally")
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left behind", d)
		}
	}
}

// charge is what g's memory counter holds now.
func charge(t *testing.T, g *Group) int64 {
	t.Helper()
	var file string
	switch impl := g.impl.(type) {
	case *v1Group:
		file = filepath.Join(impl.memory, "memory.usage_in_bytes")
	case *v2Group:
		file = filepath.Join(impl.dir, "memory.current")
	}
	n, err := readInt(file)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeInGroup has a process of g write size bytes to path on disk and sync
// them: clean page cache charged to g, which reclaim can free.
func writeInGroup(t *testing.T, g *Group, path string, size int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `read x && dd if=/dev/zero of="$1" bs=64k count="$2" conv=fsync status=none`, "sh", path, strconv.Itoa(size/(64<<10)))
	cmd.Stderr = os.Stderr
	if err := runInGroup(t, g, cmd); err != nil {
		t.Fatalf("write %s in the group: %v", path, err)
	}
}

// runInGroup starts cmd, which first reads a line from its stdin, moves it
// into g, then lets it go on and waits for it: everything it does is
// charged to g.
func runInGroup(t *testing.T, g *Group, cmd *exec.Cmd) error {
	t.Helper()
	startInGroup(t, g, cmd).Close()
	return cmd.Wait()
}

// startInGroup starts cmd, which first reads a line from its stdin, moves
// it into g and lets it go on; it returns cmd's stdin.
func startInGroup(t *testing.T, g *Group, cmd *exec.Cmd) io.WriteCloser {
	t.Helper()
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.AddProc(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	return stdin
}

// TestReclaimOnlyWhenWorthIt: Reclaim leaves a charge below ReclaimMin (what
// a small run leaves costs more to reclaim than the run itself) and frees a
// larger one, so the next run's peak starts below ReclaimMin either way (U4).
func TestReclaimOnlyWhenWorthIt(t *testing.T) {
	m := manager(t)
	g := create(t, m, "reclaim", Limits{Memory: 256 << 20, Procs: 16})
	dir, err := os.MkdirTemp("/var/tmp", "gosandbox-cgroup-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	const small = 256 << 10
	writeInGroup(t, g, filepath.Join(dir, "small"), small)
	if c := charge(t, g); c < small || c >= ReclaimMin {
		t.Skipf("a %d-byte file charged %d bytes: not the page cache this test needs", small, c)
	}
	if err := g.Reclaim(); err != nil {
		t.Fatal(err)
	}
	if c := charge(t, g); c < small {
		t.Fatalf("a charge of less than %d bytes was reclaimed (%d left)", ReclaimMin, c)
	}

	writeInGroup(t, g, filepath.Join(dir, "big"), 8<<20)
	if c := charge(t, g); c < 8<<20 {
		t.Skipf("an 8 MiB file charged %d bytes: not the page cache this test needs", c)
	}
	if err := g.Reclaim(); err != nil {
		t.Fatal(err)
	}
	if c := charge(t, g); c >= ReclaimMin {
		t.Fatalf("%d bytes left charged after the reclaim of a larger charge", c)
	}
}
