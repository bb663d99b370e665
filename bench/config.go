package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"gosandbox/harness"
)

// Scenario names, in the order they run.
const (
	ScenarioStartup    = "startup"
	ScenarioArrivals   = "arrivals"
	ScenarioThroughput = "throughput"
	ScenarioServe      = "serve"
	ScenarioWarmup     = "warmup"
	ScenarioReset      = "reset"
	ScenarioMemory     = "memory"
	ScenarioDisk       = "disk"
)

// ScenarioNames lists every scenario in the order they run.
func ScenarioNames() []string {
	return []string{ScenarioStartup, ScenarioArrivals, ScenarioThroughput, ScenarioServe, ScenarioWarmup, ScenarioReset, ScenarioMemory, ScenarioDisk}
}

// ErrUnknownScenario is wrapped by Config.Validate for a scenario name that
// does not exist. An unknown backend wraps harness.ErrUnknownBackend.
var ErrUnknownScenario = errors.New("bench: unknown scenario")

// DefaultSettle is the CLI's pause after each startup run (Config.Settle):
// long enough on the development host for a pooled reset and a slot's
// deferred work (about 1-2 ms each) to end before the next variant runs.
const DefaultSettle = 10 * time.Millisecond

// Config chooses what a bench run measures and how long it takes. Zero fields
// take the defaults of the mode (full or Quick); see Defaults.
type Config struct {
	// Backends to measure, by harness name; empty means every registered
	// backend. The floor (none) is always added for the ratios.
	Backends []string
	// Scenarios to run; empty means all of ScenarioNames.
	Scenarios []string
	// Quick is a smoke run of about a minute: few samples, not to be quoted.
	Quick bool

	// Runs is the number of measured rounds of the startup scenario (every
	// backend and program once per round).
	Runs int
	// Warmup rounds precede the measured ones and are thrown away.
	Warmup int
	// Duration, when set, replaces Runs: startup rounds go on until it has
	// passed.
	Duration time.Duration
	// Settle is a pause after each startup run before the next one (the
	// CLI's default is DefaultSettle): the variants interleave, and without
	// it a backend's background work after its Run returned (a pooled
	// container's reset, a slot's refills and teardown) lands in the next
	// variant's run, the floor's among them. Back-to-back figures are the
	// arrivals scenario's, which runs each backend's trains by itself.
	Settle time.Duration
	// ArrivalRuns is the number of measured runs per backend and schedule of
	// the arrivals scenario; they come in trains of ArrivalTrain runs.
	ArrivalRuns  int
	ArrivalTrain int
	// Gaps are the fixed gaps between scheduled starts of the arrivals
	// scenario; 0 is back to back.
	Gaps []time.Duration
	// ArrivalRate is the mean rate, per second, of its Poisson schedule.
	ArrivalRate float64
	// KernelWindow is how long the memory scenario watches /proc/meminfo
	// before each measurement, to measure the host's own drift.
	KernelWindow time.Duration
	// Rounds is the number of samples per series of the throughput, warm-up,
	// memory and disk scenarios; reset takes ten times as many.
	Rounds int
	// Window is how long one throughput or serve sample keeps the workers
	// busy.
	Window time.Duration
	// ServeRequests bounds the requests of one serve sample: the window
	// ends when they have been sent, if it has not ended before.
	ServeRequests int
	// Concurrency lists the worker counts of the throughput and serve
	// scenarios; a pooled backend gets a pool of the same size.
	Concurrency []int
	// PoolSizes lists the container counts of the warm-up scenario.
	PoolSizes []int
	// Slots lists the slot counts of the memory scenario.
	Slots []int

	// Progress receives progress output (nil: none). ProgressBar draws a bar
	// that rewrites one line, for a terminal; otherwise plain lines.
	Progress    io.Writer
	ProgressBar bool
}

