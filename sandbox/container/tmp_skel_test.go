package container

import (
	"errors"
	"os"
	"testing"

	"gosandbox/sandbox"
)

func TestTmpSkel(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	dir, _ := os.MkdirTemp("", "gosandbox-probe-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	spec := sh("true")
	spec.Binds = []sandbox.Bind{{Source: dir, Target: "/opt/probe"}}
	t.Log(runSpec(t, p, spec).Result)
	bad := spec
	bad.Binds = append(append([]sandbox.Bind(nil), spec.Binds...), sandbox.Bind{Source: "/nonexistent-x/y", Target: "/data"})
	if _, err := p.Run(testContext(t), bad); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("missing bind source: %v, want ErrInvalidSpec", err)
	}
	t.Log(runSpec(t, p, spec).Result)
}
