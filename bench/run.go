package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
	"gosandbox/sandbox"
)

// runner carries one bench run: its configuration, the report being filled
// and the programs the scenarios run.
type runner struct {
	cfg  Config
	rep  *benchjson.Report
	prog *progress

	// backends are the requested backends that opened, in backendOrder.
	backends []string
	features map[string]harness.Features
	// hung holds, by backend name, why a Run of it was given up.
	hung sync.Map
	// toolDir holds the bench's own programs (the static C program); it is
	// bound read-only at toolMount in every box.
	toolDir   string
	staticErr error // why the static program is missing, nil when built
}

// toolMount is where the bench's own programs appear inside a box.
const toolMount = "/opt/gosandbox-bench"

// Run measures cfg's scenarios on cfg's backends and returns the report. It
// fails only on an invalid Config (unknown names: nothing was measured); a
// backend that cannot be opened or a scenario that cannot run is recorded in
// benchjson.Report.Errors or benchjson.Scenario.Errors and the rest goes on.
func Run(ctx context.Context, cfg Config) (*benchjson.Report, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{
		cfg:  cfg,
		rep:  &benchjson.Report{Schema: benchjson.SchemaVersion, Quick: cfg.Quick, Started: time.Now().UTC(), Env: environment()},
		prog: &progress{w: cfg.Progress, bar: cfg.ProgressBar},

		features: map[string]harness.Features{},
	}
	if cfg.Quick {
		r.prog.note("quick run: a smoke test with few samples, not figures to quote")
	}
	if err := r.prepareTools(); err != nil {
		r.rep.Errors = append(r.rep.Errors, err.Error())
	}
	defer r.cleanup()
	r.openable()

	scenarios := map[string]func(context.Context) benchjson.Scenario{
		ScenarioStartup:    r.startup,
		ScenarioArrivals:   r.arrivals,
		ScenarioThroughput: r.throughput,
		ScenarioServe:      r.serve,
		ScenarioWarmup:     r.warmup,
		ScenarioReset:      r.reset,
		ScenarioMemory:     r.memory,
		ScenarioDisk:       r.disk,
	}
	for _, name := range ScenarioNames() {
		if !slices.Contains(cfg.Scenarios, name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("scenario %s: not run: %v", name, err))
			continue
		}
		loadBefore := loadAverage()[0]
		sc := scenarios[name](ctx)
		sc.Name = name
		if sc.Series == nil {
			sc.Series = []benchjson.Series{}
		}
		summarizeSeries(sc.Series)
		if why := noisyReasons(&sc, loadBefore, loadAverage()[0], r.rep.Env.Cores); len(why) > 0 {
			sc.Noisy, sc.NoisyReason = true, strings.Join(why, "; ")
		}
		r.prog.end(name)
		r.rep.Scenarios = append(r.rep.Scenarios, sc)
	}
	if r.rep.Scenarios == nil {
		r.rep.Scenarios = []benchjson.Scenario{}
	}
	r.hung.Range(func(_, why any) bool {
		r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("backend %s: abandoned", why))
		return true
	})
	r.rep.Claims = claims(r.rep)
	r.rep.Env.LoadAfter = loadAverage()
	r.rep.Finished = time.Now().UTC()
	return r.rep, nil
}

// WriteReport writes rep as dir/bench.json (through a temporary file, so a
// reader never sees half a report) and returns the path.
func WriteReport(dir string, rep *benchjson.Report) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return "", fmt.Errorf("bench: encode report: %w", err)
	}
	path := filepath.Join(dir, "bench.json")
	tmp, err := os.CreateTemp(dir, ".bench-*.json")
	if err != nil {
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("bench: write report: %w", err)
	}
	return path, nil
}

// openable opens every requested backend once and keeps those that open; the
// others are recorded with the reason.
func (r *runner) openable() {
	for _, name := range r.cfg.Backends {
		b, err := openBackend(name, harness.Options{PoolSize: 1})
		if err != nil {
			msg := fmt.Sprintf("backend %s: not measured: %v", name, err)
			r.rep.Errors = append(r.rep.Errors, msg)
			r.prog.note("%s", msg)
			continue
		}
		r.features[name] = b.Features()
		if err := closeBackend(b); err != nil {
			r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("backend %s: close: %v", name, err))
		}
		r.backends = append(r.backends, name)
	}
}

// staticSource is the small static C program of the startup scenario: it
// writes one line, as a judged solution would, and exits.
const staticSource = `#include <unistd.h>
int main(void) {
	static const char msg[] = "hello from gosandbox bench\n";
	return write(1, msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1;
}
`

