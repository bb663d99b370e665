package container

// Tests of how a program enters its container's cgroup: by itself, and by the host after a late CPU set.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
)

// cgroupLines returns the /proc/self/cgroup lines of the controllers a run
// is accounted in, as the program saw them.
func cgroupLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == "memory" || c == "pids" || c == "cpuacct" || c == "cpuset" {
				lines = append(lines, l)
				break
			}
		}
	}
	return lines
}

// TestProgramJoinsItsCgroup checks the cgroup v1 start without a round trip:
// the program is in the container's group in every hierarchy (its cgroup
// namespace is rooted there, so it sees "/"), a process limit of one still
// lets the program itself start, and once a CPU set is asked for (a
// hierarchy the init's descriptors do not cover) runs take the round trip
// and are still placed everywhere.
func TestProgramJoinsItsCgroup(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1})
	c := onlyContainer(t, p)
	if c.entry == boxcfg.EntryNone {
		t.Skip("no cgroup")
	}
	if c.entry != boxcfg.EntryJoinsItself {
		t.Fatal("container with a cgroup without the init holding cgroup.procs descriptors")
	}
	check := func(o outcome, wantCpuset bool) {
		t.Helper()
		wantStatus(t, o, sandbox.StatusOK)
		lines := cgroupLines(o.Stdout)
		if len(lines) == 0 {
			t.Fatalf("no memory/pids/cpuacct line in /proc/self/cgroup:\n%s", o.Stdout)
		}
		sawCpuset := false
		for _, l := range lines {
			if strings.Contains(l, "cpuset") {
				sawCpuset = true
				if !wantCpuset {
					continue // the parent's cpuset group: not joined yet
				}
			}
			if !strings.HasSuffix(l, ":/") {
				t.Fatalf("program outside its group (or its cgroup namespace): %q\n%s", l, o.Stdout)
			}
		}
		if wantCpuset && !sawCpuset {
			t.Logf("no cpuset hierarchy on this host:\n%s", o.Stdout)
		}
	}
	check(runSpec(t, p, sandbox.Spec{Args: []string{"/bin/cat", "/proc/self/cgroup"}}), false)
	checkFromHost(t, p, c)

	// Procs=1: the program is the one process its group may hold.
	spec := sandbox.Spec{Args: []string{"/bin/cat", "/proc/self/cgroup"}}
	spec.Limits.Procs = 1
	check(runSpec(t, p, spec), false)
	// ... and no more: its first fork fails.
	spec = sh("/bin/true; echo forked")
	spec.Limits.Procs = 1
	if o := runSpec(t, p, spec); strings.Contains(o.Stdout, "forked") {
		t.Fatalf("a second process started under Procs=1: %+v\nstdout %q stderr %q", o.Result, o.Stdout, o.Stderr)
	} else {
		t.Logf("Procs=1, sh forking: %s, stderr %q", o.Status, o.Stderr)
	}

	spec = sandbox.Spec{Args: []string{"/bin/cat", "/proc/self/cgroup"}}
	spec.Limits.CPUSet = "0"
	o := runSpec(t, p, spec)
	if o.Status == sandbox.StatusInternalError && strings.Contains(o.Message, "cpuset") {
		t.Skipf("no cpuset controller: %s", o.Message)
	}
	check(o, true)
	if c.runEntry() != boxcfg.EntryHostMoves {
		t.Fatal("a CPU set was asked for, yet runs still skip the round trip")
	}
	check(runSpec(t, p, sandbox.Spec{Args: []string{"/bin/cat", "/proc/self/cgroup"}}), true)
}

// checkFromHost runs a program that waits on its stdin and, meanwhile, finds
// it in the cgroup.procs file of every hierarchy of the container's group.
func checkFromHost(t *testing.T, p *Pool, c *Container) {
	t.Helper()
	var dirs []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/gosandbox/", "/sys/fs/cgroup/*/*/*/gosandbox/"} {
		d, _ := filepath.Glob(pattern + c.name)
		dirs = append(dirs, d...)
	}
	if len(dirs) == 0 {
		t.Fatalf("no cgroup directory named %s", c.name)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	done := make(chan sandbox.Result, 1)
	go func() {
		res, _ := p.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/cat"}, Stdin: r})
		done <- res
	}()
	// The program blocks on its stdin until w closes, so it is in the group
	// once it is anywhere: wait until the memory hierarchy shows it.
	var procs map[string]string
	for {
		procs = map[string]string{}
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil {
				t.Fatal(err)
			}
			procs[d] = strings.TrimSpace(string(b))
		}
		all := true
		for _, v := range procs {
			all = all && v != ""
		}
		if all {
			break
		}
		select {
		case res := <-done:
			t.Fatalf("the program ended (%+v) before every hierarchy showed it: %v", res, procs)
		case <-time.After(time.Millisecond):
		}
	}
	t.Logf("the program in every hierarchy: %v", procs)
	w.Close()
	if res := <-done; res.Status != sandbox.StatusOK {
		t.Fatalf("%+v", res)
	}
	for d, v := range procs {
		if strings.Contains(v, "\n") {
			t.Fatalf("%s holds more than the program: %q", d, v)
		}
	}
}
