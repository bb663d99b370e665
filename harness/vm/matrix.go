package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"golang.org/x/sys/unix"
	"gosandbox/harness/probes"
)

// Config is one matrix run.
type Config struct {
	Repo     string   // module root (for building the guest binaries)
	Out      string   // out/matrix
	Cache    string   // downloads and builds; default Out/cache
	BuildDir string   // guest binaries and initramfs; default Cache/build
	Kernels  []Kernel // default DefaultKernels
	Modes    []string // cgroup modes; default v2 and v1
	Backends []string // default oneshot, container
	// LabelFilter selects the specs run in each VM ("" runs the whole
	// suite, which takes long under emulation).
	LabelFilter  string
	SuiteTimeout time.Duration // per backend inside a VM; default 20m
	VMTimeout    time.Duration // per VM; default SuiteTimeout*backends + 10m
	Parallel     int           // VMs at once; default the core count
	// BenchArgs are the arguments of the quick bench inside each VM; nil
	// runs DefaultBenchArgs, an empty non-nil slice... also skips nothing:
	// set NoBench to skip it.
	BenchArgs []string
	NoBench   bool
	MemoryMiB int    // per VM; default 1536
	CPUs      int    // per VM; default 2
	Accel     string // see Boot.Accel
	// Host also runs the suites on this host into
	// out/matrix/host-<major.minor>-<mode>/; otherwise the host column is
	// out/conformance, as matrix.json says.
	Host bool
	Log  io.Writer // progress; nil for none
}

// DefaultBenchArgs is the bench each VM runs: a few startup rounds of each
// sandbox backend, kept small because emulation is slow.
var DefaultBenchArgs = []string{"--quick", "--quiet", "--scenarios", "startup", "--backends", "oneshot,container", "--runs", "10", "--warmup", "2"}

// Summary is out/matrix/matrix.json.
type Summary struct {
	Generated   time.Time `json:"generated"`
	Accel       string    `json:"accel"` // "tcg" or "kvm"
	LabelFilter string    `json:"label_filter"`
	Backends    []string  `json:"backends"`
	Host        HostInfo  `json:"host"`
	// HostCalibration is the calibration loop on this host (the fastest
	// of its runs), the reference of every column's TimeScale.
	HostCalibration Calibration `json:"host_calibration"`
	Columns         []Column    `json:"columns"`
}

// HostInfo describes the host column.
type HostInfo struct {
	Kernel string `json:"kernel"`
	Cgroup string `json:"cgroup"` // v1, v2 or hybrid
	// Results is where the host's conformance reports are: out/conformance,
	// or out/matrix/host-... when the matrix ran the suites on the host.
	Results string `json:"results"`
}

// Column is one kernel and cgroup mode.
type Column struct {
	Name          string  `json:"name"` // directory under out/matrix
	Kernel        string  `json:"kernel"`
	Package       string  `json:"package,omitempty"`
	KernelRelease string  `json:"kernel_release,omitempty"` // uname -r in the guest
	Cgroup        string  `json:"cgroup"`
	Booted        bool    `json:"booted"`
	Completed     bool    `json:"completed"` // the guest ran everything and said so
	Reason        string  `json:"reason,omitempty"`
	Seconds       float64 `json:"seconds"`                // wall time of the VM
	BootSeconds   string  `json:"boot_seconds,omitempty"` // guest uptime when /init started its work
	// TimeScale multiplies the CPU and wall limits the suites give programs
	// as room to run (not those a spec checks): the guest's calibration
	// loop against the host's, see TimeScale and Calibration. 1 on the
	// host column and when the guest did not report one.
	TimeScale   int          `json:"time_scale"`
	Calibration *Calibration `json:"calibration,omitempty"` // the guest's fastest loop
	// Controllers are the cgroup controllers the guest could use.
	Controllers    []string                `json:"controllers,omitempty"`
	CgroupProblems []string                `json:"cgroup_problems,omitempty"`
	Suites         map[string]SuiteSummary `json:"suites,omitempty"`
	Bench          bool                    `json:"bench"` // bench.json came back
	Problems       []string                `json:"problems,omitempty"`
}