// prepareTools makes the directory bound into every box and builds the
// static program into it; a missing compiler or static libc only skips that
// program (staticErr).
func (r *runner) prepareTools() error {
	dir, err := os.MkdirTemp("", "gosandbox-bench-tools-")
	if err != nil {
		return fmt.Errorf("bench: tool dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("bench: tool dir: %w", err)
	}
	r.toolDir = dir
	src := filepath.Join(dir, "static.c")
	if err := os.WriteFile(src, []byte(staticSource), 0o644); err != nil {
		return fmt.Errorf("bench: static program: %w", err)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		r.staticErr = fmt.Errorf("static C program skipped: gcc not found")
		return nil
	}
	out, err := exec.Command(gcc, "-static", "-O2", "-o", filepath.Join(dir, "static"), src).CombinedOutput()
	if err != nil {
		r.staticErr = fmt.Errorf("static C program skipped: gcc -static -O2 failed (static libc missing?): %v: %s",
			err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (r *runner) cleanup() {
	if r.toolDir != "" {
		os.RemoveAll(r.toolDir)
	}
}

// program is what a scenario runs in a box.
type program struct {
	name string
	args []string
}

var programTrue = program{name: "true", args: []string{"/bin/true"}}

// startupPrograms lists the startup programs that exist here and why the
// others were skipped.
func (r *runner) startupPrograms() ([]program, []string) {
	progs := []program{programTrue}
	if r.staticErr != nil {
		return progs, []string{r.staticErr.Error()}
	}
	return append(progs, program{name: "static", args: []string{toolMount + "/static"}}), nil
}

// spec is the Spec every scenario starts from: default limits and a plain
// PATH. No binds: a pool is built for specs without any, and a spec of
// another shape would make it rebuild a container.
func (r *runner) spec(args ...string) sandbox.Spec {
	return sandbox.Spec{Args: args, Env: []string{"PATH=/usr/bin:/bin"}}
}

// startupSpec runs a startup program with the bench's tool directory bound
// read-only. Every startup program gets the bind, the ones that do not need
// it too, so that a pool sees one shape (rebuilt once, during the warm-up).
func (r *runner) startupSpec(p program) sandbox.Spec {
	s := r.spec(p.args...)
	if r.toolDir != "" {
		s.Binds = []sandbox.Bind{{Source: r.toolDir, Target: toolMount}}
	}
	return s
}

// runGrace is how long after its context ended a Run may take to return
// before the bench gives it up.
const runGrace = 10 * time.Second

// errHung marks a run given up because Backend.Run did not return.
var errHung = errors.New("Backend.Run did not return")

// runOK runs spec and returns how long Backend.Run took, as the caller sees
// it; a refused spec or a status other than ok is an error. A Run that does
// not return well after its context ended is abandoned, and the backend is
// not asked again in this bench run (one hung backend must not stall the
// others).
func (r *runner) runOK(ctx context.Context, b harness.Backend, spec sandbox.Spec) (time.Duration, error) {
	if why, ok := r.hung.Load(b.Name()); ok {
		return 0, fmt.Errorf("%w: %s (not asked again)", errHung, why)
	}
	limit := spec.Limits.WithDefaults().Wall + 30*time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	type ran struct {
		res sandbox.Result
		d   time.Duration
		err error
	}
	done := make(chan ran, 1)
	go func() {
		start := time.Now()
		res, err := b.Run(ctx, spec)
		done <- ran{res, time.Since(start), err}
	}()
	var out ran
	select {
	case out = <-done:
	case <-time.After(limit + runGrace):
		why := fmt.Sprintf("%s: run %v still running %s after its context ended", b.Name(), spec.Args, runGrace)
		if _, loaded := r.hung.LoadOrStore(b.Name(), why); !loaded {
			r.prog.note("backend %s", why)
		}
		return 0, fmt.Errorf("%w: %s", errHung, why)
	}
	if out.err != nil {
		return out.d, fmt.Errorf("%s: run %v: %w", b.Name(), spec.Args, out.err)
	}
	if res := out.res; res.Status != sandbox.StatusOK {
		return out.d, fmt.Errorf("%s: run %v: status %s (exit %d %s) %s", b.Name(), spec.Args, res.Status, res.ExitCode, res.Signal, res.Message)
	}
	return out.d, nil
}

// failures counts the runs of each series that failed, to be reported once
// per series rather than once per run.
type failures struct {
	order []string
	byKey map[string]*failureCount
}

type failureCount struct {
	n, of int
	first string
}

func (f *failures) add(key string, err error) {
	if f.byKey == nil {
		f.byKey = map[string]*failureCount{}
	}
	c, ok := f.byKey[key]
	if !ok {
		c = &failureCount{}
		f.byKey[key] = c
		f.order = append(f.order, key)
	}
	c.of++
	if err != nil {
		if c.n == 0 {
			c.first = err.Error()
		}
		c.n++
	}
}

// messages are the scenario errors: one line per series with failures.
func (f *failures) messages() []string {
	var out []string
	for _, k := range f.order {
		if c := f.byKey[k]; c.n > 0 {
			out = append(out, fmt.Sprintf("%s: %d of %d runs failed, the first: %s", k, c.n, c.of, c.first))
		}
	}
	return out
}

// dropEmpty removes series without samples (every run failed: the failures
// say why).
func dropEmpty(series []benchjson.Series) []benchjson.Series {
	return slices.DeleteFunc(series, func(s benchjson.Series) bool { return len(s.Samples) == 0 })
}

// sortedKeys is the sorted keys of a set, for stable output.
func sortedKeys(set map[int]bool) []int {
	keys := make([]int, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// openTimeout and closeTimeout bound what a backend may take to open or
// close: a backend that hangs is reported and abandoned, and the bench goes
// on with the others.
const (
	openTimeout  = 3 * time.Minute
	closeTimeout = time.Minute
)

// openBackend is harness.Open within openTimeout.
func openBackend(name string, opts harness.Options) (harness.Backend, error) {
	type opened struct {
		b   harness.Backend
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		b, err := harness.Open(name, opts)
		ch <- opened{b, err}
	}()
	select {
	case o := <-ch:
		return o.b, o.err
	case <-time.After(openTimeout):
		go func() {
			if o := <-ch; o.b != nil {
				o.b.Close()
			}
		}()
		return nil, fmt.Errorf("backend %s: open (pool %d) did not return within %s", name, opts.PoolSize, openTimeout)
	}
}

// closeBackend is b.Close within closeTimeout.
func closeBackend(b harness.Backend) error {
	ch := make(chan error, 1)
	go func() { ch <- b.Close() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(closeTimeout):
		return fmt.Errorf("backend %s: close did not return within %s", b.Name(), closeTimeout)
	}
}
