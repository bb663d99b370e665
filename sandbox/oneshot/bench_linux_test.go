package oneshot

// Benchmarks of one-shot starts against the fork+exec floor, back to back and spaced.

import (
	"context"
	"strings"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

var trueSpec = sandbox.Spec{Args: []string{"/bin/true"}}

func runTrueBoxed(b *testing.B) {
	res, err := testRunner.Run(context.Background(), trueSpec)
	if err != nil || res.Status != sandbox.StatusOK {
		b.Fatalf("%v %s %s", err, res.Status, res.Message)
	}
}

func BenchmarkOneshotTrue(b *testing.B) {
	needRoot(b)
	for b.Loop() {
		runTrueBoxed(b)
	}
}

func BenchmarkForkExecTrue(b *testing.B) {
	for b.Loop() {
		testhost.FloorTrue(b)
	}
}

// BenchmarkOneshotVsFloor interleaves a boxed run and a floor run (A B A B
// after a warm-up) and reports the p50 of each and their ratio, the figure
// the one-shot design is judged by.
func BenchmarkOneshotVsFloor(b *testing.B) {
	needRoot(b)
	for range 5 {
		runTrueBoxed(b)
		testhost.FloorTrue(b)
	}
	var boxed, floor []time.Duration
	for b.Loop() {
		t0 := time.Now()
		runTrueBoxed(b)
		t1 := time.Now()
		testhost.FloorTrue(b)
		t2 := time.Now()
		boxed = append(boxed, t1.Sub(t0))
		floor = append(floor, t2.Sub(t1))
	}
	pb, pf := p50(boxed), p50(floor)
	b.ReportMetric(float64(pb.Microseconds()), "boxed-p50-us")
	b.ReportMetric(float64(pf.Microseconds()), "floor-p50-us")
	b.ReportMetric(float64(pb)/float64(pf), "ratio-p50")
}

// BenchmarkOneshotPhases reports the p50 of each phase of a boxed
// /bin/true, to show where the start-up time goes.
func BenchmarkOneshotPhases(b *testing.B) {
	needRoot(b)
	phases := map[string][]time.Duration{}
	var order []string
	phaseHook = func(phase string, d time.Duration) {
		if _, ok := phases[phase]; !ok {
			order = append(order, phase)
		}
		phases[phase] = append(phases[phase], d)
	}
	defer func() { phaseHook = nil }()
	for b.Loop() {
		runTrueBoxed(b)
	}
	for _, p := range order {
		b.ReportMetric(float64(p50(phases[p]).Microseconds()), strings.ReplaceAll(p, " ", "-")+"-p50-us")
	}
}

func p50(d []time.Duration) time.Duration { return testhost.Quantile(d, 0.5) }

// BenchmarkOneshotVariants interleaves the floor with boxed runs of runners
// that lack one start-path optimisation each, so that what each one saves
// shows under the same load: full (everything on), clone-start (the start
// that clones new user and mount namespaces and waits for the id maps,
// instead of the vfork start with prepared namespaces; the variants below
// take it too), no-cgroups (the vfork start without a cgroup: limits by
// rlimits only, what the cgroup costs), no-netns (every box
// makes its network namespace at clone time), no-cgstock (every run makes
// and removes its cgroup on its own path), no-mntns-hold (the box's exit tears its mount
// namespace down), no-thread-move (v1: the child is moved into its cgroups
// by pid and unshares its cgroup namespace late), none (all off: the start
// path as it was before these optimisations, but for the start watch).
func BenchmarkOneshotVariants(b *testing.B) {
	needRoot(b)
	variants := []struct {
		name string
		r    *Runner
	}{
		{"full", &Runner{}},
		{"clone-start", &Runner{noVforkStart: true}},
		{"no-cgroups", &Runner{NoCgroups: true}},
		{"no-netns", &Runner{noNetStock: true, noVforkStart: true}},
		{"no-cgstock", &Runner{noCgroupStock: true, noVforkStart: true}},
		{"no-mntns-hold", &Runner{noHoldMountNS: true, noVforkStart: true}},
		{"no-thread-move", &Runner{noThreadMove: true, noVforkStart: true}},
		{"none", &Runner{noNetStock: true, noCgroupStock: true, noHoldMountNS: true, noThreadMove: true, noVforkStart: true}},
	}
	one := func(r *Runner) time.Duration {
		t0 := time.Now()
		res, err := r.Run(context.Background(), trueSpec)
		if err != nil || res.Status != sandbox.StatusOK {
			b.Fatalf("%v %s %s", err, res.Status, res.Message)
		}
		return time.Since(t0)
	}
	floor := func() time.Duration {
		t0 := time.Now()
		testhost.FloorTrue(b)
		return time.Since(t0)
	}
	times := make([][]time.Duration, len(variants))
	var fl []time.Duration
	for range 5 {
		for _, v := range variants {
			one(v.r)
			floor()
		}
	}
	for b.Loop() {
		for i, v := range variants {
			times[i] = append(times[i], one(v.r))
			fl = append(fl, floor())
		}
	}
	for _, v := range variants {
		v.r.Close()
	}
	full := &variants[0].r.boxes
	b.ReportMetric(float64(full.hits)/float64(full.hits+full.misses), "box-stock-hit-rate")
	cl := &variants[1].r.netns
	b.ReportMetric(float64(cl.hits)/float64(cl.hits+cl.misses), "netns-stock-hit-rate")
	pf, pf10 := p50(fl), testhost.Quantile(fl, 0.1)
	b.ReportMetric(float64(pf.Microseconds()), "floor-p50-us")
	for i, v := range variants {
		b.ReportMetric(float64(p50(times[i]))/float64(pf), v.name+"-ratio-p50")
		// On a saturated machine the low quantile says more about the
		// work itself than the median does.
		b.ReportMetric(float64(testhost.Quantile(times[i], 0.1))/float64(pf10), v.name+"-ratio-p10")
	}
}
