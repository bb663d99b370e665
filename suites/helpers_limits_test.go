package suites

// Helpers of the Limits, Syscalls, Reuse and Robustness specs: bounded runs
// (a backend that hangs fails the spec instead of the whole suite), reading
// the probe's key=value facts, and looking at the host for what a box might
// have left behind.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"gosandbox/harness"
	"gosandbox/sandbox"
)

const (
	mib = int64(1) << 20
	// hangSlack is how long past its own wall limit (plus start-up) a run may
	// take before the spec calls it a hang. It is a guard against deadlock,
	// not a timing expectation.
	hangSlack = 30 * time.Second
)

// limitedProbe is probeSpec with limits.
func limitedProbe(l sandbox.Limits, action string, args ...string) sandbox.Spec {
	s := probeSpec(action, args...)
	s.Limits = l
	return s
}

// runBounded runs spec like run, but under a context that ends hangSlack
// after the run's wall limit, and fails the spec (rather than hanging the
// suite) when the backend does not return even then.
func runBounded(spec sandbox.Spec) Outcome {
	GinkgoHelper()
	o, err := runBoundedErr(spec)
	Expect(err).NotTo(HaveOccurred(), "backend %s refused the spec", backend.Name())
	return o
}

// runBoundedErr is runBounded that hands back the backend's error.
func runBoundedErr(spec sandbox.Spec) (Outcome, error) {
	GinkgoHelper()
	return runBoundedOn(backend, spec)
}

// runBoundedOn is runBoundedErr on another backend than the one under test
// (a second instance of it).
func runBoundedOn(backend harness.Backend, spec sandbox.Spec) (Outcome, error) {
	GinkgoHelper()
	var outFile, errFile *os.File
	if spec.Stdout == nil {
		outFile = tempFile()
		spec.Stdout = outFile
	}
	if spec.Stderr == nil {
		errFile = tempFile()
		spec.Stderr = errFile
	}
	spec.Limits = withRoom(spec.Limits)
	budget := spec.Limits.WithDefaults().Wall + scaled(hangSlack)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	type answer struct {
		res sandbox.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer GinkgoRecover()
		res, err := backend.Run(ctx, spec)
		done <- answer{res, err}
	}()
	var a answer
	select {
	case a = <-done:
	case <-time.After(budget + 15*time.Second):
		Fail("backend " + backend.Name() + " did not return from Run " + (budget + 15*time.Second).String() +
			" after the start, although its context ended: a hang")
	}
	o := Outcome{Result: a.res}
	if outFile != nil {
		o.Stdout = readBack(outFile)
	}
	if errFile != nil {
		o.Stderr = readBack(errFile)
	}
	return o, a.err
}

// describe is a one-line account of an outcome for failure messages.
func describe(o Outcome) string {
	clip := func(s string) string {
		if len(s) > 600 {
			return s[:600] + "...(clipped)"
		}
		return s
	}
	return "status=" + string(o.Status) + " exit_code=" + strconv.Itoa(o.ExitCode) + " signal=" + o.Signal +
		" cpu=" + o.CPU().String() + " wall=" + o.Wall().String() +
		" memory=" + strconv.FormatInt(o.MemoryBytes, 10) + " procs_peak=" + strconv.Itoa(o.ProcsPeak) +
		" oom=" + strconv.FormatBool(o.OOMKilled) + " accounting=" + o.Accounting +
		" message=" + strconv.Quote(o.Message) + "\nstdout:\n" + clip(o.Stdout) + "\nstderr:\n" + clip(o.Stderr)
}

// factOf returns the value of the last "key=value" line of out, and whether
// there was one.
func factOf(out, key string) (string, bool) {
	value, found := "", false
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			value, found = v, true
		}
	}
	return value, found
}

// skipIfUnsupported skips the spec when the backend declares any of keys
// (a property ID or a Spec field) unsupported, giving its reason.
func skipIfUnsupported(keys ...string) {
	for _, k := range keys {
		if why, ok := backend.Features().Unsupported[k]; ok {
			Skip("backend " + backend.Name() + " does not support " + k + ": " + why)
		}
	}
}

var markerCount atomic.Int64

// newMarker returns a string unique to this spec and process, to tag box
// processes and traces so the host can find exactly those.
func newMarker(what string) string {
	return "gosbx-" + what + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(markerCount.Add(1), 10) +
		"-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

// hostPidsWith lists host processes (other than this one and those in skip)
// whose command line contains marker.
func hostPidsWith(marker string, skip ...int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == pid
		}
		if skipped {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killMarked kills every host process whose command line holds marker: the
// clean-up after a spec that found box processes surviving their run.
func killMarked(marker string) {
	for _, pid := range hostPidsWith(marker) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// sweepSupervisorLeftovers removes what backends left on the host for a
// supervisor process that was killed (B4): cgroups and mounts named
// KIND-PID-N for its pid, and their mount points. It returns what it removed.
func sweepSupervisorLeftovers(pid int) []string {
	owned := func(name string) bool {
		m := pidTagged.FindStringSubmatch(name)
		return m != nil && m[1] == strconv.Itoa(pid)
	}
	var removed, cgroups []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && owned(d.Name()) {
			cgroups = append(cgroups, p)
		}
		return nil
	})
	// Deepest first: a cgroup goes only once its children are gone.
	sort.Slice(cgroups, func(i, j int) bool { return len(cgroups[i]) > len(cgroups[j]) })
	for _, c := range cgroups {
		if os.Remove(c) == nil {
			removed = append(removed, "cgroup "+c)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 4 && owned(filepath.Base(fields[4])) {
				if unix.Unmount(fields[4], unix.MNT_DETACH) == nil {
					removed = append(removed, "mount "+fields[4])
					os.Remove(fields[4])
				}
			}
		}
	}
	if dirs, err := filepath.Glob("/run/gosandbox/*/*"); err == nil {
		for _, d := range dirs {
			if owned(filepath.Base(d)) && os.Remove(d) == nil {
				removed = append(removed, "dir "+d)
			}
		}
	}
	return removed
}

// sizeText writes n bytes in MiB for messages.
func sizeText(n int64) string {
	return strconv.FormatFloat(float64(n)/float64(mib), 'f', 1, 64) + "MiB"
}

// hostDirForBoxes makes a temporary host directory any box uid may write
// (a writable bind's source), removed after the spec.
func hostDirForBoxes(prefix string) string {
	d, err := os.MkdirTemp("", prefix)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Chmod(d, 0o777)).To(Succeed())
	DeferCleanup(func() { os.RemoveAll(d) })
	return d
}
