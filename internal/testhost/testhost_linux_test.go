package testhost

import (
	"os"
	"testing"
)

// TestNeedRootSkipsOnlyNonRoot checks NeedRoot against the real euid: a
// child test that needs root is skipped exactly when this is not root.
func TestNeedRootSkipsOnlyNonRoot(t *testing.T) {
	var skipped bool
	t.Run("child", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		NeedRoot(t, "testing NeedRoot")
	})
	if want := os.Geteuid() != 0; skipped != want {
		t.Errorf("skipped %v as euid %d, want %v", skipped, os.Geteuid(), want)
	}
}

// TestCgroup2Root checks that a root found is a cgroup v2 mount point:
// it has cgroup.controllers, which only cgroup2 directories have.
func TestCgroup2Root(t *testing.T) {
	root := Cgroup2Root()
	if root == "" {
		t.Skip("no cgroup v2 hierarchy on this host")
	}
	if _, err := os.Stat(root + "/cgroup.controllers"); err != nil {
		t.Errorf("%s: %v", root, err)
	}
}
