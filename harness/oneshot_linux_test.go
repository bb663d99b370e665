package harness

import (
	"context"
	"errors"
	"testing"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

func TestOneshotBackend(t *testing.T) {
	testhost.NeedRoot(t, "boxes with an unmapped host id")
	b, err := Open("oneshot", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if f := b.Features(); !f.Isolated || !f.Seccomp || f.Reuses {
		t.Errorf("features %+v", f)
	}
	res, err := b.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/sh", "-c", "exit 5"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != "oneshot" || res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 5 {
		t.Errorf("result %+v", res)
	}
	if _, err := b.Run(context.Background(), sandbox.Spec{}); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("empty spec: %v, want ErrInvalidSpec", err)
	}
}
