package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
)

// arrivalSeed fixes the Poisson gaps, so that two bench runs draw the same
// schedule and every backend of one run gets the same gaps.
const arrivalSeed = 0x9e3779b97f4a7c15

// schedule is one way runs arrive: a fixed gap, or exponential gaps of a
// mean rate.
type schedule struct {
	variant string
	gap     time.Duration // fixed gap, or the Poisson mean
}

func (s schedule) meanMS() float64 { return float64(s.gap) / float64(time.Millisecond) }

// arrivalSchedules are the fixed gaps then the Poisson schedule.
func (r *runner) arrivalSchedules() []schedule {
	var out []schedule
	for _, g := range r.cfg.Gaps {
		out = append(out, schedule{benchjson.ScheduleFixed, g})
	}
	mean := time.Duration(float64(time.Second) / r.cfg.ArrivalRate)
	return append(out, schedule{benchjson.SchedulePoisson, mean})
}

// arrivals measures runs started on a schedule rather than back to back.
func (r *runner) arrivals(ctx context.Context) benchjson.Scenario {
	train := r.cfg.ArrivalTrain
	rounds := (r.cfg.ArrivalRuns + train - 1) / train
	var gaps []string
	for _, g := range r.cfg.Gaps {
		gaps = append(gaps, g.String())
	}
	sc := benchjson.Scenario{Description: fmt.Sprintf("Open-loop arrivals of /bin/true: runs are started on a schedule, one at a time "+
		"(one issuer, a pool of 1 for a pooled backend, as a judge with one worker), and the latency of each run is measured "+
		"from its *scheduled* start to the return of Backend.Run, so that a run that had to wait for the one before "+
		"counts the wait. Schedules (series variant, parameter %s): fixed gaps of %s between scheduled starts, and "+
		"Poisson arrivals at %g/s (exponential gaps, mean %s, value = the mean gap; gaps drawn from a fixed seed, the same for "+
		"every backend). Gap 0 is back to back: each run is scheduled the moment the previous one returned (an open-loop "+
		"burst would measure only the length of the train). Runs come in trains of %d: the first run of a train is scheduled "+
		"one gap after the previous train's last run returned (whatever its backend), the next ones a gap after the "+
		"previous scheduled start. After one warm-up round, rounds interleave the trains of every backend and schedule "+
		"(A B C A B C ...); %d rounds, %d measured runs per series. The bench sleeps until 200 µs before a scheduled "+
		"start and spins the rest. The floor, backend none (plain fork+exec+wait), runs the same schedule in the same rounds; "+
		"ratio_to_floor compares p50s at the same gap. A kernel stall that only shows when runs arrive apart (work "+
		"deferred to an RCU grace period) shows here as a ratio that grows with the gap. Unit: ns.",
		benchjson.ParamGap, strings.Join(gaps, ", "), r.cfg.ArrivalRate, r.arrivalSchedules()[len(r.cfg.Gaps)].gap, train, rounds, rounds*train)}
	backends := r.openAll(&sc, harness.Options{PoolSize: 1})
	defer closeAll(&sc, backends)
	if len(backends) == 0 {
		sc.Errors = append(sc.Errors, "no backend opened")
		return sc
	}

	type variant struct {
		b harness.Backend
		s schedule
	}
	var variants []variant
	scheds := r.arrivalSchedules()
	for _, s := range scheds {
		for _, b := range backends {
			variants = append(variants, variant{b, s})
			sc.Series = append(sc.Series, benchjson.Series{Backend: b.Name(), Program: programTrue.name, Param: benchjson.ParamGap,
				Value: s.meanMS(), Variant: s.variant, Unit: "ns", Samples: []float64{}})
		}
	}
	// One list of Poisson gaps per round, shared by the backends.
	rng := rand.New(rand.NewPCG(arrivalSeed, 1))
	poisson := make([][]time.Duration, 1+rounds)
	for i := range poisson {
		poisson[i] = make([]time.Duration, train)
		for j := range poisson[i] {
			poisson[i][j] = time.Duration(rng.ExpFloat64() * float64(scheds[len(scheds)-1].gap))
		}
	}
	spec := r.spec(programTrue.args...)
	var fails failures
	r.prog.begin(ScenarioArrivals, len(variants)*(1+rounds))
	for st := range interleave(len(variants), 1, rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		v := variants[st.Variant]
		s := &sc.Series[st.Variant]
		gap := func(i int) time.Duration {
			if v.s.variant == benchjson.SchedulePoisson {
				return poisson[st.Round][i]
			}
			return v.s.gap
		}
		// Scheduled start of the train's first run: one gap after now,
		// i.e. after the last run returned.
		next := time.Now().Add(gap(0))
		for i := range train {
			if i > 0 {
				if v.s.variant == benchjson.ScheduleFixed && v.s.gap == 0 {
					next = time.Now() // back to back
				} else {
					next = next.Add(gap(i))
				}
			}
			waitUntil(next)
			_, err := r.runOK(ctx, v.b, spec)
			lat := time.Since(next)
			if !st.Warmup && len(s.Samples)+countFailed(&fails, seriesLabel(*s)) < r.cfg.ArrivalRuns {
				fails.add(seriesLabel(*s), err)
				if err == nil {
					s.Samples = append(s.Samples, float64(lat.Nanoseconds()))
				}
			}
		}
		r.prog.step(seriesLabel(*s))
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// countFailed is how many runs of series key have failed so far.
func countFailed(f *failures, key string) int {
	if c, ok := f.byKey[key]; ok {
		return c.n
	}
	return 0
}

// spinBefore is how long before a scheduled start waitUntil stops sleeping
// and spins: a timer wakes up late by tens of microseconds, which would be
// counted against the run.
const spinBefore = 200 * time.Microsecond

// waitUntil returns at t (at once when t has passed).
func waitUntil(t time.Time) {
	if d := time.Until(t) - spinBefore; d > 0 {
		time.Sleep(d)
	}
	for time.Now().Before(t) {
	}
}
