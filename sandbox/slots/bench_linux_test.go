package slots

// Benchmarks of slots: runs against the fork+exec floor, and the time of each phase of a run.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/oneshot"
)

var trueSpec = sandbox.Spec{Args: []string{"/bin/true"}}

func boxedTrue(b *testing.B, r sandbox.Runner) {
	res, err := r.Run(context.Background(), trueSpec)
	if err != nil || res.Status != sandbox.StatusOK {
		b.Fatalf("%v %s %s", err, res.Status, res.Message)
	}
}

// BenchmarkSlotsVsFloor interleaves /bin/true on one slot, on one slot of
// a warm Runner (Options.Warm), on one slot whose pid 1 is the program's
// parent (no ReaperApart), on the one-shot runner and the floor (floor,
// slots, warm, nested, oneshot, floor, ...), back to back
// and with 20 ms of idleness before each run (what a judge sees when runs
// arrive apart: work the kernel defers to an RCU grace period is then not
// hidden by the next run), and reports p50 and p90 of each as ratios to
// the floor's.
func BenchmarkSlotsVsFloor(b *testing.B) {
	r := newRunnerWith(b, Options{Size: 1})
	warm := newRunnerWith(b, Options{Size: 1, Warm: true})
	// The same with the box's pid 1 as the program's parent, as before
	// forkexec.Runner.ReaperApart.
	nested := newRunnerWhile(b, &noReaperApart)
	one := &oneshot.Runner{}
	defer one.Close()
	for _, gap := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("gap=%v", gap), func(b *testing.B) {
			for range 5 {
				boxedTrue(b, r)
				boxedTrue(b, warm)
				boxedTrue(b, nested)
				boxedTrue(b, one)
				testhost.FloorTrue(b)
			}
			var floor, slot, hot, nest, shot []time.Duration
			timed := timedAfter(gap)
			for b.Loop() {
				timed(&floor, func() { testhost.FloorTrue(b) })
				timed(&slot, func() { boxedTrue(b, r) })
				timed(&hot, func() { boxedTrue(b, warm) })
				timed(&nest, func() { boxedTrue(b, nested) })
				timed(&shot, func() { boxedTrue(b, one) })
			}
			reportVsFloor(b, floor, map[string][]time.Duration{"slots": slot, "slots-warm": hot, "slots-nested-reaper": nest, "oneshot": shot})
		})
	}
}

// BenchmarkSlotsAloneVsFloor alternates /bin/true on one slot of one
// Runner (lean, then warm) with the floor, back to back and with 20 ms of
// idleness before each run, and reports p50 and p90 as ratios to the
// floor's. Unlike BenchmarkSlotsVsFloor, no other runner's background work
// (which a run that finds its runner idle starts after its result) lands
// in the runs measured. A slot's runs here are always apart by a floor
// run: runs that keep coming are the CLI bench's arrivals at gap 0.
func BenchmarkSlotsAloneVsFloor(b *testing.B) {
	for _, warm := range []bool{false, true} {
		for _, gap := range []time.Duration{0, 20 * time.Millisecond} {
			b.Run(fmt.Sprintf("warm=%v/gap=%v", warm, gap), func(b *testing.B) {
				r := newRunnerWith(b, Options{Size: 1, Warm: warm})
				for range 5 {
					boxedTrue(b, r)
				}
				var floor, slot []time.Duration
				timed := timedAfter(gap)
				for b.Loop() {
					timed(&floor, func() { testhost.FloorTrue(b) })
					timed(&slot, func() { boxedTrue(b, r) })
				}
				reportVsFloor(b, floor, map[string][]time.Duration{"slots": slot})
			})
		}
	}
}

