package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
)

// Resetter is implemented by a pooled backend that can reset an idle
// container on demand, exactly as it does after a run (kill what is left,
// wipe the writable paths, restore limits), and return once the container is
// ready again. The reset scenario times it; nothing else can separate the
// reset from the exec.
type Resetter interface {
	Reset(ctx context.Context) error
}

// pooled lists the backends that keep containers between runs.
func (r *runner) pooled() []string {
	var names []string
	for _, name := range r.backends {
		if r.features[name].Reuses {
			names = append(names, name)
		}
	}
	return names
}

// warmup measures how long a pool takes to have N containers ready.
func (r *runner) warmup(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: "Time from harness.Open with PoolSize N until N containers are ready (variant \"ready\"): " +
		"until N concurrent runs of /bin/true " +
		"have returned after Open (each then had a container of its own), so it includes N runs. Variant \"open-returned\": " +
		"until Open returned (all the readiness there is when Open builds the pool before returning). Close is not timed. " +
		"Rounds interleave the pool sizes."}
	pooled := r.pooled()
	if len(pooled) == 0 {
		sc.Errors = append(sc.Errors, "no pooled backend opened: nothing to warm up")
		return sc
	}
	type variant struct {
		name string
		n    int
	}
	var variants []variant
	for _, name := range pooled {
		for _, n := range r.cfg.PoolSizes {
			variants = append(variants, variant{name, n})
			for _, v := range []string{"ready", "open-returned"} {
				sc.Series = append(sc.Series, benchjson.Series{Backend: name, Param: "pool_size", Value: float64(n), Variant: v, Unit: "ns", Samples: []float64{}})
			}
		}
	}
	var fails failures
	r.prog.begin(ScenarioWarmup, len(variants)*r.cfg.Rounds)
	for st := range interleave(len(variants), 0, r.cfg.Rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		v := variants[st.Variant]
		ready, opened := &sc.Series[2*st.Variant], &sc.Series[2*st.Variant+1]
		dReady, dOpen, err := r.timeWarmup(ctx, v.name, v.n)
		fails.add(seriesLabel(*ready), err)
		if err == nil {
			ready.Samples = append(ready.Samples, float64(dReady.Nanoseconds()))
			opened.Samples = append(opened.Samples, float64(dOpen.Nanoseconds()))
		}
		r.prog.step(seriesLabel(*ready))
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// timeWarmup opens name with a pool of n and waits until n containers are
// ready (n concurrent runs have returned); it returns the time until then and
// the time until Open returned.
func (r *runner) timeWarmup(ctx context.Context, name string, n int) (ready, opened time.Duration, err error) {
	start := time.Now()
	b, err := openBackend(name, harness.Options{PoolSize: n})
	if err != nil {
		return 0, 0, fmt.Errorf("open with pool %d: %w", n, err)
	}
	opened = time.Since(start)
	defer closeBackend(b)
	if err := r.runTrueAtOnce(ctx, b, n); err != nil {
		return 0, 0, err
	}
	return time.Since(start), opened, nil
}

// runTrueAtOnce runs /bin/true n times at once on b and, once every run has
// ended, returns their failures joined (nil when all succeeded).
func (r *runner) runTrueAtOnce(ctx context.Context, b harness.Backend, n int) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.runOK(ctx, b, r.spec(programTrue.args...))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resetSettle is how long the spaced variant of the reset context waits
// before its run, so that a background reset has finished. It spins rather
// than sleeps, so that at least the bench's own threads stay warm.
const resetSettle = 30 * time.Millisecond

// spin keeps this thread busy for d.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

// reset measures the reset of a pooled container apart from the exec.
func (r *runner) reset(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: "Reset of one pooled container (kill leftovers, wipe writable paths, restore limits) apart from any exec, " +
		"on a pool of 1 after one warm-up run. With the backend's bench.Resetter hook (Reset(ctx)), series \"hook\": the time of one Reset. " +
		"Without it the reset is not measured; for context only, a pool that resets in the background after Run returns " +
		"(sandbox/container does) is timed on \"back-to-back\" runs (started right after the previous one returned: they wait " +
		"for its reset) and \"spaced\" runs (started " + resetSettle.String() + " later, the bench spinning meanwhile), pair by pair. " +
		"Their difference is not the reset cost: on a loaded machine a run after a pause starts colder. Unit: ns."}
	pooled := r.pooled()
	if len(pooled) == 0 {
		sc.Errors = append(sc.Errors, "no pooled backend opened: no reset to measure")
		return sc
	}
	rounds := 10 * r.cfg.Rounds
	r.prog.begin(ScenarioReset, len(pooled)*rounds)
	for _, name := range pooled {
		b, err := openBackend(name, harness.Options{PoolSize: 1})
		if err != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: open: %v", name, err))
			continue
		}
		if _, err := r.runOK(ctx, b, r.spec(programTrue.args...)); err != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: warm-up run: %v", name, err))
		}
		var fails failures
		if rs, ok := b.(Resetter); ok {
			s := benchjson.Series{Backend: name, Variant: "hook", Unit: "ns", Samples: []float64{}}
			for range rounds {
				start := time.Now()
				err := rs.Reset(ctx)
				d := time.Since(start)
				fails.add(name+" hook", err)
				if err == nil {
					s.Samples = append(s.Samples, float64(d.Nanoseconds()))
				}
				r.prog.step(name)
			}
			sc.Series = append(sc.Series, s)
		} else {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: reset cost not measured: the backend has no bench.Resetter hook "+
				"(Reset(ctx context.Context) error: reset one idle container as after a run); back-to-back and spaced runs recorded for context", name))
			sc.Series = append(sc.Series, r.resetContext(ctx, b, rounds, &fails)...)
		}
		if err := closeBackend(b); err != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: close: %v", name, err))
		}
		sc.Errors = append(sc.Errors, fails.messages()...)
	}
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// resetContext times pairs of runs on b: one started right after a run
// returned, one started after resetSettle; see the reset scenario.
func (r *runner) resetContext(ctx context.Context, b harness.Backend, pairs int, fails *failures) []benchjson.Series {
	name := b.Name()
	back := benchjson.Series{Backend: name, Variant: "back-to-back", Program: programTrue.name, Unit: "ns", Samples: []float64{}}
	spaced := benchjson.Series{Backend: name, Variant: "spaced", Program: programTrue.name, Unit: "ns", Samples: []float64{}}
	spec := r.spec(programTrue.args...)
	for range pairs {
		if ctx.Err() != nil {
			break
		}
		_, err := r.runOK(ctx, b, spec) // its reset is what the next run waits for
		fails.add(name+" reset context", err)
		dBack, errBack := r.runOK(ctx, b, spec)
		fails.add(name+" reset context", errBack)
		spin(resetSettle)
		dSpaced, errSpaced := r.runOK(ctx, b, spec)
		fails.add(name+" reset context", errSpaced)
		if err == nil && errBack == nil && errSpaced == nil {
			back.Samples = append(back.Samples, float64(dBack.Nanoseconds()))
			spaced.Samples = append(spaced.Samples, float64(dSpaced.Nanoseconds()))
		}
		r.prog.step(name)
	}
	return []benchjson.Series{back, spaced}
}