// SuiteSummary counts one backend's specs in one column.
type SuiteSummary struct {
	Exit     string   `json:"exit"` // the suite binary's exit status, as the guest saw it
	Seconds  string   `json:"seconds"`
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped"`
	Failures []string `json:"failures,omitempty"` // "[labels] spec text: message"
}

func (c *Config) defaults() {
	if len(c.Kernels) == 0 {
		c.Kernels = DefaultKernels
	}
	if len(c.Modes) == 0 {
		c.Modes = []string{CgroupV2, CgroupV1}
	}
	if len(c.Backends) == 0 {
		c.Backends = []string{"oneshot", "container"}
	}
	if c.SuiteTimeout <= 0 {
		c.SuiteTimeout = 20 * time.Minute
	}
	if c.VMTimeout <= 0 {
		c.VMTimeout = time.Duration(len(c.Backends))*c.SuiteTimeout + 10*time.Minute
	}
	if c.Parallel <= 0 {
		c.Parallel = runtime.NumCPU()
	}
	if c.BenchArgs == nil {
		c.BenchArgs = DefaultBenchArgs
	}
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "matrix: "+format+"\n", args...)
	}
}

// Run builds the guest binaries and the initramfs, fetches the kernels,
// boots every column (in parallel up to cfg.Parallel), writes each column's
// results and out/matrix/matrix.json. A column that fails (download, boot,
// hang) is recorded with the reason and the others go on; Run fails only
// when nothing can be run at all.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.defaults()
	if abs, err := filepath.Abs(cfg.Out); err == nil {
		cfg.Out = abs // the builds run in other directories
	}
	sum := Summary{Generated: time.Now().UTC(), Accel: Accelerator(cfg.Accel), LabelFilter: cfg.LabelFilter, Backends: cfg.Backends}
	sum.Host = hostInfo()
	sum.Host.Results = "out/conformance"
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return sum, fmt.Errorf("vm: %w", err)
	}
	cache := cfg.Cache
	if cache == "" {
		cache = filepath.Join(cfg.Out, "cache")
	}
	buildDir := cfg.BuildDir
	if buildDir == "" {
		buildDir = filepath.Join(cache, "build")
	}
	for _, p := range []*string{&cache, &buildDir} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if _, err := QemuPath(); err != nil {
		return sum, err
	}
	cfg.logf("building the guest binaries (static)")
	bins, err := BuildBinaries(ctx, cfg.Repo, buildDir)
	if err != nil {
		return sum, err
	}
	// The guest's /init is static and is "true" by that name: the host
	// starts the same program for its reference.
	sum.HostCalibration = Calibrate(bins.Init)
	cfg.logf("host calibration (CPU time): page faults %v, compute %v, %d starts of a static program %v",
		sum.HostCalibration.Faults, sum.HostCalibration.Compute, spawnsPerRun, sum.HostCalibration.Spawn)
	initrd := filepath.Join(buildDir, "initramfs.cpio.gz")
	if err := WriteInitramfs(initrd, bins); err != nil {
		return sum, err
	}

	if cfg.Host {
		col := runHost(ctx, cfg, bins, sum.Host)
		sum.Host.Results = filepath.Join("out", "matrix", col.Name)
		sum.Columns = append(sum.Columns, col)
	}

	fetcher := &Fetcher{CacheDir: cache, Log: func(f string, a ...any) { cfg.logf(f, a...) }}
	type job struct {
		idx    int
		kernel Kernel
		mode   string
	}
	var jobs []job
	cols := make([]Column, 0, len(cfg.Kernels)*len(cfg.Modes))
	for _, k := range cfg.Kernels {
		for _, m := range cfg.Modes {
			cols = append(cols, Column{Name: k.Name + "-" + m, Kernel: k.Name, Cgroup: m})
			jobs = append(jobs, job{len(cols) - 1, k, m})
		}
	}
	// Fetch first, one kernel at a time (apt shares its lists), then boot
	// in parallel.
	images := map[string]FetchedKernel{}
	fetchErr := map[string]error{}
	for _, k := range cfg.Kernels {
		fk, err := fetcher.Fetch(ctx, k)
		if err != nil {
			fetchErr[k.Name] = err
			cfg.logf("kernel %s: %v", k.Name, err)
			continue
		}
		images[k.Name] = fk
	}
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		col := &cols[j.idx]
		if err := fetchErr[j.kernel.Name]; err != nil {
			col.Reason = "kernel download failed: " + err.Error()
			writeColumnNote(cfg.Out, *col)
			continue
		}
		fk := images[j.kernel.Name]
		col.Package = fk.Package
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cfg.logf("booting %s (%s)", col.Name, fk.Package)
			*col = runColumn(ctx, cfg, fk.Image, initrd, *col, sum.HostCalibration)
			cfg.logf("%s: %s", col.Name, col.verdict())
		}()
	}
	wg.Wait()
	sum.Columns = append(sum.Columns, cols...)
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.Out, "matrix.json"), append(b, '\n'), 0o644); err != nil {
		return sum, fmt.Errorf("vm: matrix.json: %w", err)
	}
	return sum, nil
}

