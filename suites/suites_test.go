package suites

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/harness"
	"gosandbox/harness/probes"
	"gosandbox/sandbox"
)

var (
	backendName = flag.String("backend", "oneshot", "sandbox backend to check: "+fmt.Sprint(harness.Names()))
	poolSize    = flag.Int("pool", 1, "containers a pooled backend keeps ready")
	reportDir   = flag.String("report-dir", "", "where <backend>.json and .xml go (default: out/conformance at the repository root)")
)

// backend is the sandbox under test, opened once per Ginkgo process.
var backend harness.Backend

// probeDir is the host directory holding the probe binary; it is bound
// read-only into every box at probeMount.
var probeDir string

const probeMount = "/opt/probe"

// runGrace is how long past twice its wall limit run waits for a run before
// cancelling it.
const runGrace = time.Minute

func TestSuites(t *testing.T) {
	RegisterFailHandler(Fail)
	if timeScaleErr != nil {
		t.Fatalf("conformance: %v", timeScaleErr)
	}
	// An unknown or unavailable backend stops the run here, with one clear
	// message, instead of hundreds of failed or skipped specs.
	b, err := harness.Open(*backendName, harness.Options{PoolSize: *poolSize})
	if err != nil {
		t.Fatalf("conformance: backend %q: %v", *backendName, err)
	}
	backend = b
	defer backend.Close()
	RunSpecs(t, "gosandbox conformance ("+*backendName+")")
}

var _ = SynchronizedBeforeSuite(func() []byte {
	dir, err := os.MkdirTemp("", "gosandbox-probe-")
	Expect(err).NotTo(HaveOccurred())
	Expect(os.Chmod(dir, 0o755)).To(Succeed())
	probe, err := probes.Build(dir)
	Expect(err).NotTo(HaveOccurred(), "building the probe program")
	Expect(installSetuidProbe(probe)).To(Succeed())
	return []byte(dir)
}, func(dir []byte) {
	probeDir = string(dir)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	if probeDir != "" {
		os.RemoveAll(probeDir)
	}
})

// repoRoot is the repository root, found from this file's place.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// probeSpec is a Spec that runs the probe's action inside the box.
func probeSpec(action string, args ...string) sandbox.Spec {
	return sandbox.Spec{
		Args:  append([]string{probeMount + "/probe", action}, args...),
		Env:   []string{"PATH=/usr/bin:/bin"},
		Binds: []sandbox.Bind{{Source: probeDir, Target: probeMount}},
	}
}

// Outcome is a finished run with its captured output.
type Outcome struct {
	sandbox.Result
	Stdout, Stderr string
}

// run runs spec on the backend under test, capturing stdout and stderr unless
// the spec sets them, and fails the spec when the backend refuses it.
func run(spec sandbox.Spec) Outcome {
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
	// A safety net, not a measurement: a backend that loses track of a run
	// is told to give up long after the run's own wall limit, so the spec
	// fails with what the backend reports instead of hanging the suite.
	spec.Limits = withRoom(spec.Limits)
	ctx, cancel := context.WithTimeout(context.Background(), 2*spec.Limits.WithDefaults().Wall+scaled(runGrace))
	defer cancel()
	res, err := backend.Run(ctx, spec)
	Expect(err).NotTo(HaveOccurred(), "backend %s refused the spec", backend.Name())
	o := Outcome{Result: res}
	if outFile != nil {
		o.Stdout = readBack(outFile)
	}
	if errFile != nil {
		o.Stderr = readBack(errFile)
	}
	return o
}

// runProbe runs one probe action with default limits.
func runProbe(action string, args ...string) Outcome {
	GinkgoHelper()
	return run(probeSpec(action, args...))
}

func tempFile() *os.File {
	GinkgoHelper()
	f, err := os.CreateTemp("", "gosandbox-out-")
	Expect(err).NotTo(HaveOccurred())
	os.Remove(f.Name())
	return f
}

func readBack(f *os.File) string {
	GinkgoHelper()
	defer f.Close()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// needs skips the current spec, with the reason, when the backend lacks a
// feature the property depends on.
func needs(have bool, reason string) {
	if !have {
		Skip(fmt.Sprintf("backend %s: %s", backend.Name(), reason))
	}
}

// probeSetuidMount is a set-user-ID-root copy of the probe, bound into every
// box with the probe (when the suite runs as root). The probe refuses every
// action but priv-ids when it runs set-id, so the copy is harmless on the host.
const probeSetuidMount = probeMount + "/probe-suid"

func installSetuidProbe(probe string) error {
	if os.Geteuid() != 0 {
		return nil // only root can make a set-user-ID-root file
	}
	src, err := os.Open(probe)
	if err != nil {
		return err
	}
	defer src.Close()
	dst := filepath.Join(filepath.Dir(probe), "probe-suid")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chown(dst, 0, 0); err != nil {
		return err
	}
	return os.Chmod(dst, 0o4755)
}

// probeFacts reads a probe's "key=value" lines; a later key wins.
func probeFacts(out string) map[string]string {
	facts := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			facts[k] = v
		}
	}
	return facts
}

// probeValues returns, in order, the values of every "key=value" line of the
// probe's output with that key (keys that repeat: env=, arg=, if=).
func probeValues(out, key string) []string {
	var vals []string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// probeKeyed returns every "PREFIX:NAME=value" line as NAME -> value.
func probeKeyed(out, prefix string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+":"); ok {
			if k, v, ok := strings.Cut(rest, "="); ok {
				m[k] = v
			}
		}
	}
	return m
}

// uniqueName is prefix plus a random suffix: markers, file names, keys.
func uniqueName(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// hostTempDir is a fresh host directory, readable by everyone (so that what
// decides whether a box sees it is the mounts, not the permissions), removed
// after the spec.
func hostTempDir(parent string) string {
	GinkgoHelper()
	dir, err := os.MkdirTemp(parent, "gosandbox-suite-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	Expect(os.Chmod(dir, 0o755)).To(Succeed())
	return dir
}

// startHostProcess starts a harmless host process (the probe's ps-linger)
// carrying marker in its command line, and kills it after the spec. It
// returns the process, for specs that check it is still alive.
func startHostProcess(marker string) *os.Process {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join(probeDir, "probe"), "ps-linger", marker, "plain")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	Expect(cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process
}

// hostProcessesWith lists the host pids whose command line contains marker.
func hostProcessesWith(marker string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombieChildren lists this process's children that are zombies: a backend
// must reap every child it (or a box) made it the parent of.
func zombieChildren() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(os.Getpid()) {
			pids = append(pids, pid)
		}
	}
	return pids
}
