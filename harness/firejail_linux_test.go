package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"gosandbox/sandbox"
)

func TestFirejailBackend(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: firejail refuses users outside /etc/firejail/firejail.users")
	}
	if _, err := exec.LookPath("firejail"); err != nil {
		t.Skip("firejail is not installed (apt-get install firejail)")
	}
	b, err := Open("firejail", Options{})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("firejail cannot run here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if f := b.Features(); !f.Isolated || !f.Seccomp || f.Reuses || f.Cgroups || f.Unsupported["Limits.Memory"] == "" {
		t.Errorf("features %+v", f)
	}
	res, err := b.Run(context.Background(), sandbox.Spec{
		Args:    []string{"/bin/sh", "-c", "test \"$(pwd)\" = /w && echo hi > /w/out && exit 5"},
		CopyOut: []string{"out"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != "firejail" || res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 5 || res.Wall() <= 0 {
		t.Errorf("result %+v", res)
	}
	if got := string(res.Files["out"]); got != "hi\n" {
		t.Errorf("copy-out out = %q (errors %v)", got, res.FileErrors)
	}
	res, err = b.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/sh", "-c", "kill -TERM $$"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.StatusSignalled || res.Signal != "SIGTERM" {
		t.Errorf("signalled run: %+v", res)
	}
	if _, err := b.Run(context.Background(), sandbox.Spec{}); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("empty spec: %v, want ErrInvalidSpec", err)
	}
}