func (c Column) verdict() string {
	var parts []string
	switch {
	case !c.Booted:
		parts = append(parts, "did not boot: "+c.Reason)
	case !c.Completed:
		parts = append(parts, "incomplete: "+c.Reason)
	default:
		parts = append(parts, fmt.Sprintf("done in %.0fs", c.Seconds))
	}
	names := make([]string, 0, len(c.Suites))
	for n := range c.Suites {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := c.Suites[n]
		parts = append(parts, fmt.Sprintf("%s %d passed, %d failed, %d skipped", n, s.Passed, s.Failed, s.Skipped))
	}
	return strings.Join(parts, "; ")
}

// runColumn boots one VM and collects what it sent.
func runColumn(ctx context.Context, cfg Config, kernel, initrd string, col Column, hostCal Calibration) Column {
	dir := filepath.Join(cfg.Out, col.Name)
	os.RemoveAll(dir)
	vmDir := filepath.Join(dir, "vm")
	if err := os.MkdirAll(vmDir, 0o755); err != nil {
		col.Reason = err.Error()
		return col
	}
	plan := GuestPlan{Cgroup: col.Cgroup, Backends: cfg.Backends, LabelFilter: cfg.LabelFilter, SuiteTimeout: cfg.SuiteTimeout.String(), HostCalibration: hostCal}
	if !cfg.NoBench {
		plan.BenchArgs = cfg.BenchArgs
	}
	param, err := plan.Param()
	if err != nil {
		col.Reason = err.Error()
		return col
	}
	boot := Boot{
		Kernel: kernel, Initramfs: initrd, Append: []string{param},
		MemoryMiB: cfg.MemoryMiB, CPUs: cfg.CPUs, Timeout: cfg.VMTimeout, Accel: cfg.Accel,
		Console: filepath.Join(vmDir, "console.log"), Results: filepath.Join(vmDir, "results.log"),
	}
	t0 := time.Now()
	runErr := boot.Run(ctx)
	col.Seconds = time.Since(t0).Round(100 * time.Millisecond).Seconds()
	return collect(dir, col, runErr)
}

