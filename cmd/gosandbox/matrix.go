package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"gosandbox/harness/vm"
)

func init() {
	commands["matrix"] = command{
		summary: "run the suites and a quick bench on Debian kernels under qemu; writes out/matrix/",
		run:     runMatrix,
	}
}

func runMatrix(args []string) int {
	fs := flag.NewFlagSet("gosandbox matrix", flag.ContinueOnError)
	var names []string
	for _, k := range vm.DefaultKernels {
		names = append(names, k.Name)
	}
	var (
		out      = fs.String("out", "out/matrix", "directory for <kernel>-<cgroup>/ results, matrix.json and the download cache (cache/)")
		cacheDir = fs.String("cache", "", "download and build cache (default <out>/cache)")
		kernels  = fs.String("kernels", strings.Join(names, ","), "comma-separated Debian kernels to boot")
		modes    = fs.String("cgroups", "v2,v1", "comma-separated cgroup modes to boot each kernel in")
		backends = fs.String("backends", "oneshot,container", "comma-separated backends the suites run on in each VM")
		labels   = fs.String("label-filter", "", "Ginkgo label filter for the suites in each VM (default: every spec; slow under emulation)")
		suiteTO  = fs.Duration("suite-timeout", 0, "bound on each suite run inside a VM (default 20m)")
		vmTO     = fs.Duration("vm-timeout", 0, "a VM still running after this is killed and its column marked (default: suite timeouts plus 10m)")
		parallel = fs.Int("parallel", runtime.NumCPU(), "VMs at once")
		memory   = fs.Int("memory", 1536, "MiB of memory per VM")
		cpus     = fs.Int("smp", 2, "virtual CPUs per VM")
		accel    = fs.String("accel", "", "qemu accelerator: tcg (software emulation) or kvm (default tcg)")
		noBench  = fs.Bool("no-bench", false, "skip the quick bench inside each VM")
		host     = fs.Bool("host", false, "also run the suites on this host into <out>/host-<kernel>-<cgroup>/ (default: the host column is out/conformance)")
		calib    = fs.Bool("calibrate", false, "only time this machine's calibration loop (page faults, integer work, starts of /bin/true) and print it as JSON; the Vagrant matrix uses it")
		against  = fs.String("against", "", "with --calibrate: print instead the time scale of this machine against the host calibration (JSON) in this file")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: gosandbox matrix [flags]\n\nBoots each Debian kernel (fetched with a private apt configuration under <out>/cache) under\n"+
			"qemu with an initramfs of static binaries, in each cgroup mode, runs the suites and a quick bench\n"+
			"inside, and writes <out>/<kernel>-<cgroup>/<backend>.json|.xml, bench.json and <out>/matrix.json.\n"+
			"A column that cannot download, boot or finish is recorded with the reason. Exit status: 0 every\n"+
			"column ran to its end (spec failures are findings, reported, not errors), 1 some column did not,\n"+
			"2 invalid flags, 3 nothing could run (no qemu, the build failed).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gosandbox matrix: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if *against != "" && !*calib {
		fmt.Fprintln(os.Stderr, "gosandbox matrix: --against goes with --calibrate")
		return 2
	}
	if *calib {
		return matrixCalibrate(*against)
	}
	cfg := vm.Config{
		Out: *out, Cache: *cacheDir, Modes: matrixList(*modes), Backends: matrixList(*backends), LabelFilter: *labels,
		SuiteTimeout: *suiteTO, VMTimeout: *vmTO, Parallel: *parallel, MemoryMiB: *memory, CPUs: *cpus,
		Accel: *accel, NoBench: *noBench, Host: *host, Log: os.Stderr,
	}
	for _, n := range matrixList(*kernels) {
		k, ok := vm.KernelByName(n)
		if !ok {
			fmt.Fprintf(os.Stderr, "gosandbox matrix: unknown kernel %q (known: %s)\n", n, strings.Join(names, ", "))
			return 2
		}
		cfg.Kernels = append(cfg.Kernels, k)
	}
	for _, m := range cfg.Modes {
		if m != vm.CgroupV1 && m != vm.CgroupV2 {
			fmt.Fprintf(os.Stderr, "gosandbox matrix: unknown cgroup mode %q (v1, v2)\n", m)
			return 2
		}
	}
	if *accel != "" && *accel != "tcg" && *accel != "kvm" {
		fmt.Fprintf(os.Stderr, "gosandbox matrix: --accel: want tcg or kvm, not %q\n", *accel)
		return 2
	}
	repo, err := matrixModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox matrix: %v\n", err)
		return 3
	}
	cfg.Repo = repo

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := vm.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox matrix: %v\n", err)
		return 3
	}
	status := 0
	for _, c := range sum.Columns {
		if !c.Completed {
			status = 1
		}
	}
	fmt.Fprintf(os.Stderr, "gosandbox matrix: summary in %s\n", filepath.Join(*out, "matrix.json"))
	return status
}

// matrixCalibrate prints this machine's calibration, or its time scale
// against the host calibration in the file against.
func matrixCalibrate(against string) int {
	var host vm.Calibration
	if against != "" {
		data, err := os.ReadFile(against)
		if err == nil {
			err = json.Unmarshal(data, &host)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gosandbox matrix: --against: %v\n", err)
			return 2
		}
	}
	self := vm.Calibrate("/bin/true")
	if against != "" {
		fmt.Println(vm.TimeScale(self, host))
		return 0
	}
	out, _ := json.Marshal(self)
	fmt.Println(string(out))
	return 0
}

func matrixList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// matrixModuleRoot finds the gosandbox module from the working directory
// up: the guest binaries are built from its source.
func matrixModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module gosandbox") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run it inside the gosandbox source tree: the guest binaries are built from it")
		}
		dir = parent
	}
}
