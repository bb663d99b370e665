package forkexec

// A benchmark that takes a box apart: the floor with one ingredient added,
// and the box with one taken away, to say which ingredient slows the
// program's own life (exec to exit) and which its start.

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
)

// BenchmarkIngredients runs /bin/true under every variant in turn (A B C
// ... A B C, so load drifts hit them alike) and reports, per variant, the
// p10 and median of start (until Start returns: the exec has replaced the
// child) and of run (from there to reaped: ld.so, the program, exit), as
// microseconds and as ratios to the plain fork+exec of the same rounds.
// INGREDIENTS (comma-separated names) picks a subset; the floor always
// runs. The lines go to stderr, one per variant. "run" ends when the
// parent has reaped the child, so it also holds the exit's teardown of the
// namespaces the child was the last member of. Both are wall-clock: time
// the child waited for a CPU counts, and whatever else runs on the other
// CPU slows the child's own code (on this paravirtualised 2-vCPU host a
// spinning sibling made the floor's exec-to-exit 35-40% longer on-CPU);
// docs/tools/sched_phases.py splits on-CPU from waiting.
func BenchmarkIngredients(b *testing.B) {
	requireUserns(b)
	plan := defaultPlan(b, mount.Options{})
	filter, err := seccomp.Default(sandbox.SyscallsErrno)
	if err != nil {
		b.Fatal(err)
	}
	rl := rlimit.FromLimits(sandbox.Limits{Memory: 256 << 20, CPU: 2 * time.Second, Wall: 5 * time.Second,
		Procs: 64, OpenFiles: 64, Output: 16 << 20, Stack: 8 << 20}, true)
	if err := rlimit.RaiseHardLimits(rl); err != nil {
		b.Fatal(err)
	}
	var procs []int
	if m, err := cgroup.New(); err == nil {
		b.Cleanup(func() { m.Close() })
		g, err := m.Create("forkexec-bench-ingredients", cgroup.Limits{Memory: 256 << 20, Procs: 64})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { g.Remove() })
		files, err := g.ProcsFiles()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			b.Cleanup(func() { f.Close() })
			procs = append(procs, int(f.Fd()))
		}
	}
	hu, hg := sandbox.HostBoxUID()
	userns := func(r *Runner) {
		r.CloneFlags |= unix.CLONE_NEWUSER
		r.UIDMap = []IDMap{{sandbox.BoxUID, hu, 1}}
		r.GIDMap = []IDMap{{sandbox.BoxGID, hg, 1}}
		r.UID, r.GID = sandbox.BoxUID, sandbox.BoxGID
	}
	withFloor := func(f func(*Runner)) func() *Runner {
		return func() *Runner {
			r := floorRunner()
			f(r)
			return r
		}
	}
	full := func() *Runner {
		r := boxRunner(b, plan, nil, "/bin/true")
		r.Seccomp = filter.Fprog()
		r.RLimits = rl
		r.CgroupProcs = procs
		return r
	}
	without := func(f func(*Runner)) func() *Runner {
		return func() *Runner {
			r := full()
			f(r)
			return r
		}
	}
	type variant struct {
		name string
		make func() *Runner
	}
	variants := []variant{
		{"floor", floorRunner},
		{"+seccomp", withFloor(func(r *Runner) { r.NoNewPrivs = true; r.Seccomp = filter.Fprog() })},
		{"+nnp", withFloor(func(r *Runner) { r.NoNewPrivs = true })},
		{"+rlimits", withFloor(func(r *Runner) { r.RLimits = rl })},
		{"+cgroup", withFloor(func(r *Runner) { r.CgroupProcs = procs })},
		{"+userns", withFloor(userns)},
		{"+pidns", withFloor(func(r *Runner) { r.CloneFlags |= unix.CLONE_NEWPID })},
		{"+netns", withFloor(func(r *Runner) { r.CloneFlags |= unix.CLONE_NEWNET })},
		{"+userns+pidns", withFloor(func(r *Runner) { userns(r); r.CloneFlags |= unix.CLONE_NEWPID })},
		{"+mountplan", withFloor(func(r *Runner) {
			userns(r)
			r.CloneFlags |= unix.CLONE_NEWNS | unix.CLONE_NEWPID
			r.Mount = plan
			r.Dir = "/w"
		})},
		{"box", full},
		{"box-seccomp", without(func(r *Runner) { r.Seccomp = nil })},
		{"box-rlimits", without(func(r *Runner) { r.RLimits = nil })},
		{"box-cgroup", without(func(r *Runner) { r.CgroupProcs = nil })},
		{"box-netns", without(func(r *Runner) { r.CloneFlags &^= unix.CLONE_NEWNET })},
		{"box-mountplan", without(func(r *Runner) { r.Mount = nil; r.Dir = ""; r.CloneFlags &^= unix.CLONE_NEWNS })},
	}
	if want := os.Getenv("INGREDIENTS"); want != "" {
		names := strings.Split(want, ",")
		variants = slices.DeleteFunc(variants, func(v variant) bool {
			return v.name != "floor" && !slices.Contains(names, v.name)
		})
	}
	if procs == nil {
		variants = slices.DeleteFunc(variants, func(v variant) bool { return v.name == "+cgroup" || v.name == "box-cgroup" })
	}
	runners := make([]*Runner, len(variants))
	for i, v := range variants {
		runners[i] = v.make()
	}
	starts := make([][]time.Duration, len(variants))
	runs := make([][]time.Duration, len(variants))
	one := func(i int) {
		t0 := time.Now()
		pid, err := runners[i].Start()
		if err != nil {
			b.Fatalf("%s: %v", variants[i].name, err)
		}
		t1 := time.Now()
		if ws := wait(b, pid); ws.ExitStatus() != 0 {
			b.Fatalf("%s: status %v", variants[i].name, ws)
		}
		starts[i] = append(starts[i], t1.Sub(t0))
		runs[i] = append(runs[i], time.Since(t1))
	}
	for range 5 {
		for i := range variants {
			one(i)
		}
	}
	for i := range variants {
		starts[i], runs[i] = starts[i][:0], runs[i][:0]
	}
	for b.Loop() {
		for i := range variants {
			one(i)
		}
	}
	q := func(d []time.Duration, p int) float64 {
		return float64(testhost.Quantile(d, float64(p)/100).Nanoseconds()) / 1e3
	}
	fs10, fs50, fr10, fr50 := q(starts[0], 10), q(starts[0], 50), q(runs[0], 10), q(runs[0], 50)
	for i, v := range variants {
		s10, s50, r10, r50 := q(starts[i], 10), q(starts[i], 50), q(runs[i], 10), q(runs[i], 50)
		fmt.Fprintf(os.Stderr, "%-14s start p10 %6.0f p50 %6.0f us (x%.2f x%.2f)  run p10 %6.0f p50 %6.0f us (x%.2f x%.2f)\n",
			v.name, s10, s50, s10/fs10, s50/fs50, r10, r50, r10/fr10, r50/fr50)
	}
	b.ReportMetric(q(runs[0], 50), "floor-run-p50-us")
}
