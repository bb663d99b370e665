package oneshot

// Tests of one-shot runs by a supervisor that is not root (re-executed as nobody through setpriv).

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

const unprivilegedEnv = "GOSANDBOX_ONESHOT_UNPRIVILEGED"

// TestUnprivileged runs the package's unprivileged checks as nobody: the
// test binary re-executes itself through setpriv.
func TestUnprivileged(t *testing.T) {
	if os.Getenv(unprivilegedEnv) != "" {
		unprivilegedChecks(t)
		return
	}
	out, err := testhost.RunAsNobody(t, "TestUnprivileged", unprivilegedEnv+"=1")
	t.Logf("as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("unprivileged run failed: %v", err)
	}
	if strings.Contains(string(out), "SKIP") {
		t.Skip("skipped as nobody (see the log)")
	}
}

func unprivilegedChecks(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Fatal("still root")
	}
	r := &Runner{}
	if ok, why := r.Cgroups(); ok {
		t.Errorf("cgroups usable without root?")
	} else {
		t.Logf("no cgroups: %v", why)
	}
	out, err := os.CreateTemp("", "out-")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	res, err := r.Run(context.Background(), sandbox.Spec{
		Args:    []string{"/bin/sh", "-c", "id -u; cat in.txt > out.txt; exit 3"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Stdout:  out,
		CopyIn:  []sandbox.CopyIn{{Name: "in.txt", Content: []byte("data")}},
		CopyOut: []string{"out.txt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out.Seek(0, io.SeekStart)
	stdout, _ := io.ReadAll(out)
	if res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 3 || res.Accounting != sandbox.AccountingRusage ||
		string(stdout) != "1000\n" || string(res.Files["out.txt"]) != "data" {
		t.Errorf("result %+v stdout %q", res, stdout)
	}
	res, err = r.Run(context.Background(), sandbox.Spec{
		Args:   []string{"/bin/sh", "-c", "while :; do :; done"},
		Limits: sandbox.Limits{CPU: 200 * time.Millisecond},
	})
	if err != nil || res.Status != sandbox.StatusCPULimit {
		t.Errorf("spinner: %v %+v", err, res)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), "oneshot-*"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}
