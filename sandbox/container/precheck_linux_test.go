package container

// Tests that Pool.Run refuses exactly the specs the one-shot runner refuses.

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gosandbox/sandbox"
)

// TestPoolRefusesWhatOneshotRefuses: Pool.Run runs the same host
// pre-check as oneshot.Run (sandbox.Spec.Prepare, mount.CheckBinds), so
// specs the one-shot runner refuses are errors here too, not internal-error
// results of the container built for them.
func TestPoolRefusesWhatOneshotRefuses(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, make([]byte, 256<<10), 0o644)
	etc, err := os.Open("/etc")
	if err != nil {
		t.Fatal(err)
	}
	defer etc.Close()
	cases := map[string]struct {
		spec    sandbox.Spec
		mention string
	}{
		"missing bind source": {sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/nonexistent/src", Target: "/data"}}}, "bind[0]"},
		"copy-in too big": {sandbox.Spec{Args: []string{"/bin/true"}, Limits: sandbox.Limits{Tmpfs: 128 << 10},
			CopyIn: []sandbox.CopyIn{{Name: "big", HostPath: big}}}, "tmpfs"},
		"directory as stdin":   {sandbox.Spec{Args: []string{"/bin/true"}, Stdin: etc}, "stdin"},
		"directory extra file": {sandbox.Spec{Args: []string{"/bin/true"}, ExtraFiles: []*os.File{etc}}, "extra_files[0]"},
		"memory below minimum": {sandbox.Spec{Args: []string{"/bin/true"}, Limits: sandbox.Limits{Memory: 1}}, "limits.memory"},
		"bind over /proc":      {sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/etc/hostname", Target: "/proc/x"}}}, "bind[0]"},
		"bind inside /w":       {sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/etc", Target: "/w/etc"}}}, "bind[0]"},
		"bind inside /tmp":     {sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/tmp", Target: "/tmp/x"}}}, "/tmp/x"},
		"bind below a file":    {sandbox.Spec{Args: []string{"/bin/true"}, Binds: []sandbox.Bind{{Source: "/tmp", Target: "/etc/passwd/x"}}}, "/etc/passwd is not a directory"},
	}
	for name, tc := range cases {
		_, err := p.Run(testContext(t), tc.spec)
		if !errors.Is(err, sandbox.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: Run = %v; want ErrInvalidSpec naming %q", name, err, tc.mention)
		}
	}
	// The pool still runs, with the backend named and the default PATH.
	o := runSpec(t, p, sandbox.Spec{Args: []string{"sh", "-c", `echo "$PATH"`}})
	if o.Status != sandbox.StatusOK || o.Backend != BackendName || o.Stdout != sandbox.DefaultPath+"\n" {
		t.Errorf("after the refusals: %+v stdout %q; want ok, backend %q, PATH=%s", o.Result, o.Stdout, BackendName, sandbox.DefaultPath)
	}
}