// BenchmarkSlotsMountAhead interleaves /bin/true on one lean slot whose
// stock holds the run's mount copy (made ahead), on one whose runs copy
// the slot's mount namespace themselves (noMountAhead), and the floor,
// back to back and with 20 ms of idleness before each run, and reports p50
// and p90 of both as ratios to the floor's.
func BenchmarkSlotsMountAhead(b *testing.B) {
	ahead := newRunnerWith(b, Options{Size: 1})
	own := newRunnerWhile(b, &noMountAhead)
	for _, gap := range []time.Duration{0, 20 * time.Millisecond} {
		b.Run(fmt.Sprintf("gap=%v", gap), func(b *testing.B) {
			for range 5 {
				boxedTrue(b, ahead)
				boxedTrue(b, own)
			}
			var floor, withCopy, without []time.Duration
			timed := timedAfter(gap)
			for b.Loop() {
				timed(&floor, func() { testhost.FloorTrue(b) })
				timed(&withCopy, func() { boxedTrue(b, ahead) })
				timed(&without, func() { boxedTrue(b, own) })
			}
			reportVsFloor(b, floor, map[string][]time.Duration{"ahead": withCopy, "own": without})
		})
	}
}

// newRunnerWhile returns a Runner of one slot made while knob (one of the
// benchmarks' switches, read by New) is set.
func newRunnerWhile(b *testing.B, knob *bool) *Runner {
	*knob = true
	r, err := New(Options{Size: 1})
	*knob = false
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// BenchmarkSlotsIdlePair: after 20 ms of idleness a run on one lean slot,
// then at once a second on it, beside the floor (also after 20 ms), and
// reports p50 and p90 of each as ratios to the floor's. The first run
// finds the runner idle and leaves the refill of the slot's network stock
// until its result is made (see box.busy): the second waits for it.
func BenchmarkSlotsIdlePair(b *testing.B) {
	r := newRunnerWith(b, Options{Size: 1})
	for range 5 {
		boxedTrue(b, r)
	}
	var floor, first, second []time.Duration
	idle, now := timedAfter(20*time.Millisecond), timedAfter(0)
	for b.Loop() {
		idle(&floor, func() { testhost.FloorTrue(b) })
		idle(&first, func() { boxedTrue(b, r) })
		now(&second, func() { boxedTrue(b, r) })
	}
	reportVsFloor(b, floor, map[string][]time.Duration{"first": first, "second": second})
}

// reportVsFloor reports the floor's p50 and p90 (floor-p50-us, ...) and
// those of each series as ratios to the floor's (NAME-p50-ratio, ...).
func reportVsFloor(b *testing.B, floor []time.Duration, series map[string][]time.Duration) {
	for _, q := range []float64{0.5, 0.9} {
		name := fmt.Sprintf("p%d", int(q*100))
		f := testhost.Quantile(floor, q)
		b.ReportMetric(float64(f.Microseconds()), "floor-"+name+"-us")
		for prefix, d := range series {
			b.ReportMetric(float64(testhost.Quantile(d, q))/float64(f), prefix+"-"+name+"-ratio")
		}
	}
}

// timedAfter returns a function that idles for gap, runs f and appends
// its time to dst.
func timedAfter(gap time.Duration) func(dst *[]time.Duration, f func()) {
	return func(dst *[]time.Duration, f func()) {
		if gap > 0 {
			time.Sleep(gap)
		}
		t0 := time.Now()
		f()
		*dst = append(*dst, time.Since(t0))
	}
}

// BenchmarkSlotsPhases reports the p50 of each phase of a run on one slot
// (see mark), beside the floor's p50 in the same run. "start" is the clone
// of the child to its exec (the child's own steps and the exec up to the
// point where it releases the supervisor), "run" from there to the
// supervisor's wake-up at the program's end.
func BenchmarkSlotsPhases(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("slots need root")
	}
	r, err := New(Options{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	phases := map[string][]time.Duration{}
	phaseHook = func(p string, d time.Duration) { phases[p] = append(phases[p], d) }
	defer func() { phaseHook = nil }()
	var floor []time.Duration
	for b.Loop() {
		boxedTrue(b, r)
		t0 := time.Now()
		testhost.FloorTrue(b)
		floor = append(floor, time.Since(t0))
	}
	for p, d := range phases {
		b.ReportMetric(float64(testhost.Quantile(d, 0.5).Microseconds()), strings.NewReplacer("+", "-", ":", "-").Replace(p)+"-p50-us")
	}
	b.ReportMetric(float64(testhost.Quantile(floor, 0.5).Microseconds()), "floor-p50-us")
}
