package forkexec

// Tests of a vforked child joining its cgroups through cgroup.procs files.

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox/cgroup"
)

// TestVforkJoinsCgroupProcs starts vfork children in fresh IPC and UTS
// namespaces that join a cgroup by themselves (CgroupProcs) and root a
// cgroup namespace there: the child sees itself at the namespace's root and
// the group's accounting counts it.
func TestVforkJoinsCgroupProcs(t *testing.T) {
	testhost.NeedRoot(t, "making cgroups")
	checkNoLeaks(t)
	m, err := cgroup.New()
	if err != nil {
		t.Skipf("cgroups: %v", err)
	}
	defer m.Close()
	g, err := m.Create("forkexec-test-procs", cgroup.Limits{Procs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	files, err := g.ProcsFiles()
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, f := range files {
		defer f.Close()
		fds = append(fds, int(f.Fd()))
	}
	out := testhost.TempFile(t, "out")
	r := &Runner{
		Args:                   []string{"/bin/cat", "/proc/self/cgroup"},
		Files:                  []int{-1, int(out.Fd()), int(out.Fd())},
		UID:                    -1,
		GID:                    -1,
		CloneFlags:             unix.CLONE_NEWIPC | unix.CLONE_NEWUTS,
		CgroupProcs:            fds,
		UnshareCgroupAfterSync: true,
		Vfork:                  true,
	}
	if p, err := r.prepare(); err != nil || !p.vfork {
		t.Fatalf("prepare: vfork %v, %v", p != nil && p.vfork, err)
	}
	ws, s := runOut(t, r, out)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("status %v output %q", ws, s)
	}
	joined := 0
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && (strings.Contains(f[1], "memory") || strings.Contains(f[1], "pids")) {
			if f[2] != "/" {
				t.Fatalf("not at its cgroup namespace's root: %q\n%s", l, s)
			}
			joined++
		}
	}
	if m.Info().Mode == cgroup.V1 && joined == 0 {
		t.Fatalf("no memory or pids line:\n%s", s)
	}
	if u, err := g.Usage(); err != nil || u.CPU == 0 {
		t.Fatalf("the group did not account the child: %+v %v", u, err)
	}

	// A descriptor the child cannot write names the step.
	ro, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	r.CgroupProcs = []int{int(ro.Fd())}
	_, err = r.Start()
	var ce *ChildError
	if !errors.As(err, &ce) || ce.Step != StepJoinCgroup || ce.Errno != unix.EBADF {
		t.Fatalf("want join cgroup EBADF, got %v", err)
	}
}
