// Command genfixtures writes the report fixtures under reports/testdata: a
// bench.json in the layout of benchjson.Report and Ginkgo v2 JSON conformance
// reports ([]types.Report, as `ginkgo --json-report` writes them), with
// figures shaped like a 2-core machine's. The figures are invented; they are
// deterministic so the golden files stay put.
//
//	go run ./reports/testdata/genfixtures   (from the repository root)
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"gosandbox/bench/benchjson"
)

var rng = rand.New(rand.NewPCG(1, 2))

// peerRng draws the figures of the external peer (bwrap) so that adding it
// left every other figure of the fixtures as it was.
var peerRng = rand.New(rand.NewPCG(3, 4))

// serveRng draws the serve scenario, for the same reason.
var serveRng = rand.New(rand.NewPCG(5, 6))

func main() {
	root := filepath.Join("reports", "testdata")
	if _, err := os.Stat(root); err != nil {
		fail(fmt.Errorf("run from the repository root: %w", err))
	}
	start := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)

	full := filepath.Join(root, "full")
	write(filepath.Join(full, "bench", "bench.json"), fullBench(start, false, "6.18.0-gosandbox", "hybrid", 1))
	for _, b := range []string{"none", "oneshot", "container", "bwrap"} {
		write(filepath.Join(full, "conformance", b+".json"), conformance(b, "hybrid", start))
	}
	// Kernel matrix: 5.10 with cgroup v1 (oneshot only), 6.12 with cgroup v2.
	m510 := filepath.Join(full, "matrix", "5.10-v1")
	write(filepath.Join(m510, "oneshot.json"), conformance("oneshot", "v1", start))
	write(filepath.Join(m510, "bench.json"), fullBench(start, true, "5.10.0-32-cloud-amd64", "v1", 1.3))
	m612 := filepath.Join(full, "matrix", "6.12-v2")
	for _, b := range []string{"oneshot", "container"} {
		write(filepath.Join(m612, b+".json"), conformance(b, "v2", start))
	}
	write(filepath.Join(m612, "bench.json"), fullBench(start, true, "6.12.57+deb13-amd64", "v2", 0.9))
	// matrix.json as harness/vm writes it: a third target that did not
	// boot, and a cache directory that is not a target.
	writeRaw(filepath.Join(full, "matrix", "cache", "kernels", "README"), []byte("downloaded kernels\n"))
	write(filepath.Join(full, "matrix", "matrix.json"), map[string]any{
		"generated": start, "accel": "kvm", "label_filter": "", "backends": []string{"oneshot", "container"},
		"host": map[string]any{"kernel": "6.18.0-gosandbox", "cgroup": "hybrid", "results": "out/conformance"},
		"columns": []map[string]any{
			{"name": "5.10-v1", "kernel": "5.10", "cgroup": "v1", "booted": true, "completed": true, "seconds": 412.5, "bench": true},
			{"name": "6.12-v2", "kernel": "6.12", "cgroup": "v2", "booted": true, "completed": true, "seconds": 388.1, "bench": true},
			{"name": "6.1-v1", "kernel": "6.1", "cgroup": "v1", "booted": false, "completed": false, "seconds": 0.1, "bench": false,
				"reason":   "vm: qemu: signal: aborted: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nassertion failed",
				"problems": []string{"no done line: the guest stopped before the end (crash, hang or timeout)"}},
		},
	})

	// Partial: one backend's conformance, a corrupt one, a quick bench with
	// a single backend and a failed scenario, a matrix target without bench.
	partial := filepath.Join(root, "partial")
	write(filepath.Join(partial, "conformance", "oneshot.json"), conformance("oneshot", "hybrid", start))
	writeRaw(filepath.Join(partial, "conformance", "container.json"), []byte(`[{"SuitePath": "/work/main/suites", "SpecReports": [{"LeafNodeText": `))
	writeRaw(filepath.Join(partial, "conformance", "container.xml"), []byte("<testsuites></testsuites>\n"))
	write(filepath.Join(partial, "bench", "bench.json"), quickBench(start))
	write(filepath.Join(partial, "matrix", "6.1-v2", "oneshot.json"), conformance("oneshot", "v2", start))

	// Corrupt: a bench.json that is not JSON and no conformance at all.
	writeRaw(filepath.Join(root, "corrupt", "bench", "bench.json"), []byte("{\"schema\": \"gosandbox-bench/1\", \"scenarios\": [tru"))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "genfixtures:", err)
	os.Exit(1)
}

