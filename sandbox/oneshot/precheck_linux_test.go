package oneshot

// Tests of what one-shot refuses or fills in before a box is made: streams, PATH, minimum limits.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// TestDirectoryStreamRefused (H3): a directory as a standard stream or an
// extra file would let the box fchdir into the host file system.
func TestDirectoryStreamRefused(t *testing.T) {
	etc, err := os.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	defer etc.Close()
	for field, spec := range map[string]sandbox.Spec{
		"stdin":          {Args: []string{"/bin/true"}, Stdin: etc},
		"stdout":         {Args: []string{"/bin/true"}, Stdout: etc},
		"stderr":         {Args: []string{"/bin/true"}, Stderr: etc},
		"extra_files[0]": {Args: []string{"/bin/true"}, ExtraFiles: []*os.File{etc}},
	} {
		_, err := testRunner.Run(context.Background(), spec)
		if !errors.Is(err, sandbox.ErrInvalidSpec) || !strings.Contains(err.Error(), field) {
			t.Errorf("/etc as %s: Run = %v; want ErrInvalidSpec naming %s", field, err, field)
		}
	}
}

func TestResultNamesTheBackend(t *testing.T) {
	needRoot(t)
	o := run(t, sandbox.Spec{Args: []string{"/bin/true"}})
	if o.Status != sandbox.StatusOK || o.Backend != "oneshot" {
		t.Errorf("%+v: want ok with backend %q", o.Result, "oneshot")
	}
}

// TestDefaultPath: with no PATH in Env the program gets DefaultPath, so
// gcc finds its helpers (collect2 runs ld through PATH).
func TestDefaultPath(t *testing.T) {
	needRoot(t)
	o := run(t, sandbox.Spec{Args: []string{"/bin/sh", "-c", `echo "$PATH"`}, Env: []string{"A=1"}})
	if o.Status != sandbox.StatusOK || o.stdout != sandbox.DefaultPath+"\n" {
		t.Errorf("PATH in the box %q (%+v); want %s", o.stdout, o.Result, sandbox.DefaultPath)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skipf("gcc is not installed: %v", err)
	}
	spec := sandbox.Spec{
		Args:   []string{"/bin/sh", "-c", "gcc -o hello hello.c && ./hello"},
		CopyIn: []sandbox.CopyIn{{Name: "hello.c", Content: []byte("#include <stdio.h>\nint main(void) { puts(\"hello from gcc\"); return 0; }\n")}},
		Limits: sandbox.Limits{CPU: 20 * time.Second, Wall: time.Minute, Procs: 32},
	}
	o = run(t, spec)
	if o.Status != sandbox.StatusOK || o.stdout != "hello from gcc\n" {
		t.Errorf("gcc with no Env: %+v stdout %q stderr %q", o.Result, o.stdout, o.stderr)
	}
}

// TestMinimumLimitsRun: a dynamically linked shell starts with every limit
// at its documented minimum (but the times and output, which end it at
// once by design) and ends cleanly.
func TestMinimumLimitsRun(t *testing.T) {
	needRoot(t)
	spec := sandbox.Spec{
		Args: []string{"/bin/sh", "-c", "echo hi"},
		Limits: sandbox.Limits{Memory: sandbox.MinMemory, Procs: sandbox.MinProcs, Stack: sandbox.MinStack,
			OpenFiles: sandbox.MinOpenFiles, Tmpfs: sandbox.MinTmpfs, AddressSpace: sandbox.MinAddressSpace},
	}
	o := run(t, spec)
	if o.Status != sandbox.StatusOK || o.stdout != "hi\n" {
		t.Errorf("at the minimums: %+v stdout %q stderr %q", o.Result, o.stdout, o.stderr)
	}
	spec.Limits = sandbox.Limits{CPU: sandbox.MinCPU, Wall: sandbox.MinWall, Output: sandbox.MinOutput}
	o = run(t, spec)
	if o.Status == sandbox.StatusInternalError {
		t.Errorf("minimum cpu, wall and output: %+v", o.Result)
	}
}
