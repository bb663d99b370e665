package vm

import (
	"os/exec"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// TimeScaleEnv names the environment variable that carries a column's time
// scale to the suites inside the VM: a whole number by which they multiply
// the CPU and wall limits that are room for a program to run, never the
// limits a spec checks the enforcement of. Unset (the host) means 1.
const TimeScaleEnv = "GOSANDBOX_TIME_SCALE"

// calibrationRuns is how many loops Calibrate times.
const calibrationRuns = 5

// spawnsPerRun is how many times a calibration loop starts the static
// program.
const spawnsPerRun = 4

// Calibration is the CPU time of the calibration loop's parts: page faults
// on fresh memory (the specs that touch 100 MiB), plain integer work, and
// starting a static Go program and waiting for it (what most specs spend
// their time on: a probe's exec and runtime start). Emulation slows them
// by different factors, and a paravirtualised host's page faults are dear:
// they are timed apart. CPU time, not wall time: on a loaded host the
// host's figure stays what the machine can do, while a guest's CPU clock
// runs on while the host does not schedule the VM, exactly as the specs'
// CPU figures in that guest will.
type Calibration struct {
	Faults  time.Duration `json:"faults_ns"`
	Compute time.Duration `json:"compute_ns"`
	Spawn   time.Duration `json:"spawn_ns"`
}

// calibrationSink keeps the compute loop's result alive.
var calibrationSink uint64

// cpuTime is the CPU time of this process and its waited-for children.
func cpuTime() time.Duration {
	var self, kids unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	var d time.Duration
	for _, tv := range []unix.Timeval{self.Utime, self.Stime, kids.Utime, kids.Stime} {
		d += time.Duration(tv.Nano())
	}
	return d
}

// calibrationLoop runs the loop once; trueProgram is a static program that
// exits 0 when its argv[0] is "true" (the guest's /init, see guestinit).
func calibrationLoop(trueProgram string) Calibration {
	const (
		region = 16 << 20
		page   = 4096
	)
	var c Calibration
	t0 := cpuTime()
	if mem, err := unix.Mmap(-1, 0, region, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err == nil {
		for i := 0; i < region; i += page {
			mem[i] = byte(i)
		}
		unix.Munmap(mem)
	}
	c.Faults = cpuTime() - t0

	t0 = cpuTime()
	// Plain integer work on a cache-sized buffer, no special instructions
	// (crypto/sha256 would use the host's SHA extensions, which an
	// emulator runs far slower than ordinary code).
	buf := make([]uint64, 1<<14)
	x := uint64(0x9e3779b97f4a7c15)
	for round := 0; round < 512; round++ {
		for i := range buf {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			buf[i] += x
		}
	}
	calibrationSink = buf[x%uint64(len(buf))]
	c.Compute = cpuTime() - t0

	if trueProgram != "" {
		t0 = cpuTime()
		for i := 0; i < spawnsPerRun; i++ {
			cmd := exec.Command(trueProgram)
			cmd.Args = []string{"true"}
			cmd.Run()
		}
		c.Spawn = cpuTime() - t0
	}
	return c
}

// Calibrate times the loop calibrationRuns times and returns the fastest
// run of each part: what the machine can do, the least disturbed by
// whatever else runs on the host.
func Calibrate(trueProgram string) Calibration {
	var faults, compute, spawn []time.Duration
	for i := 0; i < calibrationRuns; i++ {
		c := calibrationLoop(trueProgram)
		faults, compute, spawn = append(faults, c.Faults), append(compute, c.Compute), append(spawn, c.Spawn)
	}
	return Calibration{slices.Min(faults), slices.Min(compute), slices.Min(spawn)}
}

// MaxTimeScale caps the time scale: a spec that runs into a scaled default
// limit on purpose then costs at most 64 s of CPU (32 x 2 s).
const MaxTimeScale = 32

// TimeScale is the factor for a guest whose fastest calibration is guest
// against the host's host: the largest of the parts' ratios, doubled (the
// fastest runs compare the machines; the suites then run under whatever
// load the host has, which slows an emulated guest's CPU clock as well),
// rounded up to a power of two, at least 1 and at most MaxTimeScale. Powers
// of two keep the factor, and so each spec's limits, the same from one run
// of a column to the next unless the speed changed by nearly a factor of
// two.
func TimeScale(guest, host Calibration) int {
	ratio := 1.0
	for _, p := range [][2]time.Duration{{guest.Faults, host.Faults}, {guest.Compute, host.Compute}, {guest.Spawn, host.Spawn}} {
		if p[1] > 0 {
			ratio = max(ratio, float64(p[0])/float64(p[1]))
		}
	}
	if ratio <= 1 {
		return 1
	}
	scale := 1
	for float64(scale) < 2*ratio-1e-9 && scale < MaxTimeScale {
		scale *= 2
	}
	return scale
}