func write(path string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fail(err)
	}
	writeRaw(path, append(data, '\n'))
}

func writeRaw(path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fail(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fail(err)
	}
}

// lognormal draws n samples around median with the given spread (sigma of
// the log), plus an occasional slow outlier as a shared machine produces.
func lognormal(n int, median, sigma float64) []float64 {
	return lognormalFrom(rng, n, median, sigma)
}

func lognormalFrom(rng *rand.Rand, n int, median, sigma float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		v := median * math.Exp(sigma*rng.NormFloat64())
		if rng.IntN(25) == 0 {
			v *= 2 + 2*rng.Float64()
		}
		out[i] = math.Round(v)
	}
	return out
}

func series(backend, program, param string, value float64, unit string, samples []float64) benchjson.Series {
	return variantSeries(backend, program, "", param, value, unit, samples)
}

func variantSeries(backend, program, variant, param string, value float64, unit string, samples []float64) benchjson.Series {
	s := benchjson.Series{Backend: backend, Program: program, Variant: variant, Param: param, Value: value, Unit: unit, Samples: samples}
	v := append([]float64(nil), samples...)
	sort.Float64s(v)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(v)))) - 1
		return v[max(0, min(i, len(v)-1))]
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	s.Summary = benchjson.Summary{N: len(v), Min: v[0], P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: v[len(v)-1], Mean: sum / float64(len(v))}
	return s
}

