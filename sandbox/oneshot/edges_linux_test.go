package oneshot

// Verdicts at the edges of limits (B7): the final CPU total, self-raised signals, output cut at the limit.

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// Verdicts at the edges (B7): what ends a run must not change which limit
// it reached.

// runOn is run for a Runner of the test's own (closed afterwards).
func runOn(t *testing.T, r *Runner, spec sandbox.Spec) sandbox.Result {
	t.Helper()
	if spec.Stdout == nil {
		spec.Stdout = tempFile(t)
	}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Runner.Close: %v", err)
	}
	assertNothingLeft(t)
	t.Logf("%q: status %s exit %d signal %q cpu %v acct %s msg %q", spec.Args, res.Status, res.ExitCode, res.Signal, res.CPU(), res.Accounting, res.Message)
	return res
}

// TestFinalCPUTotalCounts: a program that exits 0 just as its CPU total
// reaches the limit, between two checks of the supervisor (here: none at
// all), is cpu-limit, from the cgroup's total and from rusage alike.
func TestFinalCPUTotalCounts(t *testing.T) {
	needRoot(t)
	for _, noCgroups := range []bool{false, true} {
		t.Run("no cgroups "+strconv.FormatBool(noCgroups), func(t *testing.T) {
			r := &Runner{CPUPoll: time.Hour, NoCgroups: noCgroups}
			spec := probe("spin-cpu", "300ms")
			spec.Limits = sandbox.Limits{CPU: 300 * time.Millisecond, Wall: time.Minute}
			res := runOn(t, r, spec)
			if res.Status != sandbox.StatusCPULimit || res.CPU() < 300*time.Millisecond {
				t.Errorf("status %s cpu %v; want cpu-limit with at least 300ms", res.Status, res.CPU())
			}
		})
	}
}

// TestSelfRaisedSignalsAreSignals: SIGXCPU or SIGXFSZ raised by the program
// itself, far from any limit, is the program's own signal.
func TestSelfRaisedSignalsAreSignals(t *testing.T) {
	needRoot(t)
	for _, sig := range []string{"XCPU", "XFSZ"} {
		spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", "kill -" + sig + " $$"}}
		o := run(t, spec)
		if o.Status == sandbox.StatusOK {
			t.Skipf("SIG%s: the program is pid 1 of its box and its own signal was ignored", sig)
		}
		if o.Status != sandbox.StatusSignalled || o.Signal != "SIG"+sig {
			t.Errorf("status %s signal %q; want signalled SIG%s", o.Status, o.Signal, sig)
		}
	}
}

// TestOutputCutSilently: RLIMIT_FSIZE shortens a write to a --stdout file
// at the limit without any signal; the program ignores it and exits 0.
func TestOutputCutSilently(t *testing.T) {
	needRoot(t)
	out := tempFile(t)
	spec := probe("write-once", strconv.Itoa(2<<20))
	spec.Stdout = out
	spec.Limits = sandbox.Limits{Output: 1 << 20}
	o := run(t, spec)
	st, err := out.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != sandbox.StatusOutputLimit || st.Size() != 1<<20 {
		t.Errorf("status %s, file %d bytes; want output-limit and 1MiB", o.Status, st.Size())
	}
}

// TestOutputLimitInTheBoxOwnW: a run without copies has its /w on a tmpfs
// of its own, out of the host's sight unless it looks through the box.
func TestOutputLimitInTheBoxOwnW(t *testing.T) {
	needRoot(t)
	spec := probe("write-w", "big", strconv.Itoa(2<<20))
	spec.Limits = sandbox.Limits{Output: 1 << 20}
	o := run(t, spec)
	if o.Status != sandbox.StatusOutputLimit {
		t.Errorf("status %s; want output-limit", o.Status)
	}
}

// TestCopyInIsNotOutput: a copied-in file over the output limit is input;
// rewritten by the program it counts (R10).
func TestCopyInIsNotOutput(t *testing.T) {
	needRoot(t)
	big := make([]byte, 3<<19) // 1.5 MiB
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, big, 0o644); err != nil {
		t.Fatal(err)
	}
	limits := sandbox.Limits{Output: 1 << 20}
	cases := []struct {
		name   string
		spec   sandbox.Spec
		status sandbox.Status
	}{
		{"left alone, program fails", sandbox.Spec{Args: []string{"/bin/false"},
			CopyIn: []sandbox.CopyIn{{Name: "big", Content: big}, {Name: "d/big", HostPath: src}}},
			sandbox.StatusNonzeroExit},
		{"left alone, program succeeds", sandbox.Spec{Args: []string{"/bin/true"}, CopyIn: []sandbox.CopyIn{{Name: "big", Content: big}}},
			sandbox.StatusOK},
		{"rewritten in place", sandbox.Spec{Args: []string{"/bin/sh", "-c", "printf x | dd of=big conv=notrunc status=none; exit 1"},
			CopyIn: []sandbox.CopyIn{{Name: "big", Content: big}}},
			sandbox.StatusOutputLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Limits = limits
			o := run(t, tc.spec)
			if o.Status != tc.status {
				t.Errorf("status %s; want %s", o.Status, tc.status)
			}
		})
	}
}