// collect reads a finished VM's transcript into its column directory.
func collect(dir string, col Column, runErr error) Column {
	vmDir := filepath.Join(dir, "vm")
	f, err := os.Open(filepath.Join(vmDir, "results.log"))
	var tr Transcript
	if err == nil {
		tr = ParseTranscript(f)
		f.Close()
	} else {
		tr = ParseTranscript(strings.NewReader(""))
	}
	col.KernelRelease = tr.Facts["kernel"]
	col.Booted = col.KernelRelease != ""
	col.Completed = tr.Done && tr.Facts["error"] == ""
	col.BootSeconds = tr.Facts["boot_seconds"]
	col.TimeScale = 1
	if n, err := strconv.Atoi(tr.Facts["time_scale"]); err == nil && n >= 1 {
		col.TimeScale = n
	}
	faults, err1 := strconv.ParseInt(tr.Facts["calibration_faults_ns"], 10, 64)
	compute, err2 := strconv.ParseInt(tr.Facts["calibration_compute_ns"], 10, 64)
	spawn, err3 := strconv.ParseInt(tr.Facts["calibration_spawn_ns"], 10, 64)
	if err1 == nil && err2 == nil && err3 == nil {
		col.Calibration = &Calibration{Faults: time.Duration(faults), Compute: time.Duration(compute), Spawn: time.Duration(spawn)}
	}
	if c := tr.Facts["cgroup_controllers"]; c != "" {
		col.Controllers = strings.Split(c, ",")
	}
	for i := 0; ; i++ {
		p, ok := tr.Facts[fmt.Sprintf("cgroup_problem_%d", i)]
		if !ok {
			break
		}
		col.CgroupProblems = append(col.CgroupProblems, p)
	}
	col.Problems = append(col.Problems, tr.Problems...)
	switch {
	case runErr != nil && !col.Booted:
		col.Reason = runErr.Error() + consoleTail(vmDir)
	case !col.Booted:
		col.Reason = "the guest never reported: the kernel did not reach /init" + consoleTail(vmDir)
	case tr.Facts["error"] != "":
		col.Reason = "guest: " + tr.Facts["error"]
	case runErr != nil:
		col.Reason = runErr.Error()
	case !tr.Done:
		col.Reason = "the guest stopped before its done line (crash or panic)" + consoleTail(vmDir)
	}
	for name, data := range tr.Files {
		if base, ok := strings.CutSuffix(name, ".gz"); ok {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err == nil {
				data, err = io.ReadAll(zr)
			}
			if err != nil {
				col.Problems = append(col.Problems, fmt.Sprintf("file %s: gunzip: %v", name, err))
				continue
			}
			name = base
		}
		target := filepath.Join(dir, name)
		if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".xml") {
			target = filepath.Join(vmDir, name) // notes, not reports
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			col.Problems = append(col.Problems, fmt.Sprintf("write %s: %v", name, err))
		}
		if name == "bench.json" {
			col.Bench = true
		}
	}
	facts, _ := json.MarshalIndent(tr.Facts, "", "  ")
	os.WriteFile(filepath.Join(vmDir, "facts.txt"), facts, 0o644)
	col.Suites = map[string]SuiteSummary{}
	for key, v := range tr.Facts {
		backend, ok := strings.CutPrefix(key, "suite_")
		if !ok || !strings.HasSuffix(backend, "_exit") {
			continue
		}
		backend = strings.TrimSuffix(backend, "_exit")
		s := SuiteSummary{Exit: v, Seconds: tr.Facts["suite_"+backend+"_seconds"]}
		if err := tallyReport(filepath.Join(dir, backend+".json"), &s); err != nil {
			col.Problems = append(col.Problems, fmt.Sprintf("%s report: %v", backend, err))
		}
		col.Suites[backend] = s
	}
	if len(col.Suites) == 0 {
		col.Suites = nil
	}
	writeColumnNote(filepath.Dir(dir), col)
	return col
}

// writeColumnNote keeps the column's summary beside its results, for a
// reader of one directory (vm/column.txt; not .json, which the report
// loader would take for a conformance report).
func writeColumnNote(out string, col Column) {
	vmDir := filepath.Join(out, col.Name, "vm")
	if err := os.MkdirAll(vmDir, 0o755); err != nil {
		return
	}
	b, _ := json.MarshalIndent(col, "", "  ")
	os.WriteFile(filepath.Join(vmDir, "column.txt"), append(b, '\n'), 0o644)
}