// fullBench is a complete run; slow scales every latency (an older kernel).
func fullBench(start time.Time, matrix bool, kernel, cgroup string, slow float64) benchjson.Report {
	n := 60
	if matrix {
		n = 30
	}
	startup := benchjson.Scenario{Name: "startup", Description: "time from Run to the program's exit, trivial and small static program"}
	medians := map[string]float64{"none": 0.9e6, "oneshot": 11.5e6, "container": 1.7e6}
	for _, prog := range []string{"true", "static"} {
		factor := 1.0
		if prog == "static" {
			factor = 0.8
		}
		var floor float64
		for _, b := range []string{"none", "oneshot", "container"} {
			s := series(b, prog, "", 0, "ns", lognormal(n, medians[b]*factor*slow, 0.15))
			if b == "none" {
				floor = s.Summary.P50
			} else {
				s.RatioToFloor = s.Summary.P50 / floor
			}
			startup.Series = append(startup.Series, s)
		}
		if !matrix {
			// The peer: a whole bwrap process per run.
			s := series("bwrap", prog, "", 0, "ns", lognormalFrom(peerRng, n, 14e6*factor*slow, 0.15))
			s.RatioToFloor = s.Summary.P50 / floor
			startup.Series = append(startup.Series, s)
		}
	}
	r := benchjson.Report{
		Schema:   benchjson.SchemaVersion,
		Started:  start,
		Finished: start.Add(7*time.Minute + 12*time.Second),
		Env: benchjson.Environment{
			Kernel: kernel, CgroupMode: cgroup, CPUModel: "Intel(R) Xeon(R) CPU @ 2.20GHz", Cores: 2,
			LoadBefore: [3]float64{0.41, 0.52, 0.60}, LoadAfter: [3]float64{1.93, 1.21, 0.84},
			GoVersion: "go1.26.8", Versions: map[string]string{"gosandbox": "v0.1.0-dev", "bwrap": "not installed"},
		},
	}
	if matrix {
		r.Scenarios = []benchjson.Scenario{startup}
		return r
	}

	reset := benchjson.Scenario{Name: "reset", Description: "time to reset a pooled container between runs"}
	reset.Series = append(reset.Series, series("container", "", "", 0, "ns", lognormal(n, 0.65e6, 0.2)))

	tput := benchjson.Scenario{Name: "throughput", Description: "completed runs per second of the trivial program at concurrency 1..2x cores",
		Noisy: true, NoisyReason: "load average rose from 0.41 to 1.93 during the run"}
	for _, c := range []int{1, 2, 4} {
		eff := math.Min(float64(c), 2) * (1 - 0.05*float64(c-1))
		tput.Series = append(tput.Series,
			series("none", "true", "concurrency", float64(c), "runs/s", lognormal(5, 1050*eff, 0.05)),
			series("oneshot", "true", "concurrency", float64(c), "runs/s", lognormal(5, 84*eff, 0.05)),
			series("container", "true", "concurrency", float64(c), "runs/s", lognormal(5, 520*eff, 0.05)))
	}
	for _, c := range []int{1, 2, 4} {
		eff := math.Min(float64(c), 2) * (1 - 0.05*float64(c-1))
		tput.Series = append(tput.Series, series("bwrap", "true", "concurrency", float64(c), "runs/s", lognormalFrom(peerRng, 5, 70*eff, 0.05)))
	}

	// gosandbox serve over HTTP: the pool's rate grows with the clients up
	// to the cores; one-shot's barely.
	serve := benchjson.Scenario{Name: "serve", Description: "POST /run of /bin/true through the server package on a loopback port at concurrency C; requests/s per window and client-side latency of every request."}
	for _, b := range []string{"oneshot", "container"} {
		for _, c := range []int{1, 2, 4} {
			eff := math.Min(float64(c), 2) * (1 - 0.05*float64(c-1))
			rate, lat := 60*eff, 16e6*float64(c)/eff
			if b == "container" {
				rate, lat = 310*eff, 3.1e6*float64(c)/eff
			}
			serve.Series = append(serve.Series,
				variantSeries(b, "true", benchjson.VariantRequestRate, "concurrency", float64(c), "requests/s", lognormalFrom(serveRng, 5, rate, 0.05)),
				variantSeries(b, "true", benchjson.VariantLatency, "concurrency", float64(c), "ns", lognormalFrom(serveRng, 80, lat, 0.2)))
		}
	}

	warm := benchjson.Scenario{Name: "warmup", Description: "time until N pooled containers are ready"}
	for _, k := range []float64{1, 4, 16} {
		warm.Series = append(warm.Series, series("container", "", "pool_size", k, "ns", lognormal(5, 14e6*k/math.Min(k, 2)+3e6, 0.08)))
	}

	mem := benchjson.Scenario{Name: "memory", Description: "PSS of every process a backend keeps alive with N slots; idle-total after warm-up, busy-total while N runs are in flight; *-per-slot are the totals divided by N. Unit: bytes."}
	for _, k := range []float64{1, 2, 4, 8, 16} {
		for _, b := range []string{"oneshot", "container"} {
			// One-shot keeps nothing alive when idle; a busy run costs a
			// supervisor and the box. A pool keeps an init per slot.
			idle, busy := 0.0, k*3.1*(1<<20)
			if b == "container" {
				idle = 2.4*(1<<20) + k*1.2*(1<<20)
				busy = idle + k*0.6*(1<<20)
			}
			idleS, busyS := lognormal(3, idle+1, 0.03), lognormal(3, busy, 0.03)
			per := func(v []float64) []float64 {
				out := make([]float64, len(v))
				for i, x := range v {
					out[i] = math.Round(x / k)
				}
				return out
			}
			mem.Series = append(mem.Series,
				variantSeries(b, "", "idle-total", "slots", k, "bytes", idleS),
				variantSeries(b, "", "busy-total", "slots", k, "bytes", busyS),
				variantSeries(b, "", "idle-per-slot", "slots", k, "bytes", per(idleS)),
				variantSeries(b, "", "busy-per-slot", "slots", k, "bytes", per(busyS)))
		}
	}

	// The peer keeps nothing alive and has no kernel figures: PSS only.
	for _, k := range []float64{1, 2, 4} {
		busy := lognormalFrom(peerRng, 3, k*2.2*(1<<20), 0.03)
		per := make([]float64, len(busy))
		for i, x := range busy {
			per[i] = math.Round(x / k)
		}
		mem.Series = append(mem.Series,
			variantSeries("bwrap", "", "idle-per-slot", "slots", k, "bytes", []float64{0, 0, 0}),
			variantSeries("bwrap", "", "busy-per-slot", "slots", k, "bytes", per))
	}

	// Kernel memory: the meminfo delta per slot, idle and busy, with the
	// host's drift; one-shot's idle delta is within the drift (noisy).
	for _, k := range []float64{1, 2, 4, 8, 16} {
		for _, b := range []string{"oneshot", "container"} {
			kIdle, kBusy := 0.0, 260.0*(1<<10)
			if b == "container" {
				kIdle, kBusy = 310.0*(1<<10), 450.0*(1<<10)
			}
			pss := func(state string) []float64 {
				for _, s := range mem.Series {
					if s.Backend == b && s.Value == k && s.Variant == state {
						return s.Samples
					}
				}
				return nil
			}
			idleK, busyK := lognormal(3, kIdle*k+20<<10, 0.1), lognormal(3, kBusy*k, 0.1)
			drift := lognormal(3, 90*(1<<10), 0.3)
			per := func(v []float64) []float64 {
				out := make([]float64, len(v))
				for i, x := range v {
					out[i] = math.Round(x / k)
				}
				return out
			}
			plus := func(a, b []float64) []float64 {
				out := make([]float64, len(a))
				for i := range a {
					out[i] = math.Round((a[i] + b[i]) / k)
				}
				return out
			}
			idleSeries := []benchjson.Series{
				variantSeries(b, "", "kernel-idle-total", "slots", k, "bytes", idleK),
				variantSeries(b, "", "kernel-idle-per-slot", "slots", k, "bytes", per(idleK)),
				variantSeries(b, "", "total-idle-per-slot", "slots", k, "bytes", plus(pss("idle-total"), idleK)),
			}
			if b == "oneshot" && k < 4 {
				for i := range idleSeries {
					idleSeries[i].Noisy = "host drift 90KiB (median |kernel-drift|) >= the idle delta 20KiB"
				}
			}
			mem.Series = append(mem.Series, idleSeries...)
			mem.Series = append(mem.Series,
				variantSeries(b, "", "kernel-busy-total", "slots", k, "bytes", busyK),
				variantSeries(b, "", "kernel-busy-per-slot", "slots", k, "bytes", per(busyK)),
				variantSeries(b, "", "kmem-busy-per-slot", "slots", k, "bytes", lognormal(3, 100*(1<<10), 0.05)),
				variantSeries(b, "", "total-busy-per-slot", "slots", k, "bytes", plus(pss("busy-total"), busyK)),
				variantSeries(b, "", "kernel-drift", "slots", k, "bytes", drift))
		}
	}

	// Arrivals: the pooled backend a little slower when runs arrive apart.
	arr := benchjson.Scenario{Name: "arrivals", Description: "Open-loop arrivals of /bin/true: latency from the scheduled start; fixed gaps and Poisson at 20/s. Unit: ns."}
	arrMedians := map[string][]float64{
		"none":      {0.9e6, 0.95e6, 1.0e6, 1.0e6, 1.0e6},
		"oneshot":   {2.6e6, 2.7e6, 2.8e6, 2.8e6, 2.9e6},
		"container": {1.5e6, 1.6e6, 1.9e6, 2.0e6, 1.9e6},
	}
	for i, g := range []float64{0, 5, 20, 100, 50} {
		variant := benchjson.ScheduleFixed
		if i == 4 {
			variant = benchjson.SchedulePoisson
		}
		var floor float64
		for _, b := range []string{"none", "oneshot", "container"} {
			s := variantSeries(b, "true", variant, benchjson.ParamGap, g, "ns", lognormal(30, arrMedians[b][i], 0.15))
			if b == "none" {
				floor = s.Summary.P50
			} else {
				s.RatioToFloor = s.Summary.P50 / floor
			}
			arr.Series = append(arr.Series, s)
		}
	}

	disk := benchjson.Scenario{Name: "disk", Description: "Bytes a sandbox puts on disk, measured from the filesystem (st_blocks of every inode, as du). Unit: bytes per sandbox."}
	for _, b := range []string{"oneshot", "container"} {
		disk.Series = append(disk.Series,
			variantSeries(b, "", "shared-binds", "layout", 0, "bytes", lognormal(5, 8*(1<<10), 0.1)),
			variantSeries(b, "", "shared-binds-fs-delta", "layout", 0, "bytes", lognormal(5, 40*(1<<10), 0.8)))
	}
	disk.Series = append(disk.Series,
		variantSeries("rootfs-copy", "/usr/bin/true", "rootfs-copy", "layout", 0, "bytes", lognormal(5, 2.6*(1<<20), 0.01)),
		variantSeries("overlay-upper", "/usr/bin/true", "overlay-upper", "layout", 0, "bytes", lognormal(5, 16*(1<<10), 0.05)))

	r.Scenarios = []benchjson.Scenario{startup, arr, reset, tput, serve, warm, mem, disk}
	r.Claims = []benchjson.Claim{
		{Claim: "pooled start ~10 ms vs one-shot ~300 ms", Seed: "one-shot ~300 ms, pooled ~10 ms per start: pooled ~30x faster",
			Measured: "/bin/true p50: one-shot 11.9 ms, pooled 1.75 ms: one-shot/pooled = 6.8x", Verdict: "does not hold", Ratio: 6.8,
			Rule: "holds when one-shot p50 / pooled p50 of /bin/true is at least 15 (half the seed's ~30x); absolute times depend on the machine"},
		{Claim: "pooling cuts memory by 40-60%", Seed: "-40-60%", Measured: "16 slots busy: pooled 1.95 MiB vs one-shot 3.1 MiB per slot (-37%)",
			Verdict: "does not hold", Ratio: 0.63, Rule: "holds when pooled/one-shot busy-per-slot PSS at the largest N is at most 0.6"},
		{Claim: "pooled memory 40-60% lower (total: PSS + kernel)", Seed: "pooled containers use 40-60% less memory than one-shot runs (shared pages)",
			Measured: "PSS + kernel with 16 boxes in flight: one-shot 3.4 MiB per run, pooled 2.4 MiB per slot: pooled/one-shot = 0.71 (29% lower)",
			Verdict:  "does not hold", Ratio: 0.71, Rule: "holds when pooled/one-shot total-busy-per-slot at the largest N is at most 0.6"},
		{Claim: "a shared filesystem cuts disk by 70-80%", Seed: "-70-80%", Measured: "shared-binds 8 KiB vs rootfs-copy 2.6 MiB per sandbox (-99.7%)",
			Verdict: "holds", Ratio: 0.003, Rule: "holds when shared/copy is at most 0.3"},
	}
	return r
}

