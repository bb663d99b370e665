package suites

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"gosandbox/harness/vm"
	"gosandbox/sandbox"
)

// timeScale is how many times slower than the host this machine runs
// programs: the kernel matrix sets vm.TimeScaleEnv inside its emulated VMs
// from a calibration loop at boot; elsewhere it is 1. It is read when the
// package initialises, before the spec tree (whose bodies use scaled) is
// built; TestSuites stops on timeScaleErr.
var timeScale, timeScaleErr = readTimeScale()

// readTimeScale reads vm.TimeScaleEnv; a value that is not a whole number
// of at least 1 is refused, naming the variable.
func readTimeScale() (int, error) {
	v, ok := os.LookupEnv(vm.TimeScaleEnv)
	if !ok || v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1, fmt.Errorf("%s=%q: want a whole number of at least 1", vm.TimeScaleEnv, v)
	}
	return n, nil
}

// scaled is d times timeScale. Specs use it for the CPU and wall time they
// give a program as room to do its work; a limit whose enforcement a spec
// checks against a figure (R1's CPU limit) stays as it is, or is scaled
// together with the figure it is checked against: emulation makes every
// program slower, not the limits less exact.
func scaled(d time.Duration) time.Duration {
	return d * time.Duration(timeScale)
}

// withRoom gives a run that leaves its CPU or wall limit at the default
// that default scaled: the defaults are a judge's, and under emulation a
// program that touches 100 MiB would reach them by slowness alone.
func withRoom(l sandbox.Limits) sandbox.Limits {
	if l.CPU == 0 {
		l.CPU = scaled(sandbox.DefaultLimits.CPU)
	}
	if l.Wall == 0 {
		l.Wall = scaled(sandbox.DefaultLimits.Wall)
	}
	return l
}
