package container

// Edge cases of a pooled run: self-raised signals, the final CPU total, output cut silently, copy-in not output.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// Verdicts at the edges (B7): a limit status only when the limit was
// really reached, whatever ended the run.

func TestSelfRaisedSignalsAreSignals(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	for _, sig := range []string{"XCPU", "XFSZ"} {
		o := runSpec(t, p, sh("kill -"+sig+" $$"))
		wantStatus(t, o, sandbox.StatusSignalled)
		if o.Signal != "SIG"+sig {
			t.Errorf("signal %q, want SIG%s", o.Signal, sig)
		}
	}
	// The same signal from a write at the limit is output-limit.
	spec := sh("head -c 100000 /dev/zero > /w/big")
	spec.Limits.Output = 50000
	o := runSpec(t, p, spec)
	wantStatus(t, o, sandbox.StatusOutputLimit)
	if o.Signal != "SIGXFSZ" && o.ExitCode == 0 {
		t.Errorf("the write at the limit neither failed nor signalled: %+v", o.Result)
	}
}

// TestFinalCPUTotalCounts: a program that exits 0 as soon as its CPU time
// reaches the limit usually ends between two of the supervisor's checks.
func TestFinalCPUTotalCounts(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	spec := sandbox.Spec{Args: []string{"/usr/bin/perl", "-MTime::HiRes=clock_gettime,CLOCK_PROCESS_CPUTIME_ID",
		"-e", "1 while clock_gettime(CLOCK_PROCESS_CPUTIME_ID) < 0.3"}}
	spec.Limits = sandbox.Limits{CPU: 300 * time.Millisecond, Wall: time.Minute}
	o := runSpec(t, p, spec)
	wantStatus(t, o, sandbox.StatusCPULimit)
	if o.CPU() < 300*time.Millisecond {
		t.Errorf("cpu %v", o.CPU())
	}
}

// TestOutputCutSilently: one write(2) past the limit to a --stdout file is
// cut short without a signal; the program exits 0.
func TestOutputCutSilently(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	out := tempFile(t)
	spec := sandbox.Spec{Args: []string{"/usr/bin/perl", "-e", `syswrite STDOUT, "x" x 2097152; exit 0`}, Stdout: out}
	spec.Limits.Output = 1 << 20
	res, err := p.Run(testContext(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := out.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.StatusOutputLimit || st.Size() != 1<<20 {
		t.Errorf("status %s exit %d, file %d bytes; want output-limit and 1MiB", res.Status, res.ExitCode, st.Size())
	}
}

// TestCopyInIsNotOutput: a copied-in file over the output limit is input
// (R10); rewritten it counts; the next run on the container starts afresh.
func TestCopyInIsNotOutput(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	big := make([]byte, 3<<19) // 1.5 MiB
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, big, 0o644); err != nil {
		t.Fatal(err)
	}
	in := []sandbox.CopyIn{{Name: "big", HostPath: src}, {Name: "d/big", Content: big}}
	limits := sandbox.Limits{Output: 1 << 20}

	spec := sandbox.Spec{Args: []string{"/bin/false"}, CopyIn: in, Limits: limits}
	wantStatus(t, runSpec(t, p, spec), sandbox.StatusNonzeroExit)

	spec = sh("printf x | dd of=big conv=notrunc status=none; exit 1")
	spec.CopyIn, spec.Limits = in, limits
	wantStatus(t, runSpec(t, p, spec), sandbox.StatusOutputLimit)

	spec = sandbox.Spec{Args: []string{"/bin/true"}, CopyIn: in, Limits: limits}
	wantStatus(t, runSpec(t, p, spec), sandbox.StatusOK)
}