func quickBench(start time.Time) benchjson.Report {
	startup := benchjson.Scenario{Name: "startup", Description: "time from Run to the program's exit"}
	startup.Series = append(startup.Series, series("oneshot", "true", "", 0, "ns", lognormal(5, 12e6, 0.2)))
	return benchjson.Report{
		Schema: benchjson.SchemaVersion, Quick: true, Started: start, Finished: start.Add(9 * time.Second),
		Env: benchjson.Environment{Kernel: "6.18.0-gosandbox", CgroupMode: "hybrid", Cores: 2, GoVersion: "go1.26.8"},
		Scenarios: []benchjson.Scenario{startup,
			{Name: "throughput", Description: "runs per second", Errors: []string{"backend container: open: backend unavailable: no user namespaces"}},
		},
		Errors: []string{"backend none: skipped by --backends"},
	}
}

// verdict is what a property gives on a backend: state and reason.
type verdict struct {
	state  types.SpecState
	reason string
}

var pass = verdict{state: types.SpecStatePassed}

func failed(msg string) verdict  { return verdict{types.SpecStateFailed, msg} }
func skipped(msg string) verdict { return verdict{types.SpecStateSkipped, msg} }

// outcome decides the fixture's result of one property on one backend.
func outcome(backend, id, area, cgroup string) verdict {
	if backend == "none" {
		switch area {
		case "process", "filesystem", "syscalls", "privilege", "network", "ipc":
			if id == "P5" || id == "P6" {
				return pass
			}
			return failed(fmt.Sprintf("backend none: %s: expected the box to be isolated\nExpected\n    <bool>: false\nto be true", id))
		case "reuse":
			return skipped("backend none: not pooled: the U properties need a reused container")
		case "limits":
			if id == "R3" || id == "R13" || id == "R10" {
				return pass
			}
			return skipped("backend none: no cgroups: limits and accounting come from cgroups")
		}
		return pass
	}
	if backend == "bwrap" {
		// The peer as bwrap.go declares it: no cgroups, no pool.
		switch {
		case area == "reuse":
			return skipped("backend bwrap: unsupported: not pooled: each run is a new bwrap process (Features.Unsupported)")
		case area == "limits" && id != "R3" && id != "R11" && id != "R13" && id != "R10":
			return skipped("backend bwrap: unsupported: bwrap sets no cgroup limits or accounting (Features.Unsupported)")
		case id == "S1":
			return failed("backend bwrap: denied call not reported: the run ended ok, want a syscall-denied verdict naming ptrace\nExpected\n    <string>: ok\nto equal\n    <string>: syscall-denied")
		case id == "F11":
			return failed("backend bwrap: /sys/fs/cgroup shows the host's hierarchy: " + strings.Repeat("memory cpu pids blkio ", 20))
		}
	}
	if area == "reuse" && backend != "container" {
		return skipped("backend " + backend + ": not pooled: the U properties need a reused container")
	}
	switch id {
	case "R6":
		return skipped("backend " + backend + ": address-space mode not configured")
	case "R8":
		if cgroup == "v1" {
			return failed("tmpfs pages not charged to the box's memory cgroup on cgroup v1\nExpected\n    <string>: ok\nto equal\n    <string>: memory-limit")
		}
	case "R12":
		if cgroup == "hybrid" {
			return skipped("cgroup v1 cpu controller: cpuset not delegated on this host")
		}
	case "S4":
		return skipped("x32 ABI not enabled in this kernel (CONFIG_X86_X32_ABI unset)")
	case "U6":
		if backend == "container" {
			return failed("after 1000 runs: 3 descriptors more than before (/dev/null, socket:[81723], anon_inode:[pidfd])")
		}
	}
	return pass
}

