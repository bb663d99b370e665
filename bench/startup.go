package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
)

// openAll opens every backend that opened before, with opts; the ones that
// fail now are recorded in sc. Close the returned backends with closeAll.
func (r *runner) openAll(sc *benchjson.Scenario, opts harness.Options) []harness.Backend {
	var open []harness.Backend
	for _, name := range r.backends {
		b, err := openBackend(name, opts)
		if err != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: open: %v", name, err))
			continue
		}
		open = append(open, b)
	}
	return open
}

func closeAll(sc *benchjson.Scenario, backends []harness.Backend) {
	for _, b := range backends {
		if err := closeBackend(b); err != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s: close: %v", b.Name(), err))
		}
	}
}

// startup measures the latency of one run, as the caller of Backend.Run sees
// it, for each program on each backend.
func (r *runner) startup(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: fmt.Sprintf("Latency of Backend.Run from call to return (start, run, wait, tear down or reset), "+
		"for /bin/true and a small static C program (gcc -static -O2), with the bench's tool directory bound read-only at %s in both. "+
		"Every backend is opened once (pooled: pool of 1, kept warm); after %d warm-up rounds, rounds interleave the variants "+
		"(none, oneshot, container, bwrap; A B C A B C ...). Floor: backend none, a plain fork+exec+wait from the bench process. "+
		"After each run the bench pauses for %s (--settle): a backend's background work after Run returned (a pooled "+
		"container's reset, a slot's refills and teardown) ends there instead of in the next variant's run, and each run "+
		"arrives at an idle sandbox; a pooled figure leaves the reset out (see the reset scenario, and arrivals for runs back to back).",
		toolMount, r.cfg.Warmup, r.cfg.Settle)}
	progs, skipped := r.startupPrograms()
	sc.Errors = append(sc.Errors, skipped...)
	backends := r.openAll(&sc, harness.Options{PoolSize: 1})
	defer closeAll(&sc, backends)

	type variant struct {
		b harness.Backend
		p program
	}
	var variants []variant
	for _, p := range progs {
		for _, b := range backends {
			variants = append(variants, variant{b, p})
			sc.Series = append(sc.Series, benchjson.Series{Backend: b.Name(), Program: p.name, Unit: "ns", Samples: []float64{}})
		}
	}
	rounds, total := r.cfg.Runs, len(variants)*(r.cfg.Warmup+r.cfg.Runs)
	if r.cfg.Duration > 0 {
		rounds, total = -1, 0 // until the duration has passed
	}
	var fails failures
	r.prog.begin(ScenarioStartup, total)
	measureStart := time.Time{}
	for st := range interleave(len(variants), r.cfg.Warmup, rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		if !st.Warmup && measureStart.IsZero() {
			measureStart = time.Now()
		}
		if r.cfg.Duration > 0 && !st.Warmup && st.Variant == 0 && time.Since(measureStart) >= r.cfg.Duration {
			break
		}
		v := variants[st.Variant]
		d, err := r.runOK(ctx, v.b, r.startupSpec(v.p))
		s := &sc.Series[st.Variant]
		if !st.Warmup {
			fails.add(seriesLabel(*s), err)
			if err == nil {
				s.Samples = append(s.Samples, float64(d.Nanoseconds()))
			}
		}
		r.prog.step(seriesLabel(*s))
		if r.cfg.Settle > 0 {
			time.Sleep(r.cfg.Settle)
		}
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// throughput measures runs per second with several workers running
// /bin/true back to back.
func (r *runner) throughput(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: fmt.Sprintf("Runs per second of /bin/true with C workers running back to back for a window of %s "+
		"(runs finished / time until the last one returned); a pooled backend gets a pool of C containers. "+
		"Samples interleave backends and concurrencies round by round after one warm-up window each.", r.cfg.Window)}
	type variant struct {
		b harness.Backend
		c int
	}
	var variants []variant
	var opened []harness.Backend
	defer func() { closeAll(&sc, opened) }()
	for _, name := range r.backends {
		var shared harness.Backend
		for _, c := range r.cfg.Concurrency {
			b := shared
			if b == nil {
				var err error
				b, err = openBackend(name, harness.Options{PoolSize: c})
				if err != nil {
					sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s (pool %d): open: %v", name, c, err))
					continue
				}
				opened = append(opened, b)
				if !b.Features().Reuses {
					shared = b // nothing pooled: one instance serves every concurrency
				}
			}
			variants = append(variants, variant{b, c})
			sc.Series = append(sc.Series, benchjson.Series{Backend: name, Program: programTrue.name, Param: "concurrency",
				Value: float64(c), Unit: "runs/s", Samples: []float64{}})
		}
	}
	var fails failures
	r.prog.begin(ScenarioThroughput, len(variants)*(1+r.cfg.Rounds))
	for st := range interleave(len(variants), 1, r.cfg.Rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		v := variants[st.Variant]
		s := &sc.Series[st.Variant]
		rate, errs := r.window(ctx, v.b, v.c)
		if !st.Warmup {
			for _, err := range errs {
				fails.add(seriesLabel(*s), err)
			}
			if rate > 0 {
				s.Samples = append(s.Samples, rate)
			}
		}
		r.prog.step(seriesLabel(*s))
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// window keeps c workers running /bin/true on b until the window has passed
// and returns the successful runs per second, and one entry per run (nil for
// a success).
func (r *runner) window(ctx context.Context, b harness.Backend, c int) (float64, []error) {
	var (
		mu   sync.Mutex
		errs []error
		ok   int
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(r.cfg.Window)
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				_, err := r.runOK(ctx, b, r.spec(programTrue.args...))
				mu.Lock()
				errs = append(errs, err)
				if err == nil {
					ok++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return float64(ok) / time.Since(start).Seconds(), errs
}
