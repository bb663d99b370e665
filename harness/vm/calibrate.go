package vm

import (
	"math"
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

// Calibration is the time of the calibration loop's two parts: page faults
// on fresh memory (a Go program's start, the specs that touch 100 MiB) and
// plain computation. Emulation slows them by different factors, and a
// paravirtualised host's page faults are dear: they are timed apart.
type Calibration struct {
	Faults  time.Duration `json:"faults_ns"`
	Compute time.Duration `json:"compute_ns"`
}

// calibrationSink keeps the compute loop's result alive.
var calibrationSink uint64

// calibrationLoop runs the loop once.
func calibrationLoop() Calibration {
	const (
		region = 16 << 20
		page   = 4096
	)
	var c Calibration
	t0 := time.Now()
	if mem, err := unix.Mmap(-1, 0, region, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err == nil {
		for i := 0; i < region; i += page {
			mem[i] = byte(i)
		}
		unix.Munmap(mem)
	}
	c.Faults = time.Since(t0)
	t0 = time.Now()
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
	c.Compute = time.Since(t0)
	return c
}

// Calibrate times the loop calibrationRuns times and returns, per part,
// the fastest run (what the machine can do: the host's reference) and the
// median (what a program typically gets: the guest's, whose CPU clock also
// runs on while the host does not schedule the VM).
func Calibrate() (fastest, median Calibration) {
	var faults, compute []time.Duration
	for i := 0; i < calibrationRuns; i++ {
		c := calibrationLoop()
		faults, compute = append(faults, c.Faults), append(compute, c.Compute)
	}
	slices.Sort(faults)
	slices.Sort(compute)
	return Calibration{faults[0], compute[0]}, Calibration{faults[len(faults)/2], compute[len(compute)/2]}
}

// TimeScale is how many times slower the guest ran the calibration than the
// host, the larger of the two parts' ratios, rounded up to a whole number
// and at least 1: rounding up keeps the factor (and so each spec's limits)
// the same from one run of a column to the next unless the machine's speed
// itself changed.
func TimeScale(guest, host Calibration) int {
	ratio := 1.0
	for _, p := range [][2]time.Duration{{guest.Faults, host.Faults}, {guest.Compute, host.Compute}} {
		if p[1] > 0 {
			ratio = max(ratio, float64(p[0])/float64(p[1]))
		}
	}
	return int(math.Ceil(ratio - 1e-9))
}
