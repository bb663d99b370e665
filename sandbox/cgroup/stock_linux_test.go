package cgroup

// Tests of the stock of ready groups, late removal, stale groups and a thread entering a group.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stockManager is a manager of its own for a test of the stock, closed at
// the end of the test.
func stockManager(t *testing.T) *Manager {
	t.Helper()
	manager(t) // skips when cgroups are unavailable
	m, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// waitStockIdle waits until the manager's worker has nothing left to do.
func waitStockIdle(m *Manager) {
	s := &m.stock
	s.mu.Lock()
	for s.running {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

func stockCount(m *Manager) int {
	m.stock.mu.Lock()
	defer m.stock.mu.Unlock()
	return len(m.stock.ready)
}

// memoryLimit reads the memory limit of g from its memory directory.
func memoryLimit(t *testing.T, g *Group) string {
	t.Helper()
	for _, d := range groupDirs(g) {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
	}
	t.Fatalf("no memory limit file in %v", groupDirs(g))
	return ""
}

// findDirs lists the directories named prefix* under the manager's roots.
func findDirs(m *Manager, prefix string) []string {
	var out []string
	for _, root := range roots(m) {
		matches, _ := filepath.Glob(filepath.Join(root, prefix+"*"))
		out = append(out, matches...)
	}
	return out
}

func TestStockHandsOutFreshGroupsWithTheLimits(t *testing.T) {
	m := stockManager(t)
	prefix := testPrefix() + "stock-"
	if err := m.KeepStock(prefix, 2); err != nil {
		t.Fatal(err)
	}
	l := Limits{Memory: 48 << 20, Procs: 8}
	// The first Create tells the stock which limits to prepare.
	first := create(t, m, "first", l)
	if first.Name() != testPrefix()+"first" {
		t.Errorf("first group %q: want the name given, nothing was stocked yet", first.Name())
	}
	waitStockIdle(m)
	if n := stockCount(m); n != 2 {
		t.Fatalf("%d groups in stock, want 2", n)
	}
	g := create(t, m, "second", l)
	if !strings.HasPrefix(g.Name(), prefix) {
		t.Fatalf("second group %q: want one from the stock (%s...)", g.Name(), prefix)
	}
	if got := memoryLimit(t, g); got != strconv.Itoa(48<<20) {
		t.Errorf("stocked group's memory limit %s, want %d", got, 48<<20)
	}
	// Fresh: nothing counted before the run, then the run is.
	u, err := g.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU != 0 || u.OOMKilled {
		t.Errorf("stocked group's usage before any process: %+v", u)
	}
	cmd := exec.Command("sh", "-c", "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	if err := runInGroup(t, g, cmd); err != nil {
		t.Fatal(err)
	}
	if u, err = g.Usage(); err != nil || u.CPU <= 0 || u.MemoryPeak <= 0 {
		t.Errorf("usage after a run in a stocked group: %+v %v", u, err)
	}
	// Other limits: made on the spot with the name given, and the stock
	// turns to them.
	other := create(t, m, "other", Limits{Memory: 40 << 20, Procs: 8})
	if other.Name() != testPrefix()+"other" {
		t.Errorf("group with other limits %q: want the name given", other.Name())
	}
	waitStockIdle(m)
	m.stock.mu.Lock()
	aimed := m.stock.limits
	m.stock.mu.Unlock()
	if aimed.Memory != 40<<20 {
		t.Errorf("stock aims at %+v after a Create with other limits", aimed)
	}

	dirs := groupDirs(g)
	g.RemoveLater()
	if err := g.AddProc(os.Getpid()); !errors.Is(err, ErrRemoved) {
		t.Errorf("AddProc after RemoveLater: %v, want ErrRemoved", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there after RemoveLater and Close (%v)", d, err)
		}
	}
	if left := findDirs(m, prefix); len(left) > 0 {
		t.Errorf("stocked groups left after Close: %v", left)
	}
	// Close turned the stock off: Create works as without one.
	after := create(t, m, "after", l)
	if after.Name() != testPrefix()+"after" {
		t.Errorf("group after Close %q: want the name given", after.Name())
	}
	waitStockIdle(m)
	if left := findDirs(m, prefix); len(left) > 0 {
		t.Errorf("the stock refilled after Close: %v", left)
	}
}

func TestRemoveLaterKillsWhatIsLeft(t *testing.T) {
	m := stockManager(t)
	g, err := m.Create(testPrefix()+"later", Limits{Procs: 8})
	if err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sh", "-c", "trap '' TERM; sleep 1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.AddProc(sleeper.Process.Pid); err != nil {
		sleeper.Process.Kill()
		sleeper.Wait()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	dirs := groupDirs(g)
	g.RemoveLater()
	g.RemoveLater() // idempotent
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := <-done; !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("process of a group removed later ended with %v, want SIGKILL", err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", d, err)
		}
	}
}

func TestOwnerPid(t *testing.T) {
	for name, want := range map[string]int{
		"oneshot-123-4":                  123,
		"container-9-1":                  9,
		"oneshot-77-s1-3":                77,
		"oneshot-123":                    0,
		"oneshot-123-":                   0,
		"Oneshot-123-4":                  0,
		"one_shot-123-4":                 0,
		"-123-4":                         0,
		"oneshot-0123-4":                 0,
		"oneshot-x-4":                    0,
		"oneshot--4":                     0,
		"gosandbox":                      0,
		"cgroup.procs":                   0,
		"oneshot-99999999999999999999-1": 0,
	} {
		pid, ok := ownerPid(name)
		if (want == 0) == ok || pid != want && ok {
			t.Errorf("ownerPid(%q) = %d, %v; want %d", name, pid, ok, want)
		}
	}
}

// TestRemoveStale makes groups as killed supervisors leave them and checks
// that exactly the dead owners' empty ones go.
func TestRemoveStale(t *testing.T) {
	if !inInitialPidNS() {
		t.Skip("not in the initial pid namespace: RemoveStale removes nothing by design")
	}
	m := manager(t)
	const dead = 1 << 22 // above pid_max's ceiling: never a live process
	live := os.Getpid()
	names := map[string]bool{ // name: should go
		fmt.Sprintf("stale-%d-1", dead):    true,
		fmt.Sprintf("stale-%d-s1", dead):   true,
		fmt.Sprintf("stale-%d-2", live):    false, // owner alive
		fmt.Sprintf("Stale-%d-1", dead):    false, // not our pattern
		fmt.Sprintf("stale-%d", dead):      false, // not our pattern
		fmt.Sprintf("stale-%d-busy", dead): false, // holds a process
	}
	groups := map[string]*Group{}
	for name := range names {
		g, err := m.Create(name, Limits{Procs: 4})
		if err != nil {
			t.Fatal(err)
		}
		groups[name] = g
		t.Cleanup(func() { g.Remove() })
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sleeper.Process.Kill()
		sleeper.Wait()
	}()
	if err := groups[fmt.Sprintf("stale-%d-busy", dead)].AddProc(sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	n, err := RemoveStale()
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	removed := 0
	for name, shouldGo := range names {
		for _, d := range groupDirs(groups[name]) {
			_, err := os.Stat(d)
			switch {
			case shouldGo && !os.IsNotExist(err):
				t.Errorf("%s: still there (%v)", d, err)
			case !shouldGo && err != nil:
				t.Errorf("%s: removed although it should stay (%v)", d, err)
			}
		}
		if shouldGo {
			removed += len(groupDirs(groups[name]))
		}
	}
	// Another process's RemoveStale may have taken some of ours first, and
	// other stale groups of the host may have gone too: the count is only
	// logged.
	t.Logf("RemoveStale removed %d groups (%d of this test)", n, removed)
	if sleeper.ProcessState != nil {
		t.Error("the process of a busy stale group was touched")
	}
}

// TestEnterThread (v1): a child cloned by a thread inside the group is born
// there; the thread goes back home and the process limit is restored.
func TestEnterThread(t *testing.T) {
	m := manager(t)
	if m.Info().Mode != V1 {
		t.Skip("EnterThread is for cgroup v1; v2 starts children with CLONE_INTO_CGROUP")
	}
	g := create(t, m, "thread", Limits{Memory: 64 << 20, Procs: 1})
	before, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	leave, err := g.EnterThread()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	inside, _ := os.ReadFile("/proc/thread-self/cgroup")
	// With one process allowed and the thread counted, the child still fits.
	cmd := exec.Command("sleep", "1000")
	startErr := cmd.Start()
	if err := leave(); err != nil {
		t.Fatalf("leave: %v (the thread stays locked)", err)
	}
	after, _ := os.ReadFile("/proc/thread-self/cgroup")
	runtime.UnlockOSThread()
	if startErr != nil {
		t.Fatalf("start a child from inside the group: %v", startErr)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if !strings.Contains(string(inside), "/"+g.Name()) {
		t.Errorf("thread inside the group sees\n%s", inside)
	}
	if string(after) != string(before) {
		t.Errorf("thread did not go back home:\nbefore\n%s\nafter\n%s", before, after)
	}
	if !inGroup(t, g, cmd.Process.Pid) {
		t.Errorf("child %d not born in every hierarchy of the group", cmd.Process.Pid)
	}
	for _, d := range groupDirs(g) {
		if b, err := os.ReadFile(filepath.Join(d, "pids.max")); err == nil && strings.TrimSpace(string(b)) != "1" {
			t.Errorf("pids.max %q after leave, want 1", b)
		}
		pids, _ := readPids(filepath.Join(d, "cgroup.procs"))
		if slices.Contains(pids, os.Getpid()) {
			t.Errorf("this process is still listed in %s", d)
		}
	}
}

// TestStockedGroupJoinFDs: a group from the stock comes with its join
// descriptors (v1) open: a process writing "0" into them is in the group,
// its usage is read through the descriptors opened ahead, and the group's
// removal closes them all. Deferred stock work waits for KickStock.
func TestStockedGroupJoinFDs(t *testing.T) {
	m := stockManager(t)
	if m.Info().Mode == V2 {
		t.Skip("join descriptors are kept on cgroup v1 only")
	}
	before := countFDs(t)
	l := deferredStockOfOne(t, m, "test-join-", time.Hour)
	emptyUntilKick(t, m, "the deferred stock filled before KickStock")
	g, err := m.Create("unused", l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Name(), "test-join-") {
		t.Fatalf("group %q is not from the stock", g.Name())
	}
	fds, err := g.JoinFDs()
	if err != nil || len(fds) == 0 {
		t.Fatalf("JoinFDs: %v %v", fds, err)
	}
	cmd := exec.Command("/bin/sh", "-c", `echo 0 >&3 && read x`)
	w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fds[0]), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd.ExtraFiles = []*os.File{w}
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(groupPids(t, g), cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never joined %s", cmd.Process.Pid, g.Name())
		}
		time.Sleep(time.Millisecond)
	}
	stdin.Close()
	cmd.Wait()
	u, err := g.Usage()
	var peak int64
	for _, d := range groupDirs(g) {
		if b, rerr := os.ReadFile(filepath.Join(d, "memory.max_usage_in_bytes")); rerr == nil {
			peak, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		}
	}
	if err != nil || u.MemoryPeak != peak {
		t.Errorf("usage through the kept descriptors: %+v %v, memory.max_usage_in_bytes says %d", u, err, peak)
	}
	w.Close()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	m.KeepStock("", 0)
	waitStockIdle(m)
	if after := countFDs(t); after != before {
		t.Errorf("descriptors: %d before the stock, %d after the group's removal and the stock's end", before, after)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// groupPids lists the processes in g's memory directory.
func groupPids(t *testing.T, g *Group) []int {
	var pids []int
	for _, d := range groupDirs(g) {
		if !strings.Contains(d, "memory") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
	}
	return pids
}

// TestPreopenTwice: a group opened ahead a second time (a group from the
// stock comes opened ahead, and Preopen is exported) keeps one descriptor
// per file, and its removal leaves none.
func TestPreopenTwice(t *testing.T) {
	m := stockManager(t)
	before := countFDs(t)
	g, err := m.Create(testPrefix()+"preopen", Limits{Procs: 4})
	if err != nil {
		t.Fatal(err)
	}
	g.Preopen()
	once := countFDs(t)
	g.Preopen()
	twice := countFDs(t)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if twice != once {
		t.Errorf("descriptors: %d after one Preopen, %d after a second", once, twice)
	}
	if after := countFDs(t); after != before {
		t.Errorf("descriptors: %d before the group, %d after its removal", before, after)
	}
}

// TestHeldStockWaitsForKick: deferred stock work held by HoldStock does not
// start when its period has passed, only at the next KickStock.
func TestHeldStockWaitsForKick(t *testing.T) {
	m := stockManager(t)
	l := deferredStockOfOne(t, m, "test-hold-", time.Millisecond)
	m.FlushStock()
	m.HoldStock()
	g, err := m.Create("unused", l) // takes the stocked group: the refill is due
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	time.Sleep(50 * time.Millisecond) // 50 periods
	emptyUntilKick(t, m, "held stock work started without KickStock")
}

// deferredStockOfOne makes m keep one group named prefix..., its work
// deferred by d, and aims the stock at the limits it returns (a group
// with them made and removed).
func deferredStockOfOne(t *testing.T, m *Manager, prefix string, d time.Duration) Limits {
	t.Helper()
	m.DeferStockWork(d)
	if err := m.KeepStock(prefix, 1); err != nil {
		t.Fatal(err)
	}
	l := Limits{Memory: 64 << 20, Procs: 8}
	g0, err := m.Create(fmt.Sprintf("%sfirst-%d", prefix, os.Getpid()), l)
	if err != nil {
		t.Fatal(err)
	}
	g0.Remove()
	return l
}

// emptyUntilKick checks that m's stock of one is empty (else fails with
// early), then that KickStock fills it.
func emptyUntilKick(t *testing.T, m *Manager, early string) {
	t.Helper()
	if waitStockIdle(m); stockCount(m) != 0 {
		t.Fatal(early)
	}
	m.KickStock()
	waitStockIdle(m)
	if stockCount(m) != 1 {
		t.Fatalf("stock after KickStock: %d groups, want 1", stockCount(m))
	}
}
