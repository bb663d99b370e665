package forkexec

// Tests and a benchmark of a run in a zero-process slot's fresh box.

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/mount"
)

// freshSlot prepares what a one-shot vfork start takes from ahead (a user
// namespace mapping the box's ids to the host's box ids, a network
// namespace inside it) and returns a boxRunner made a Slot child with a
// Mount plan and pid 1 apart. The caller closes the namespaces and the
// Reaped.
func freshSlot(t testing.TB, plan *mount.Plan, out *os.File, args ...string) (*Runner, func()) {
	t.Helper()
	if os.Geteuid() != 0 || !CanReaperApart() {
		t.Skip("needs root and the machine-code reaper")
	}
	hu, hg := sandbox.HostBoxUID()
	userNS, err := NewUserNS(0, 0, []IDMap{{sandbox.BoxUID, hu, 1}}, []IDMap{{sandbox.BoxGID, hg, 1}})
	if err != nil {
		t.Fatal(err)
	}
	netNS, err := NewNetNSIn(userNS)
	if err != nil {
		t.Fatal(err)
	}
	reaped, err := NewReaped()
	if err != nil {
		t.Fatal(err)
	}
	r := boxRunner(t, plan, out, args...)
	r.CloneFlags = unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP
	r.UIDMap, r.GIDMap = nil, nil
	r.Vfork = true
	r.Reaper, r.ReaperApart = reaped, true
	r.Slot = &Slot{UserNS: userNS, NetNS: netNS, WorkUID: hu, WorkGID: hg, Held: &Held{}}
	return r, func() {
		reaped.Close()
		unix.Close(userNS)
		unix.Close(netNS)
		if r.Slot.Held.MountNS >= 0 {
			unix.Close(r.Slot.Held.MountNS)
		}
		if r.Slot.Held.WorkDir >= 0 {
			unix.Close(r.Slot.Held.WorkDir)
		}
	}
}

// TestFreshSlotBox: a Slot child with a Mount plan and no kept mount
// namespace runs the program as pid 2 of its pid namespace, as the box
// user, in the plan's tree with /w its own, and leaves the caller holds on
// the mount namespace and /w.
func TestFreshSlotBox(t *testing.T) {
	out := testhost.TempFile(t, "out")
	r, done := freshSlot(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c",
		`echo pid=$$ uid=$(id -u) w=$(stat -c %u /w) usr=$(stat -f -c %T /usr); grep -c . /proc/self/mountinfo >/dev/null && echo ok`)
	defer done()
	ws, got := runOut(t, r, out)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v, output %q", ws, got)
	}
	want := "pid=2 uid=" + itoa(sandbox.BoxUID) + " w=" + itoa(sandbox.BoxUID)
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "ok") {
		t.Errorf("output %q, want it to start with %q", got, want)
	}
	if h := r.Slot.Held; h.MountNS < 0 || h.WorkDir < 0 {
		t.Errorf("holds %+v, want both", *h)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// BenchmarkFreshSlotRatio interleaves the floor, the one-shot start that
// clones new user and mount namespaces (with its id-map round trip and
// nested reaper) and the vfork start of a Slot with a Mount plan and pid 1
// apart (its namespaces prepared outside the timed part, each serving one
// run), /bin/true, and reports p50 and p10 ratios to the floor.
func BenchmarkFreshSlotRatio(b *testing.B) {
	requireUserns(b)
	plan := defaultPlan(b, mount.Options{})
	floor := floorRunner()
	clone := boxRunner(b, plan, nil, "/bin/true")
	cloneReaped, err := NewReaped()
	if err != nil {
		b.Fatal(err)
	}
	defer cloneReaped.Close()
	clone.Reaper = cloneReaped
	timed := func(r *Runner) time.Duration {
		t0 := time.Now()
		pid, err := r.Start()
		if err != nil {
			b.Fatal(err)
		}
		wait(b, pid)
		return time.Since(t0)
	}
	fresh := func() time.Duration {
		r, done := freshSlot(b, plan, nil, "/bin/true")
		defer done()
		d := timed(r)
		return d
	}
	var fl, cl, fr []time.Duration
	for range 5 {
		timed(floor)
		timed(clone)
		fresh()
	}
	for b.Loop() {
		fl = append(fl, timed(floor))
		cl = append(cl, timed(clone))
		fr = append(fr, fresh())
	}
	q := func(d []time.Duration, x float64) float64 {
		s := append([]time.Duration(nil), d...)
		slices.Sort(s)
		return float64(s[int(x*float64(len(s)-1))])
	}
	b.ReportMetric(q(fl, 0.5)/1e3, "floor-p50-us")
	b.ReportMetric(q(cl, 0.5)/q(fl, 0.5), "clone-ratio-p50")
	b.ReportMetric(q(fr, 0.5)/q(fl, 0.5), "vfork-ratio-p50")
	b.ReportMetric(q(cl, 0.1)/q(fl, 0.1), "clone-ratio-p10")
	b.ReportMetric(q(fr, 0.1)/q(fl, 0.1), "vfork-ratio-p10")
}

// TestReaperApartPidfdSetnsMissing: pidfd_open came in Linux 5.3, but
// setns(2) takes a pidfd only since 5.8 (EINVAL before). On such a kernel
// a pid 1 apart with a pidfd must still be entered (through
// /proc/PID/ns/pid), or every slots run fails.
func TestReaperApartPidfdSetnsMissing(t *testing.T) {
	out := testhost.TempFile(t, "out")
	r, done := freshSlot(t, defaultPlan(t, mount.Options{}), out, "/bin/sh", "-c", `echo pid=$$`)
	defer done()
	old := setnsPid1
	defer func() { setnsPid1 = old; pidfdSetnsMissing.Store(false) }()
	setnsPid1 = func(fd, nstype int) error {
		// A kernel before 5.8: a pidfd is no namespace file.
		if unix.PidfdSendSignal(fd, 0, nil, 0) == nil {
			return unix.EINVAL
		}
		return old(fd, nstype)
	}
	ws, got := runOut(t, r, out)
	if ws.ExitStatus() != 0 || !strings.HasPrefix(got, "pid=2") {
		t.Fatalf("status %v, output %q, want pid=2", ws, got)
	}
}

// TestVforkApartPid1KeepsCPUs: the apart pid 1 of a vfork start (cloned
// within the start when the caller did not start it ahead) gets the
// caller's CPUs, not only the one the start pins the thread to while it
// clones the program (pinForVfork): it is no child of that clone and never
// puts them back itself.
func TestVforkApartPid1KeepsCPUs(t *testing.T) {
	var mine unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		t.Fatal(err)
	}
	if mine.Count() < 2 {
		t.Skip("one CPU: nothing is pinned")
	}
	out := testhost.TempFile(t, "out")
	r, done := freshSlot(t, defaultPlan(t, mount.Options{}), out, "/bin/sleep", "5")
	defer done()
	pid, err := r.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		wait(t, pid)
	}()
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(r.Reaper.pid1, &got); err != nil {
		t.Fatalf("CPUs of the apart pid 1 (%d): %v", r.Reaper.pid1, err)
	}
	if got != mine {
		t.Errorf("the apart pid 1 may run on %d CPUs, its caller on %d", got.Count(), mine.Count())
	}
}

