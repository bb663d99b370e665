package container

// Tests of a pool whose builder uses no cgroups.

import (
	"strings"
	"testing"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/rlimit"
)

// Without cgroups (a kernel or host without them, as the kernel matrix's
// cgroup-v1 columns of 6.12 are for memory) the supervisor still learns the
// program's pid: it polls the program's CPU against the limit, so the run
// does not go on to the RLIMIT_CPU backstop a second or more above it, and
// it names the call a kill-mode filter denied.
func TestWithoutCgroups(t *testing.T) {
	p := newPool(t, PoolOptions{Size: 1, Builder: &Builder{NoCgroups: true}})
	limit := 1500 * time.Millisecond // backstop: RLIMIT_CPU of 3 s
	spec := sandbox.Spec{Args: []string{"/usr/bin/perl", "-e", "1 while 1"}, Limits: sandbox.Limits{CPU: limit, Wall: time.Minute}}
	o := runSpec(t, p, spec)
	wantStatus(t, o, sandbox.StatusCPULimit)
	if o.Accounting != sandbox.AccountingRusage {
		t.Errorf("accounting %q, want rusage (no cgroups)", o.Accounting)
	}
	// Halfway between the limit and the backstop: a CPU-time bound of the
	// enforcement, not a timing of this machine.
	backstop := time.Duration(rlimit.FromLimits(spec.Limits, false)[0].Limit.Cur) * time.Second
	if mid := (limit + backstop) / 2; o.CPU() < limit || o.CPU() >= mid {
		t.Errorf("cpu %v: want the limit %v, below %v (the backstop is %v)", o.CPU(), limit, mid, backstop)
	}

	kill := sandbox.Spec{Args: []string{"/usr/bin/perl", "-e", "syscall(250, 0, 0, 0, 0, 0)"}, Syscalls: sandbox.SyscallsKill}
	o = runSpec(t, p, kill)
	wantStatus(t, o, sandbox.StatusSyscallDenied)
	if !strings.Contains(o.Message, "keyctl") {
		t.Errorf("message %q does not name keyctl", o.Message)
	}
}
