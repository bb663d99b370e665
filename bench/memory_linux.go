package bench

import (
	"context"
	"fmt"
	"gosandbox/bench/benchjson"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"gosandbox/harness"
	"gosandbox/sandbox"
)

// waitingProgram is a program that stays alive, idle, until its stdin is
// closed, carrying marker in its argv so that the bench can find it in /proc.
// The shell stays (": " after read keeps it from exec'ing away).
func waitingProgram(script, marker string) []string {
	return []string{"/bin/sh", "-c", script + "; read x; :", marker}
}

// heldRun is a run of waitingProgram in flight.
type heldRun struct {
	marker  string
	release *os.File // closing it ends the run
	done    chan error
}

var markerSeq struct {
	sync.Mutex
	n int
}

func newMarker(what string) string {
	markerSeq.Lock()
	defer markerSeq.Unlock()
	markerSeq.n++
	return fmt.Sprintf("gosandbox-bench-%s-%d-%d", what, os.Getpid(), markerSeq.n)
}

// startHeld starts spec's program on b, with stdin a pipe the bench holds;
// the run lasts until release is closed.
func (r *runner) startHeld(ctx context.Context, b harness.Backend, spec sandbox.Spec, marker string) (*heldRun, error) {
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("bench: pipe: %w", err)
	}
	spec.Stdin = rd
	// Generous: with 16 boxes starting at once on a small machine, the first
	// waits for the last.
	spec.Limits.Wall = 2 * time.Minute
	h := &heldRun{marker: marker, release: wr, done: make(chan error, 1)}
	go func() {
		defer rd.Close()
		_, err := r.runOK(ctx, b, spec)
		h.done <- err
	}()
	return h, nil
}

// finish releases the run and waits for its end.
func (h *heldRun) finish() error {
	h.release.Close()
	return <-h.done
}

