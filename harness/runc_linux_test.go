package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gosandbox/sandbox"
)

func TestRuncBackend(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc is not installed")
	}
	b, err := Open("runc", Options{})
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rb := b.(*runcBackend)
	before := map[string]bool{}
	// Only this process's bundles: other test binaries (the bench) run
	// runc at the same time.
	mine := filepath.Join(plainWorkRoot(), "gosandbox-runc-"+strconv.Itoa(os.Getpid())+"-*")
	old, _ := filepath.Glob(mine)
	for _, p := range old {
		before[p] = true
	}
	if f := b.Features(); !f.Isolated || f.Reuses {
		t.Errorf("features %+v", f)
	}
	for _, tc := range []struct {
		args   []string
		status sandbox.Status
		code   int
	}{
		{[]string{"/bin/true"}, sandbox.StatusOK, 0},
		{[]string{"/bin/sh", "-c", "exit 3"}, sandbox.StatusNonzeroExit, 3},
	} {
		res, err := b.Run(context.Background(), sandbox.Spec{Args: tc.args})
		if err != nil {
			t.Fatal(err)
		}
		if res.Backend != "runc" || res.Status != tc.status || res.ExitCode != tc.code {
			t.Errorf("%q: result %+v, want %s exit %d", tc.args, res, tc.status, tc.code)
		}
	}
	// Nothing of the runs is left: no cgroup directory in any hierarchy,
	// no bundle.
	for _, h := range rb.hierarchies {
		entries, _ := filepath.Glob(filepath.Join(h.dir, "gosandbox-*"))
		for _, e := range entries {
			if strings.Contains(filepath.Base(e), "-"+strconv.Itoa(os.Getpid())+"-") {
				t.Errorf("leftover cgroup %s", e)
			}
		}
	}
	after, _ := filepath.Glob(mine)
	for _, p := range after {
		if !before[p] {
			t.Errorf("leftover bundle %s", p)
		}
	}
}
