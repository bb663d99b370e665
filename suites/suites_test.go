package suites

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

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

func TestSuites(t *testing.T) {
	RegisterFailHandler(Fail)
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
	_, err = probes.Build(dir)
	Expect(err).NotTo(HaveOccurred(), "building the probe program")
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
	res, err := backend.Run(context.Background(), spec)
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
