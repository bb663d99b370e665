package forkexec

// Benchmarks of plain, vfork and namespaced starts against the fork+exec floor.

import (
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/mount"
)

// floorRunner is a plain fork+exec of /bin/true: no namespaces, nothing
// changed, the same process and code path.
func floorRunner() *Runner {
	return &Runner{Args: []string{"/bin/true"}, UID: -1, GID: -1}
}

func benchRun(b *testing.B, r *Runner) {
	b.Helper()
	for b.Loop() {
		pid, err := r.Start()
		if err != nil {
			b.Fatal(err)
		}
		if ws := wait(b, pid); ws.ExitStatus() != 0 {
			b.Fatalf("status %v", ws)
		}
	}
}

// BenchmarkForkExecFloor is the floor of every start: fork, exec and wait
// for /bin/true.
func BenchmarkForkExecFloor(b *testing.B) {
	benchRun(b, floorRunner())
}

// BenchmarkVforkTrue is the floor started with CLONE_VM|CLONE_VFORK.
func BenchmarkVforkTrue(b *testing.B) {
	r := floorRunner()
	r.Vfork = true
	benchRun(b, r)
}

// BenchmarkNamespacesTrue is a one-shot box start without cgroups: all seven
// namespaces, the default mount plan (compiled once), the box user,
// no_new_privs, no capabilities, then /bin/true.
func BenchmarkNamespacesTrue(b *testing.B) {
	requireUserns(b)
	r := boxRunner(b, defaultPlan(b, mount.Options{}), nil, "/bin/true")
	benchRun(b, r)
}

// BenchmarkNamespacesNoMountTrue is BenchmarkNamespacesTrue without the mount
// plan: what the namespaces alone cost.
func BenchmarkNamespacesNoMountTrue(b *testing.B) {
	requireUserns(b)
	r := boxRunner(b, nil, nil, "/bin/true")
	r.Dir = ""
	benchRun(b, r)
}

// BenchmarkBareNamespacesTrue is the reference for what the namespaces alone
// cost: a clone into all seven and exec, with no id map (so no round trip),
// no mounts, no credential change.
func BenchmarkBareNamespacesTrue(b *testing.B) {
	requireUserns(b)
	r := floorRunner()
	r.CloneFlags = allNamespaces
	benchRun(b, r)
}

// BenchmarkRatio interleaves the floor and the box start (A B A B...) and
// reports the ratio of their medians, the figure the issue asks for.
func BenchmarkRatio(b *testing.B) {
	requireUserns(b)
	floor := floorRunner()
	box := boxRunner(b, defaultPlan(b, mount.Options{}), nil, "/bin/true")
	var fl, bx []time.Duration
	one := func(r *Runner) time.Duration {
		t0 := time.Now()
		pid, err := r.Start()
		if err != nil {
			b.Fatal(err)
		}
		wait(b, pid)
		return time.Since(t0)
	}
	for range 10 { // warm-up
		one(floor)
		one(box)
	}
	for b.Loop() {
		fl = append(fl, one(floor))
		bx = append(bx, one(box))
	}
	slices.Sort(fl)
	slices.Sort(bx)
	pf, pb := fl[len(fl)/2], bx[len(bx)/2]
	b.ReportMetric(float64(pf.Microseconds()), "floor-p50-us")
	b.ReportMetric(float64(pb.Microseconds()), "box-p50-us")
	b.ReportMetric(float64(pb)/float64(pf), "ratio-p50")
	// On a shared, noisy machine the low quantiles say more about the
	// work itself than the median does.
	b.ReportMetric(float64(bx[len(bx)/10])/float64(fl[len(fl)/10]), "ratio-p10")
	b.ReportMetric(float64(bx[0])/float64(fl[0]), "ratio-min")
}

// BenchmarkNamespacesSteps is BenchmarkNamespacesTrue with the child's trace
// on: it reports the mean time of each phase of a start, to show where the
// time goes (clone with its namespaces, the id-map round trip, the mount
// steps, pivot_root and the detach of the old root, credentials to exec,
// and exit to reaped).
func BenchmarkNamespacesSteps(b *testing.B) {
	requireUserns(b)
	plan := defaultPlan(b, mount.Options{})
	mem, err := unix.Mmap(-1, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	tr := unsafe.Slice((*int64)(unsafe.Pointer(&mem[0])), len(mem)/8)
	r := boxRunner(b, plan, nil, "/bin/true")
	r.trace = tr
	now := func() int64 {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return ts.Nano()
	}
	// phase of each trace label: the time since the previous point is
	// charged to the phase that label ends.
	phase := func(l int64) string {
		switch {
		case l == traceStart:
			return "clone-us"
		case l == traceSynced:
			return "sync-wait-us"
		case l == traceSetsid || l == traceFiles:
			return "setsid-fds-us"
		case l == traceRootBound || l >= traceOp:
			return "mounts-us"
		case l == tracePivoted || l == traceDetached || l == traceMounted:
			return "pivot-detach-us"
		case l == traceExec:
			return "creds-seccomp-us"
		}
		return "other-us"
	}
	sums := map[string]int64{}
	for b.Loop() {
		clear(tr)
		t0 := now()
		pid, err := r.Start()
		if err != nil {
			b.Fatal(err)
		}
		t1 := now()
		wait(b, pid)
		t2 := now()
		prev := t0
		last := t0
		for i := 0; i+1 < len(tr) && tr[i] != 0; i += 2 {
			sums[phase(tr[i])] += tr[i+1] - prev
			prev, last = tr[i+1], tr[i+1]
		}
		sums["execve-us"] += t1 - last // exec until the parent sees EOF
		sums["exit-reap-us"] += t2 - t1
	}
	for k, v := range sums {
		b.ReportMetric(float64(v)/float64(b.N)/1e3, k)
	}
}