// TestSpoiledKeeperSparesItsPid1s: a start ahead that cannot bring the
// keeper thread back to the host's pid namespace must not end the thread:
// its end sends the parent-death signal to every pid 1 it ever started,
// the ones waiting in other idle slots and the ones runs under way took.
func TestSpoiledKeeperSparesItsPid1s(t *testing.T) {
	if os.Geteuid() != 0 || !CanReaperApart() {
		t.Skip("needs root and the machine-code reaper")
	}
	first, err := NewReaped()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := first.StartApartAhead(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	keeper := parentThread(t, first.Pid1())
	old := setnsHome
	setnsHome = func(int, int) error { return unix.ENOMEM }
	spoiled, err := NewReaped()
	if err != nil {
		setnsHome = old
		t.Fatal(err)
	}
	err = spoiled.StartApartAhead(syscall.SIGKILL)
	setnsHome = old
	spoiled.Close()
	if err == nil {
		t.Fatal("a start whose return to the host pid namespace failed reported no error")
	}
	// The spoiled thread either ends, and the pid 1s it started die with
	// it, or stays parked for good; wait for one or the other.
	for deadline := time.Now().Add(10 * time.Second); !keeperParked(); time.Sleep(time.Millisecond) {
		if !first.Apart() {
			t.Fatalf("the pid 1 started ahead before a spoiled start died with keeper thread %d", keeper)
		}
		if time.Now().After(deadline) {
			t.Fatalf("keeper thread %d neither ended nor parked", keeper)
		}
	}
	next, err := NewReaped()
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if err := next.StartApartAhead(syscall.SIGKILL); err != nil {
		t.Fatalf("a start ahead after a spoiled one: %v", err)
	}
}

// parentThread is the thread of this process that cloned child.
func parentThread(t *testing.T, child int) int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			if c == strconv.Itoa(child) {
				tid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
				return tid
			}
		}
	}
	t.Fatalf("no thread of this process has child %d", child)
	return 0
}

// keeperParked reports whether a keeper goroutine is parked for good.
func keeperParked() bool {
	buf := make([]byte, 1<<20)
	all := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "[select (no cases), locked to thread]") && strings.Contains(g, "keepThread") {
			return true
		}
	}
	return false
}