// Defaults returns cfg with every zero field set for its mode.
func (cfg Config) Defaults() Config {
	gaps := []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}
	full := Config{Runs: 200, Warmup: 20, Rounds: 5, Window: 2 * time.Second, ServeRequests: 2000,
		Concurrency: []int{1, 2, 4}, PoolSizes: []int{1, 4, 16}, Slots: []int{1, 2, 4, 8, 16},
		ArrivalRuns: 150, ArrivalTrain: 10, Gaps: gaps, ArrivalRate: 20, KernelWindow: 300 * time.Millisecond}
	quick := Config{Runs: 15, Warmup: 3, Rounds: 1, Window: 250 * time.Millisecond, ServeRequests: 200,
		Concurrency: []int{1, 2, 4}, PoolSizes: []int{1, 4, 16}, Slots: []int{1, 4},
		ArrivalRuns: 12, ArrivalTrain: 4, Gaps: gaps, ArrivalRate: 20, KernelWindow: 100 * time.Millisecond}
	d := full
	if cfg.Quick {
		d = quick
	}
	if len(cfg.Backends) == 0 {
		cfg.Backends = harness.Names()
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = ScenarioNames()
	}
	if cfg.Runs <= 0 {
		cfg.Runs = d.Runs
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = d.Warmup
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = d.Rounds
	}
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	if cfg.ServeRequests <= 0 {
		cfg.ServeRequests = d.ServeRequests
	}
	if cfg.ArrivalRuns <= 0 {
		cfg.ArrivalRuns = d.ArrivalRuns
	}
	if cfg.ArrivalTrain <= 0 {
		cfg.ArrivalTrain = min(d.ArrivalTrain, cfg.ArrivalRuns)
	}
	if len(cfg.Gaps) == 0 {
		cfg.Gaps = d.Gaps
	}
	if cfg.ArrivalRate == 0 { // a negative rate is left for Validate
		cfg.ArrivalRate = d.ArrivalRate
	}
	if cfg.KernelWindow <= 0 {
		cfg.KernelWindow = d.KernelWindow
	}
	if len(cfg.Concurrency) == 0 {
		cfg.Concurrency = d.Concurrency
	}
	if len(cfg.PoolSizes) == 0 {
		cfg.PoolSizes = d.PoolSizes
	}
	if len(cfg.Slots) == 0 {
		cfg.Slots = d.Slots
	}
	cfg.Backends = orderBackends(append(cfg.Backends, FloorBackend))
	return cfg
}

// Validate rejects unknown backend and scenario names and parameters that
// make no sense; every problem is named.
func (cfg Config) Validate() error {
	var errs []error
	known := harness.Names()
	for _, b := range cfg.Backends {
		if !slices.Contains(known, b) {
			errs = append(errs, fmt.Errorf("%w %q (known: %s)", harness.ErrUnknownBackend, b, strings.Join(known, ", ")))
		}
	}
	for _, s := range cfg.Scenarios {
		if !slices.Contains(ScenarioNames(), s) {
			errs = append(errs, fmt.Errorf("%w %q (known: %s)", ErrUnknownScenario, s, strings.Join(ScenarioNames(), ", ")))
		}
	}
	for name, list := range map[string][]int{"concurrency": cfg.Concurrency, "pool size": cfg.PoolSizes, "slot count": cfg.Slots} {
		for _, n := range list {
			if n < 1 || n > 256 {
				errs = append(errs, fmt.Errorf("bench: %s %d: want 1..256", name, n))
			}
		}
	}
	for _, g := range cfg.Gaps {
		if g < 0 || g > 10*time.Second {
			errs = append(errs, fmt.Errorf("bench: arrival gap %s: want 0..10s", g))
		}
	}
	if cfg.ArrivalRate <= 0 || cfg.ArrivalRate > 10000 {
		errs = append(errs, fmt.Errorf("bench: arrival rate %g/s: want above 0, at most 10000", cfg.ArrivalRate))
	}
	if cfg.Runs < 0 || cfg.Warmup < 0 || cfg.Rounds < 0 || cfg.Duration < 0 || cfg.Window < 0 || cfg.Settle < 0 ||
		cfg.ServeRequests < 0 || cfg.ArrivalRuns < 0 || cfg.ArrivalTrain < 0 || cfg.KernelWindow < 0 {
		errs = append(errs, errors.New("bench: counts and durations must not be negative"))
	}
	return errors.Join(errs...)
}

// backendOrder puts the floor first and the sandboxes in the order the
// figures are read: one-shot, pooled, slots, the external peers.
var backendOrder = []string{FloorBackend, "oneshot", "container", "slots", "bwrap", "firejail", "runc"}

// orderBackends sorts names by backendOrder (others after, alphabetically)
// and drops duplicates.
func orderBackends(names []string) []string {
	rank := func(n string) int {
		if i := slices.Index(backendOrder, n); i >= 0 {
			return i
		}
		return len(backendOrder)
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}