// consoleTail is the last lines of the console, to say why a VM died.
func consoleTail(vmDir string) string {
	b, err := os.ReadFile(filepath.Join(vmDir, "console.log"))
	if err != nil || len(b) == 0 {
		return " (no console output)"
	}
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), "\r", "")), "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	return "; console ends: " + strings.Join(lines, " | ")
}

// tallyReport counts the specs of a Ginkgo JSON report.
func tallyReport(path string, s *SuiteSummary) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil {
		return err
	}
	for _, r := range reports {
		for _, sr := range r.SpecReports {
			if sr.LeafNodeType != types.NodeTypeIt {
				continue
			}
			switch {
			case sr.State.Is(types.SpecStatePassed):
				s.Passed++
			case sr.State.Is(types.SpecStateFailureStates):
				s.Failed++
				msg := sr.Failure.Message
				if i := strings.IndexByte(msg, '\n'); i >= 0 {
					msg = msg[:i]
				}
				s.Failures = append(s.Failures, fmt.Sprintf("%v %s: %s", sr.Labels(), sr.FullText(), msg))
			default:
				s.Skipped++
			}
		}
	}
	return nil
}

// hostInfo describes this host's kernel and cgroup mode.
func hostInfo() HostInfo {
	var uts unix.Utsname
	unix.Uname(&uts)
	h := HostInfo{Kernel: unix.ByteSliceToString(uts.Release[:])}
	var st unix.Statfs_t
	switch {
	case unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC:
		h.Cgroup = CgroupV2
	case fileExists("/sys/fs/cgroup/unified"):
		h.Cgroup = "hybrid"
	default:
		h.Cgroup = CgroupV1
	}
	return h
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// majorMinor cuts a kernel release to "6.18".
func majorMinor(release string) string {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return release
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	return parts[0] + "." + minor
}

// runHost runs the suites on this host with the same filter, as one more
// column.
func runHost(ctx context.Context, cfg Config, bins Binaries, h HostInfo) Column {
	col := Column{Name: "host-" + majorMinor(h.Kernel) + "-" + h.Cgroup, Kernel: "host " + majorMinor(h.Kernel), KernelRelease: h.Kernel, Cgroup: h.Cgroup, Booted: true, TimeScale: 1}
	dir := filepath.Join(cfg.Out, col.Name)
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	col.Suites = map[string]SuiteSummary{}
	t0 := time.Now()
	for _, b := range cfg.Backends {
		args := []string{"--backend=" + b, "--report-dir=" + dir, "-ginkgo.no-color", "-ginkgo.timeout=" + cfg.SuiteTimeout.String()}
		if cfg.LabelFilter != "" {
			args = append(args, "-ginkgo.label-filter="+cfg.LabelFilter)
		}
		cfg.logf("host: suites on %s", b)
		t1 := time.Now()
		cmd := exec.CommandContext(ctx, bins.Suites, args...)
		cmd.Env = append(os.Environ(), probes.PrebuiltEnv+"="+bins.Probe)
		log, _ := os.Create(filepath.Join(dir, b+".log"))
		cmd.Stdout, cmd.Stderr = log, log
		err := cmd.Run()
		log.Close()
		s := SuiteSummary{Exit: "0", Seconds: fmt.Sprintf("%.1f", time.Since(t1).Seconds())}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.Exit = fmt.Sprint(ee.ExitCode())
		} else if err != nil {
			s.Exit = err.Error()
		}
		if err := tallyReport(filepath.Join(dir, b+".json"), &s); err != nil {
			col.Problems = append(col.Problems, fmt.Sprintf("%s report: %v", b, err))
		}
		col.Suites[b] = s
	}
	col.Completed = true
	col.Seconds = time.Since(t0).Round(100 * time.Millisecond).Seconds()
	return col
}
