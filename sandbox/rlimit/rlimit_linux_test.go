package rlimit

// Tests of rlimits from Limits, their application, the hard-limit raise and ProcessCPU.

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

func byResource(rl []RLimit) map[int]unix.Rlimit {
	out := map[int]unix.Rlimit{}
	for _, r := range rl {
		if _, dup := out[r.Resource]; dup {
			panic("resource listed twice")
		}
		out[r.Resource] = r.Limit
	}
	return out
}

func TestFromLimits(t *testing.T) {
	l := sandbox.Limits{
		CPU:       1500 * time.Millisecond,
		Output:    1 << 20,
		Stack:     8 << 20,
		OpenFiles: 32,
		Memory:    64 << 20,
		Procs:     10,
	}
	type want struct {
		resource int
		value    uint64
	}
	common := []want{
		{unix.RLIMIT_CPU, 3}, // 1.5s + the 1s backstop margin, rounded up
		{unix.RLIMIT_FSIZE, 1 << 20},
		{unix.RLIMIT_STACK, 8 << 20},
		{unix.RLIMIT_NOFILE, 32},
		{unix.RLIMIT_CORE, 1}, // not 0: a pipe core_pattern ignores 0 (H2)
		{unix.RLIMIT_MEMLOCK, memlockBytes},
		{unix.RLIMIT_MSGQUEUE, msgqueueBytes},
		{unix.RLIMIT_SIGPENDING, sigpendingCount},
	}
	cases := []struct {
		name    string
		l       sandbox.Limits
		cgroups bool
		extra   []want
		absent  []int
	}{
		{"cgroups", l, true, nil, []int{unix.RLIMIT_AS, unix.RLIMIT_DATA, unix.RLIMIT_NPROC}},
		{"no cgroups", l, false, []want{{unix.RLIMIT_DATA, 64 << 20}, {unix.RLIMIT_NPROC, 10}}, []int{unix.RLIMIT_AS}},
		{"address space with cgroups", withAS(l, 1<<30), true, []want{{unix.RLIMIT_AS, 1 << 30}}, []int{unix.RLIMIT_DATA, unix.RLIMIT_NPROC}},
		{"address space without cgroups", withAS(l, 1<<30), false, []want{{unix.RLIMIT_AS, 1 << 30}, {unix.RLIMIT_DATA, 64 << 20}, {unix.RLIMIT_NPROC, 10}}, nil},
	}
	for _, tc := range cases {
		got := byResource(FromLimits(tc.l, tc.cgroups))
		for _, w := range append(append([]want(nil), common...), tc.extra...) {
			r, ok := got[w.resource]
			if !ok {
				t.Errorf("%s: resource %d missing", tc.name, w.resource)
				continue
			}
			if r.Cur != w.value || r.Max != w.value {
				t.Errorf("%s: resource %d = %d/%d, want %d/%d", tc.name, w.resource, r.Cur, r.Max, w.value, w.value)
			}
		}
		for _, res := range tc.absent {
			if _, ok := got[res]; ok {
				t.Errorf("%s: resource %d set, want unset", tc.name, res)
			}
		}
	}
}

func withAS(l sandbox.Limits, as int64) sandbox.Limits {
	l.AddressSpace = as
	return l
}

func TestFromLimitsDefaultsAndUnlimited(t *testing.T) {
	got := byResource(FromLimits(sandbox.Limits{}, true))
	d := sandbox.DefaultLimits
	if got[unix.RLIMIT_STACK].Cur != uint64(d.Stack) || got[unix.RLIMIT_NOFILE].Cur != uint64(d.OpenFiles) {
		t.Fatalf("zero limits did not take the defaults: %+v", got)
	}
	got = byResource(FromLimits(sandbox.Limits{Stack: -1, CPU: -1}, true))
	if got[unix.RLIMIT_STACK].Cur != unix.RLIM_INFINITY || got[unix.RLIMIT_CPU].Max != unix.RLIM_INFINITY {
		t.Fatalf("negative limits are not unlimited: %+v", got)
	}
}

// TestApplied checks that the values are accepted by the kernel and that a
// program cannot raise them again (R11): a shell applies them through
// prlimit on itself and tries to raise its file-size limit.
func TestApplied(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command("sh", "-c", `read x; ulimit -H -f; if ulimit -f unlimited 2>/dev/null; then echo raised; else echo kept; fi`)
	stdin, _ := cmd.StdinPipe()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	for _, r := range FromLimits(sandbox.Limits{Output: 1 << 20}, os.Geteuid() == 0) {
		lim := r.Limit
		if err := unix.Prlimit(pid, r.Resource, &lim, nil); err != nil {
			t.Fatalf("prlimit(%d, %+v): %v", r.Resource, r.Limit, err)
		}
	}
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// sh reports file-size limits in 512-byte (POSIX) or 1024-byte blocks.
	lines := strings.Fields(out.String())
	if len(lines) != 2 || (lines[0] != "2048" && lines[0] != "1024") || lines[1] != "kept" {
		t.Fatalf("sh saw %q; want the 1 MiB hard file-size limit and no way to raise it", out.String())
	}
}

// TestRaiseHardLimits: a supervisor started with a hard RLIMIT_CORE of 0
// (as `sudo` leaves it) lifts it to what a box sets, and lowers nothing.
func TestRaiseHardLimits(t *testing.T) {
	testhost.NeedRoot(t, "raising a hard limit needs CAP_SYS_RESOURCE")
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &saved); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_CORE, &saved)
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		t.Fatal(err)
	}
	rl := FromLimits(sandbox.Limits{}, true)
	if err := RaiseHardLimits(rl); err != nil {
		t.Fatal(err)
	}
	var now unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_CORE, &now)
	if !hasCapability(unix.CAP_SYS_RESOURCE) {
		// This host's root lacks CAP_SYS_RESOURCE: the box's core limit
		// comes down to what the children can set.
		for _, r := range rl {
			if r.Resource == unix.RLIMIT_CORE && r.Limit.Max != 0 {
				t.Fatalf("without CAP_SYS_RESOURCE the box's RLIMIT_CORE stays %d above the hard limit 0", r.Limit.Max)
			}
		}
		t.Skip("no CAP_SYS_RESOURCE here: checked the fallback (the box's core limit lowered to 0), not the raise")
	}
	if now.Cur != 0 || now.Max != coreBytes {
		t.Fatalf("RLIMIT_CORE is %d:%d, want 0:%d (soft kept, hard raised)", now.Cur, now.Max, coreBytes)
	}
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 100})
	RaiseHardLimits(FromLimits(sandbox.Limits{}, true))
	unix.Getrlimit(unix.RLIMIT_CORE, &now)
	if now.Max != 100 {
		t.Fatalf("hard RLIMIT_CORE lowered to %d", now.Max)
	}
}

// hasCapability reports whether this process's effective set holds c.
func hasCapability(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(uint(c)%32)) != 0
}

func TestProcessCPUCountsASpinner(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel's tick-based figure moves: it counts this
	// process, not some other one. The deadline only ends a broken reader.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		after, err := ProcessCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
	}
	t.Errorf("the CPU of a spinning process stayed at %v", before)
}

func TestProcessCPUOfNoProcess(t *testing.T) {
	if _, err := ProcessCPU(-1); err == nil {
		t.Error("ProcessCPU(-1) gave no error")
	}
}