// findMarked waits until every marker has a process, or the run of one of
// them ended, or the timeout passed; it returns the box of each marker.
func findMarked(held []*heldRun, timeout time.Duration) (procTable, map[int]bool, error) {
	deadline := time.Now().Add(timeout)
	self := os.Getpid()
	for {
		t, err := scanProcs()
		if err != nil {
			return nil, nil, err
		}
		boxes := map[int]bool{}
		missing := 0
		for _, h := range held {
			pids := t.marked(h.marker)
			if len(pids) == 0 {
				missing++
				continue
			}
			for _, pid := range pids {
				for p := range t.boxOf(pid, self) {
					boxes[p] = true
				}
			}
		}
		if missing == 0 {
			return t, boxes, nil
		}
		for _, h := range held {
			select {
			case err := <-h.done:
				h.done <- err // finish() still gets it
				return nil, nil, fmt.Errorf("a run ended before it was seen in /proc: %v", err)
			default:
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%d of %d marked programs not seen in /proc after %s", missing, len(held), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// keptAlive is the set of processes backend b keeps between runs: its
// PidReporter's pids and their descendants, or else what appeared under the
// bench process since before (the processes it had before b was opened).
func keptAlive(b harness.Backend, before map[int]bool) (map[int]bool, string, error) {
	t, err := scanProcs()
	if err != nil {
		return nil, "", err
	}
	set := map[int]bool{}
	if pr, ok := b.(PidReporter); ok {
		for _, pid := range pr.Pids() {
			t.descendants(pid, set)
		}
		return set, "PidReporter.Pids and their descendants", nil
	}
	t.descendants(os.Getpid(), set)
	delete(set, os.Getpid())
	for pid := range before {
		delete(set, pid)
	}
	return set, "the processes that appeared under the bench process after Open (no PidReporter)", nil
}

// benchChildren is every process below the bench process now.
func benchChildren() map[int]bool {
	set := map[int]bool{}
	if t, err := scanProcs(); err == nil {
		t.descendants(os.Getpid(), set)
	}
	delete(set, os.Getpid())
	return set
}

// memStates are the PSS series of each (backend, slots) variant.
var memStates = []string{"idle-total", "busy-total", "idle-per-slot", "busy-per-slot"}

// kernelStates are the kernel-memory series of each variant: the sum of
// unreclaimable slab, kernel stacks and page tables ("kernel-*"), each
// meminfo counter per slot, the memcg kmem counters per slot, PSS plus
// kernel ("total-*") and the host's drift over the quiet window before.
func kernelStates() []string {
	out := []string{"kernel-idle-total", "kernel-busy-total", "kernel-idle-per-slot", "kernel-busy-per-slot"}
	for _, c := range kernelCounters {
		out = append(out, c.name+"-idle-per-slot", c.name+"-busy-per-slot")
	}
	return append(out, "kmem-idle-per-slot", "kmem-busy-per-slot", "total-idle-per-slot", "total-busy-per-slot", "kernel-drift")
}

// memSample is one measurement of one variant.
type memSample struct {
	idle, busy         int64            // PSS
	kIdle, kBusy       map[string]int64 // meminfo deltas from before Open
	kmemIdle, kmemBusy int64
	kmemIdleOK         bool
	kmemBusyOK         bool
	drift              int64 // kernel() over the quiet window before Open
	method             string
}

// memory measures the PSS a sandbox costs, idle and during runs, and what
// the kernel pays for it.
func (r *runner) memory(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: "PSS (sum of Pss from /proc/PID/smaps_rollup) of every process a backend keeps alive, " +
		"with N slots (pool of N for a pooled backend; nothing is pooled otherwise). idle-total: after N concurrent warm-up runs " +
		"and then no run for at least " + idleSettle.String() + " (a pooled init gives back what its runs left 250 ms after its last reset), " +
		"the processes the backend keeps alive (bench.PidReporter when implemented, else the processes that appeared under the " +
		"bench process after Open). busy-total: while N runs of a waiting shell (`sh -c 'read x; :' MARKER`, held by an open stdin pipe) " +
		"are in flight: each box is found by scanning /proc for the marker argument, climbing its parents up to (not including) " +
		"the bench process or pid 1 and taking that process and all its descendants, plus the kept-alive set. " +
		"*-per-slot are the totals divided by N. For one-shot backends busy-per-slot is the transient cost of one run. " +
		fmt.Sprintf("Kernel memory, from /proc/meminfo: the bench reads it, waits %s with nothing running (kernel-drift: the "+
			"change of the sum below over that quiet window, the host's own churn), reads it again (the baseline), opens the backend; "+
			"idle: after the warm-up runs and a further %s (at least the idle wait above) for deferred frees, minus the baseline; busy: with the N runs in flight "+
			"(idle slots included, as busy-total), minus the baseline. kernel-*: SUnreclaim + KernelStack + PageTables "+
			"(reclaimable slab is cache and left out of the sum); slab-, sunreclaim-, kernelstack-, pagetables-*-per-slot: "+
			"each counter's delta per slot (Slab includes SUnreclaim). kmem-*-per-slot: the memcg kernel-memory counters of the "+
			"cgroups the kept-alive (idle) or boxed and kept-alive (busy) processes are in, other than the bench's own "+
			"(cgroup v1 memory.kmem.usage_in_bytes, v2 memory.stat kernel), absent when there is none. total-*-per-slot: PSS plus "+
			"kernel. A kernel series is flagged noisy (series noisy) when the median drift is at least the median delta. "+
			"The counters are host-wide: another process allocating at the same time lands in the delta. Unit: bytes.",
			r.cfg.KernelWindow, r.cfg.KernelWindow)}
	type variant struct {
		name  string
		slots int
	}
	var variants []variant
	for _, n := range r.cfg.Slots {
		for _, name := range r.backends {
			variants = append(variants, variant{name, n})
		}
	}
	series := map[variant]map[string]*benchjson.Series{}
	states := append(slices.Clone(memStates), kernelStates()...)
	for _, v := range variants {
		series[v] = map[string]*benchjson.Series{}
		for _, state := range states {
			sc.Series = append(sc.Series, benchjson.Series{Backend: v.name, Param: "slots", Value: float64(v.slots),
				Variant: state, Unit: "bytes", Samples: []float64{}})
		}
	}
	for i := range sc.Series {
		s := &sc.Series[i]
		series[variant{s.Backend, int(s.Value)}][s.Variant] = s
	}
	methods := map[string]string{}
	var fails failures
	r.prog.begin(ScenarioMemory, len(variants)*r.cfg.Rounds)
	for st := range interleave(len(variants), 0, r.cfg.Rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		v := variants[st.Variant]
		label := fmt.Sprintf("%s slots=%d", v.name, v.slots)
		m, err := r.measureMemory(ctx, v.name, v.slots)
		fails.add(label, err)
		if err == nil {
			ss := series[v]
			n := float64(v.slots)
			add := func(state string, x float64) { ss[state].Samples = append(ss[state].Samples, x) }
			add("idle-total", float64(m.idle))
			add("busy-total", float64(m.busy))
			add("idle-per-slot", float64(m.idle)/n)
			add("busy-per-slot", float64(m.busy)/n)
			add("kernel-idle-total", float64(m.kIdle["kernel"]))
			add("kernel-busy-total", float64(m.kBusy["kernel"]))
			add("kernel-idle-per-slot", float64(m.kIdle["kernel"])/n)
			add("kernel-busy-per-slot", float64(m.kBusy["kernel"])/n)
			for _, c := range kernelCounters {
				add(c.name+"-idle-per-slot", float64(m.kIdle[c.name])/n)
				add(c.name+"-busy-per-slot", float64(m.kBusy[c.name])/n)
			}
			if m.kmemIdleOK {
				add("kmem-idle-per-slot", float64(m.kmemIdle)/n)
			}
			if m.kmemBusyOK {
				add("kmem-busy-per-slot", float64(m.kmemBusy)/n)
			}
			add("total-idle-per-slot", float64(m.idle+m.kIdle["kernel"])/n)
			add("total-busy-per-slot", float64(m.busy+m.kBusy["kernel"])/n)
			add("kernel-drift", float64(m.drift))
			methods[v.name] = m.method
		}
		r.prog.step(label)
	}
	for _, v := range variants {
		flagKernelNoise(series[v])
	}
	for _, name := range r.backends {
		if m, ok := methods[name]; ok {
			sc.Description += fmt.Sprintf(" %s kept-alive set: %s.", name, m)
		}
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// flagKernelNoise marks the kernel series of one variant whose delta is not
// larger than the host's own drift over the quiet window.
func flagKernelNoise(ss map[string]*benchjson.Series) {
	drift := ss["kernel-drift"]
	if len(drift.Samples) == 0 {
		return
	}
	abs := make([]float64, len(drift.Samples))
	for i, x := range drift.Samples {
		abs[i] = math.Abs(x)
	}
	d := Percentile(abs, 50)
	for _, state := range []string{"idle", "busy"} {
		total := ss["kernel-"+state+"-total"]
		signal := math.Abs(Percentile(total.Samples, 50))
		if len(total.Samples) == 0 || d < signal {
			continue
		}
		why := fmt.Sprintf("host drift %s (median |kernel-drift|) >= the %s delta %s", unitString(d, "bytes"), state, unitString(signal, "bytes"))
		for name, s := range ss {
			if strings.HasSuffix(name, "-"+state+"-total") && strings.HasPrefix(name, "kernel-") ||
				strings.HasSuffix(name, "-"+state+"-per-slot") && name != state+"-per-slot" && !strings.HasPrefix(name, "kmem-") {
				s.Noisy = why
			}
		}
	}
}

// idleSettle is the least time without runs before the idle figures.
const idleSettle = 500 * time.Millisecond

// measureMemory opens name with n slots and measures PSS and kernel memory
// idle and with n runs in flight.
func (r *runner) measureMemory(ctx context.Context, name string, n int) (m memSample, err error) {
	quiet, err := readMeminfo()
	if err != nil {
		return m, err
	}
	time.Sleep(r.cfg.KernelWindow)
	base, err := readMeminfo()
	if err != nil {
		return m, err
	}
	m.drift = base.kernel() - quiet.kernel()

	before := benchChildren()
	b, err := openBackend(name, harness.Options{PoolSize: n})
	if err != nil {
		return m, fmt.Errorf("open with %d slots: %w", n, err)
	}
	defer closeBackend(b)
	if err := r.runTrueAtOnce(ctx, b, n); err != nil {
		return m, fmt.Errorf("warm-up: %w", err)
	}
	kept, method, err := keptAlive(b, before)
	if err != nil {
		return m, err
	}
	m.method = method
	if _, reports := b.(PidReporter); len(kept) == 0 && b.Features().Reuses && !reports {
		return m, fmt.Errorf("pooled, yet no kept-alive process found (%s): implement bench.PidReporter", method)
	}
	// Idle means no run for a while: the kernel's deferred frees of the
	// warm-up runs are done, and a pooled init has given back what its
	// runs left (it trims 250 ms after its last reset).
	time.Sleep(max(r.cfg.KernelWindow, idleSettle))
	m.idle = pssTotal(kept)
	idle, err := readMeminfo()
	if err != nil {
		return m, err
	}
	m.kIdle = idle.delta(base)
	m.kmemIdle, m.kmemIdleOK = memcgKmem(kept)

	held := make([]*heldRun, 0, n)
	defer func() {
		for _, h := range held {
			if ferr := h.finish(); ferr != nil && err == nil {
				err = fmt.Errorf("held run: %w", ferr)
			}
		}
	}()
	for range n {
		marker := newMarker("mem")
		h, err := r.startHeld(ctx, b, r.spec(waitingProgram(":", marker)...), marker)
		if err != nil {
			return m, err
		}
		held = append(held, h)
	}
	_, boxes, err := findMarked(held, time.Minute)
	if err != nil {
		return m, err
	}
	busy, err := readMeminfo()
	if err != nil {
		return m, err
	}
	m.kBusy = busy.delta(base)
	kept, _, err = keptAlive(b, before)
	if err != nil {
		return m, err
	}
	for pid := range kept {
		boxes[pid] = true
	}
	m.busy = pssTotal(boxes)
	m.kmemBusy, m.kmemBusyOK = memcgKmem(boxes)
	return m, nil
}
