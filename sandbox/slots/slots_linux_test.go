package slots

import (
	"context"
	"os"
	"strings"
	"testing"

	"gosandbox/sandbox"
)

func newRunner(t *testing.T, size int) *Runner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("slots need root")
	}
	r, err := New(Options{Size: size})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// runOut runs args on r and returns the result and the captured stdout.
func runOut(t *testing.T, r *Runner, spec sandbox.Spec) (sandbox.Result, string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	spec.Stdout = out
	if spec.Stderr == nil {
		spec.Stderr = out
	}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run %v: %v", spec.Args, err)
	}
	b, _ := os.ReadFile(out.Name())
	return res, string(b)
}

func TestRunsTwiceOnOneSlot(t *testing.T) {
	r := newRunner(t, 1)
	for i := range 2 {
		res, out := runOut(t, r, sandbox.Spec{Args: []string{"/bin/sh", "-c", "echo $$; id -u; id -G; hostname; ls /w /tmp; cat /proc/loadavg; ls /proc | grep -c '^[0-9]'"}})
		if res.Status != sandbox.StatusOK {
			t.Fatalf("run %d: %+v\n%s", i, res, out)
		}
		t.Logf("run %d:\n%s", i, out)
		lines := strings.Split(out, "\n")
		if lines[0] != "2" || lines[1] != "1000" {
			t.Errorf("run %d: pid, uid = %q, %q; want 2 and the box uid", i, lines[0], lines[1])
		}
	}
}