func conformance(backend, cgroup string, start time.Time) []types.Report {
	at := start
	var specs types.SpecReports
	specs = append(specs, types.SpecReport{
		LeafNodeType: types.NodeTypeSynchronizedBeforeSuite, State: types.SpecStatePassed,
		StartTime: at, EndTime: at.Add(900 * time.Millisecond), RunTime: 900 * time.Millisecond, ParallelProcess: 1,
	})
	at = at.Add(time.Second)
	areas := map[byte]string{'P': "process", 'F': "filesystem", 'R': "limits", 'S': "syscalls", 'C': "privilege", 'N': "network", 'I': "ipc", 'U': "reuse", 'B': "robustness"}
	for _, id := range propertyIDs() {
		area := areas[id[0]]
		// Some properties have two specs, as real suites do.
		variants := []string{"holds"}
		if id == "P4" || id == "R3" || id == "F9" {
			variants = []string{"holds for a plain child", "holds for a stopped or daemonised child"}
		}
		for _, v := range variants {
			vd := outcome(backend, id, area, cgroup)
			sr := types.SpecReport{
				ContainerHierarchyTexts:  []string{area, id},
				ContainerHierarchyLabels: [][]string{{area}, {}},
				LeafNodeType:             types.NodeTypeIt,
				LeafNodeLocation:         types.CodeLocation{FileName: "/work/main/suites/" + area + "_test.go", LineNumber: 40},
				LeafNodeLabels:           []string{id},
				LeafNodeText:             v,
				State:                    vd.state,
				StartTime:                at,
				EndTime:                  at.Add(35 * time.Millisecond),
				RunTime:                  35 * time.Millisecond,
				ParallelProcess:          1,
				NumAttempts:              1,
			}
			if vd.state != types.SpecStatePassed {
				sr.Failure = types.Failure{Message: vd.reason,
					Location: types.CodeLocation{FileName: "/work/main/suites/" + area + "_test.go", LineNumber: 52}}
			}
			at = at.Add(40 * time.Millisecond)
			specs = append(specs, sr)
		}
	}
	succeeded := true
	for _, s := range specs {
		if s.State.Is(types.SpecStateFailureStates) {
			succeeded = false
		}
	}
	return []types.Report{{
		SuitePath:        "/work/main/suites",
		SuiteDescription: "gosandbox conformance (" + backend + ")",
		SuiteSucceeded:   succeeded,
		PreRunStats:      types.PreRunStats{TotalSpecs: len(specs) - 1, SpecsThatWillRun: len(specs) - 1},
		StartTime:        start,
		EndTime:          at,
		RunTime:          at.Sub(start),
		SuiteConfig:      types.SuiteConfig{RandomSeed: 1764349200, ParallelTotal: 1},
		SpecReports:      specs,
	}}
}

func propertyIDs() []string {
	var ids []string
	for _, g := range []struct {
		prefix string
		n      int
	}{{"P", 7}, {"F", 11}, {"R", 13}, {"S", 6}, {"C", 3}, {"N", 3}, {"I", 3}, {"U", 6}, {"B", 6}} {
		for i := 1; i <= g.n; i++ {
			ids = append(ids, fmt.Sprintf("%s%d", g.prefix, i))
		}
	}
	return ids
}
