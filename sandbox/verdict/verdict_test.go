package verdict

// Tests of Decide: statuses, figure sources, the sampled CPU floor.

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// Wait statuses as the kernel encodes them.
func exited(code int) syscall.WaitStatus              { return syscall.WaitStatus(code << 8) }
func signalled(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }

// childErr stands in for forkexec.ChildError: only its ProgramFault method
// matters to Decide.
type childErr struct{ fault bool }

func (e *childErr) Error() string      { return fmt.Sprintf("forkexec: step failed (fault=%v)", e.fault) }
func (e *childErr) ProgramFault() bool { return e.fault }

func TestDecide(t *testing.T) {
	limits := sandbox.DefaultLimits // CPU 2s
	rusage := func(cpu time.Duration, maxrssKiB int64) *unix.Rusage {
		tv := unix.NsecToTimeval(int64(cpu))
		return &unix.Rusage{Utime: tv, Maxrss: maxrssKiB}
	}
	v1 := func(cpu time.Duration, peak int64, oom bool) *CgroupUsage {
		return &CgroupUsage{CPU: cpu, MemoryPeak: peak, OOMKilled: oom, ProcsPeak: 3, Accounting: sandbox.AccountingCgroupV1}
	}
	tests := []struct {
		name       string
		facts      Facts
		status     sandbox.Status
		exitCode   int
		signal     string
		oom        bool
		accounting string
		message    string // substring; "" = don't care
	}{
		{name: "exit 0", facts: Facts{Status: exited(0), Rusage: rusage(time.Millisecond, 1000)},
			status: sandbox.StatusOK, accounting: "rusage"},
		{name: "exit 3", facts: Facts{Status: exited(3), Rusage: rusage(0, 0)},
			status: sandbox.StatusNonzeroExit, exitCode: 3, accounting: "rusage"},
		{name: "segfault", facts: Facts{Status: signalled(syscall.SIGSEGV), Rusage: rusage(0, 0)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGSEGV"},
		{name: "sigkill below the cpu limit is just a signal", facts: Facts{Limits: limits, Status: signalled(syscall.SIGKILL), Rusage: rusage(time.Second, 0)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGKILL"},
		{name: "missing program", facts: Facts{StartErr: fmt.Errorf("start: %w", &childErr{fault: true})},
			status: sandbox.StatusExecError, exitCode: -1, message: "fault=true"},
		{name: "setup step failed", facts: Facts{StartErr: fmt.Errorf("start: %w", &childErr{fault: false})},
			status: sandbox.StatusInternalError, exitCode: -1, message: "fault=false"},
		{name: "plain start error", facts: Facts{StartErr: errors.New("clone: resource temporarily unavailable")},
			status: sandbox.StatusInternalError, exitCode: -1, message: "clone"},
		{name: "supervisor killed for cpu", facts: Facts{Limits: limits, Killed: KilledCPU, Status: signalled(syscall.SIGKILL), Cgroup: v1(2*time.Second+time.Millisecond, 1<<20, false)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGKILL", accounting: "cgroup-v1", message: "cpu time"},
		{name: "SIGXCPU from the rlimit", facts: Facts{Limits: limits, Status: signalled(syscall.SIGXCPU), Rusage: rusage(3*time.Second, 0)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGXCPU"},
		{name: "SIGXCPU raised by the program after 1ms", facts: Facts{Limits: limits, Status: signalled(syscall.SIGXCPU), Rusage: rusage(time.Millisecond, 0), Cgroup: v1(2*time.Millisecond, 1<<20, false)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGXCPU"},
		{name: "SIGXCPU with no cpu limit known", facts: Facts{Status: signalled(syscall.SIGXCPU), Rusage: rusage(time.Hour, 0)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGXCPU"},
		{name: "spinner exited 0 just over the limit before the supervisor saw it", facts: Facts{Limits: limits, Status: exited(0), Rusage: rusage(2*time.Second+time.Millisecond, 0)},
			status: sandbox.StatusCPULimit, message: "cpu time"},
		{name: "exited 1 with the cgroup total exactly at the limit", facts: Facts{Limits: limits, Status: exited(1), Rusage: rusage(time.Second, 0), Cgroup: v1(2*time.Second, 1<<20, false)},
			status: sandbox.StatusCPULimit, exitCode: 1, accounting: "cgroup-v1"},
		{name: "a plain signal after the cpu limit was passed", facts: Facts{Limits: limits, Status: signalled(syscall.SIGSEGV), Cgroup: v1(2*time.Second+time.Millisecond, 1<<20, false)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGSEGV"},
		{name: "oom kill after the cpu limit was passed", facts: Facts{Limits: limits, Status: signalled(syscall.SIGKILL), Cgroup: v1(3*time.Second, 256<<20, true)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGKILL", oom: true},
		{name: "unlimited cpu", facts: Facts{Limits: sandbox.Limits{CPU: -1}, Status: exited(0), Rusage: rusage(time.Hour, 0)},
			status: sandbox.StatusOK},
		{name: "exactly at a file limit, output exceeded and cpu over: the supervisor's wall kill wins", facts: Facts{Limits: limits, Killed: KilledWall, Status: signalled(syscall.SIGKILL), FileAtLimit: true, Cgroup: v1(3*time.Second, 0, false)},
			status: sandbox.StatusWallLimit, exitCode: -1, signal: "SIGKILL"},
		{name: "SIGKILL from the hard rlimit", facts: Facts{Limits: limits, Status: signalled(syscall.SIGKILL), Rusage: rusage(3*time.Second, 0)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGKILL"},
		{name: "wall timer", facts: Facts{Limits: limits, Killed: KilledWall, Status: signalled(syscall.SIGKILL), Wall: 5 * time.Second},
			status: sandbox.StatusWallLimit, exitCode: -1, signal: "SIGKILL", message: "wall"},
		{name: "wall timer fired as the program exited by itself before the limit", facts: Facts{Limits: limits, Killed: KilledWall, Status: exited(0), Wall: limits.Wall - time.Millisecond},
			status: sandbox.StatusOK},
		{name: "wall timer fired as the program died of its own signal before the limit", facts: Facts{Limits: limits, Killed: KilledWall, Status: signalled(syscall.SIGABRT), Wall: limits.Wall - time.Millisecond},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGABRT"},
		{name: "wall timer fired, the program died of its own signal after the limit", facts: Facts{Limits: limits, Killed: KilledWall, Status: signalled(syscall.SIGABRT), Wall: limits.Wall + time.Millisecond},
			status: sandbox.StatusWallLimit, exitCode: -1, signal: "SIGABRT", message: "wall"},
		{name: "wall timer fired, the program exited by itself after the limit", facts: Facts{Limits: limits, Killed: KilledWall, Status: exited(3), Wall: limits.Wall + time.Millisecond},
			status: sandbox.StatusWallLimit, exitCode: 3, message: "wall"},
		{name: "oom kill", facts: Facts{Limits: limits, Status: signalled(syscall.SIGKILL), Cgroup: v1(time.Second, 256<<20, true)},
			status: sandbox.StatusMemoryLimit, exitCode: -1, signal: "SIGKILL", oom: true, accounting: "cgroup-v1"},
		{name: "oom kill of a child, program exited 1", facts: Facts{Limits: limits, Status: exited(1), Cgroup: v1(0, 256<<20, true)},
			status: sandbox.StatusMemoryLimit, exitCode: 1, oom: true},
		{name: "the supervisor's kill wins over a later oom", facts: Facts{Limits: limits, Killed: KilledWall, Status: signalled(syscall.SIGKILL), Cgroup: v1(0, 256<<20, true)},
			status: sandbox.StatusWallLimit, exitCode: -1, signal: "SIGKILL", oom: true},
		{name: "SIGXFSZ from a write at the limit", facts: Facts{Limits: limits, Status: signalled(syscall.SIGXFSZ), FileAtLimit: true},
			status: sandbox.StatusOutputLimit, exitCode: -1, signal: "SIGXFSZ"},
		{name: "SIGXFSZ raised by the program, no file at the limit", facts: Facts{Limits: limits, Status: signalled(syscall.SIGXFSZ), Rusage: rusage(time.Millisecond, 0)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGXFSZ"},
		{name: "SIGXFSZ while a capture overflowed", facts: Facts{Limits: limits, Status: signalled(syscall.SIGXFSZ), OutputExceeded: true},
			status: sandbox.StatusOutputLimit, exitCode: -1, signal: "SIGXFSZ"},
		{name: "captured stream overflowed, program exited 0", facts: Facts{Limits: limits, Status: exited(0), OutputExceeded: true},
			status: sandbox.StatusOutputLimit},
		{name: "EFBIG made the program fail", facts: Facts{Limits: limits, Status: exited(1), FileAtLimit: true},
			status: sandbox.StatusOutputLimit, exitCode: 1, message: "reached"},
		{name: "a file silently truncated at the limit, program exited 0", facts: Facts{Limits: limits, Status: exited(0), FileAtLimit: true},
			status: sandbox.StatusOutputLimit, message: "reached"},
		{name: "supervisor killed for output", facts: Facts{Limits: limits, Killed: KilledOutput, Status: signalled(syscall.SIGKILL)},
			status: sandbox.StatusOutputLimit, exitCode: -1, signal: "SIGKILL", message: "16MiB"},
		{name: "SIGSYS in kill mode", facts: Facts{Syscalls: sandbox.SyscallsKill, Status: signalled(syscall.SIGSYS)},
			status: sandbox.StatusSyscallDenied, exitCode: -1, signal: "SIGSYS"},
		{name: "SIGSYS in kill mode, call known", facts: Facts{Syscalls: sandbox.SyscallsKill, Status: signalled(syscall.SIGSYS), DeniedSyscall: "keyctl (250, x86_64)"},
			status: sandbox.StatusSyscallDenied, exitCode: -1, signal: "SIGSYS", message: "keyctl (250"},
		{name: "SIGKILL from the rlimit, cgroup short of the limit, rusage at it", facts: Facts{Limits: limits, Status: signalled(syscall.SIGKILL), Rusage: rusage(2*time.Second, 0), Cgroup: v1(1900*time.Millisecond, 0, false)},
			status: sandbox.StatusCPULimit, exitCode: -1, signal: "SIGKILL", message: "2s"},
		{name: "SIGSYS in errno mode is the program's own signal", facts: Facts{Syscalls: sandbox.SyscallsErrno, Status: signalled(syscall.SIGSYS)},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGSYS"},
		{name: "cancelled", facts: Facts{Killed: KilledCancel, Status: signalled(syscall.SIGKILL), Err: errors.New("context canceled")},
			status: sandbox.StatusInternalError, exitCode: -1, signal: "SIGKILL", message: "cancelled: context canceled"},
		{name: "supervisor failure after start", facts: Facts{Status: exited(0), Err: errors.New("read cgroup: no such file")},
			status: sandbox.StatusInternalError, message: "read cgroup"},
		{name: "core-dumping signal", facts: Facts{Status: signalled(syscall.SIGABRT) | 0x80},
			status: sandbox.StatusSignalled, exitCode: -1, signal: "SIGABRT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Decide(tt.facts)
			if r.Status != tt.status || r.ExitCode != tt.exitCode || r.Signal != tt.signal || r.OOMKilled != tt.oom {
				t.Errorf("got status %q exit %d signal %q oom %v; want %q %d %q %v (message %q)",
					r.Status, r.ExitCode, r.Signal, r.OOMKilled, tt.status, tt.exitCode, tt.signal, tt.oom, r.Message)
			}
			if tt.accounting != "" && r.Accounting != tt.accounting {
				t.Errorf("accounting %q, want %q", r.Accounting, tt.accounting)
			}
			if !strings.Contains(r.Message, tt.message) {
				t.Errorf("message %q, want it to contain %q", r.Message, tt.message)
			}
			if r.Status != sandbox.StatusOK && r.Status != sandbox.StatusNonzeroExit && r.Message == "" && r.Status != sandbox.StatusSignalled {
				t.Errorf("status %q without a message", r.Status)
			}
		})
	}
}

func TestFiguresPreferTheCgroup(t *testing.T) {
	f := Facts{
		Status: exited(0),
		Wall:   42 * time.Millisecond,
		Rusage: &unix.Rusage{Utime: unix.NsecToTimeval(int64(10 * time.Millisecond)), Stime: unix.NsecToTimeval(int64(5 * time.Millisecond)), Maxrss: 2048},
	}
	r := Decide(f)
	if r.CPUNanos != int64(15*time.Millisecond) || r.MemoryBytes != 2048*1024 || r.WallNanos != int64(42*time.Millisecond) || r.ProcsPeak != 0 {
		t.Errorf("rusage figures: cpu %d mem %d wall %d procs %d", r.CPUNanos, r.MemoryBytes, r.WallNanos, r.ProcsPeak)
	}
	f.Cgroup = &CgroupUsage{CPU: 30 * time.Millisecond, MemoryPeak: 5 << 20, ProcsPeak: 4, Accounting: sandbox.AccountingCgroupV2}
	r = Decide(f)
	if r.CPUNanos != int64(30*time.Millisecond) || r.MemoryBytes != 5<<20 || r.ProcsPeak != 4 || r.Accounting != sandbox.AccountingCgroupV2 {
		t.Errorf("cgroup figures: cpu %d mem %d procs %d accounting %q", r.CPUNanos, r.MemoryBytes, r.ProcsPeak, r.Accounting)
	}
}

// TestFigureSources: max_rss_bytes and the context switches always come
// from rusage; peak_source names the counter memory_bytes came from.
func TestFigureSources(t *testing.T) {
	ru := &unix.Rusage{Maxrss: 2048, Nvcsw: 7, Nivcsw: 3}
	r := Decide(Facts{Limits: sandbox.DefaultLimits, Status: exited(0), Rusage: ru})
	if r.MaxRSSBytes != 2048<<10 || r.CSWVoluntary != 7 || r.CSWForced != 3 || r.PeakSource != sandbox.PeakRusage || r.MemoryBytes != 2048<<10 {
		t.Fatalf("rusage only: %+v", r)
	}
	for cg, want := range map[string]string{
		"memory.peak":               sandbox.PeakMemoryPeak,
		"memory.max_usage_in_bytes": sandbox.PeakMaxUsage,
		"sampled memory.current":    sandbox.PeakSampled,
	} {
		r := Decide(Facts{Limits: sandbox.DefaultLimits, Status: exited(0), Rusage: ru,
			Cgroup: &CgroupUsage{MemoryPeak: 5 << 20, Accounting: sandbox.AccountingCgroupV2, PeakSource: cg}})
		if r.PeakSource != want || r.MemoryBytes != 5<<20 || r.MaxRSSBytes != 2048<<10 || r.CSWVoluntary != 7 {
			t.Errorf("cgroup %s: %+v, want peak_source %s", cg, r, want)
		}
	}
}

// A supervisor that killed the box at its CPU limit without cgroups may get
// back a rusage that lacks the program (its reaper died first): the CPU it
// sampled before the kill is the figure, so the verdict's CPU is not below
// the limit that ended the run.
func TestSampledCPUIsAFloor(t *testing.T) {
	f := Facts{
		Limits:     sandbox.Limits{CPU: time.Second},
		Killed:     KilledCPU,
		Status:     signalled(syscall.SIGKILL),
		Rusage:     &unix.Rusage{Utime: unix.NsecToTimeval(int64(20 * time.Millisecond))},
		SampledCPU: 1010 * time.Millisecond,
	}
	r := Decide(f)
	if r.Status != sandbox.StatusCPULimit || r.CPUNanos != int64(1010*time.Millisecond) {
		t.Errorf("status %s cpu %v, want cpu-limit at the sampled 1.01s", r.Status, time.Duration(r.CPUNanos))
	}
	f.SampledCPU = 5 * time.Millisecond // an early sample never lowers the figure
	if r = Decide(f); r.CPUNanos != int64(20*time.Millisecond) {
		t.Errorf("cpu %v, want the rusage 20ms", time.Duration(r.CPUNanos))
	}
}
