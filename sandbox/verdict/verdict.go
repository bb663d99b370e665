package verdict

// Decide: a run's result (status, message, figures) from the facts its runner gathered.

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// KillReason is why the supervisor killed the box, if it did. Only the first
// reason counts: once the box is being killed for one limit, later
// observations are consequences of that kill.
type KillReason int

const (
	NotKilled     KillReason = iota
	KilledCPU                // the box's CPU total reached Limits.CPU
	KilledWall               // the wall timer fired
	KilledOutput             // a captured stream went past Limits.Output
	KilledCancel             // the caller's context ended
	KilledFailure            // the supervisor could not go on (see Facts.Err)
)

func (k KillReason) String() string {
	switch k {
	case NotKilled:
		return "not killed"
	case KilledCPU:
		return "cpu limit"
	case KilledWall:
		return "wall limit"
	case KilledOutput:
		return "output limit"
	case KilledCancel:
		return "cancelled"
	case KilledFailure:
		return "supervisor failure"
	}
	return fmt.Sprintf("KillReason(%d)", int(k))
}

// CgroupUsage is the box's accounting from its cgroup. It mirrors the
// cgroup package's Usage so that this package depends on no implementation.
type CgroupUsage struct {
	CPU        time.Duration
	MemoryPeak int64
	OOMKilled  bool
	ProcsPeak  int    // 0 when unknown
	Accounting string // sandbox.AccountingCgroupV1 or sandbox.AccountingCgroupV2
	// PeakSource is the cgroup package's name of the counter MemoryPeak
	// came from ("memory.peak", "memory.max_usage_in_bytes", or its
	// sampled marker); Decide maps it to the Result's names.
	PeakSource string
}

// Facts is everything a supervisor knows when a run is over.
type Facts struct {
	// Limits are the limits the run had, defaults applied.
	Limits sandbox.Limits
	// Syscalls is the run's syscall mode: in kill mode SIGSYS means the
	// filter killed the program.
	Syscalls sandbox.SyscallMode

	// StartErr is set when the program never ran. An error that has a
	// ProgramFault() bool method returning true (forkexec.ChildError when
	// execve failed) is the program's fault: exec-error. Anything else is
	// internal-error.
	StartErr error

	// Status and Rusage come from wait4 on the program.
	Status syscall.WaitStatus
	Rusage *unix.Rusage
	// Wall is the run's elapsed time on a monotonic clock.
	Wall time.Duration

	// Cgroup is the box's cgroup accounting; nil when the run had no cgroup
	// (figures then come from Rusage).
	Cgroup *CgroupUsage
	// SampledCPU is the supervisor's last reading of the box's CPU total
	// while the run lasted (its CPU-limit poll). Without cgroups it is a
	// floor for the figure: a box whose reaper is killed before it reaped
	// the program leaves rusage without the program's CPU.
	SampledCPU time.Duration

	// Killed is the first reason the supervisor killed the box for.
	Killed KillReason
	// OutputExceeded is set when a stream the supervisor captured went past
	// Limits.Output, even if the program ended before it could be killed.
	OutputExceeded bool
	// FileAtLimit is set when a regular file the program wrote (its stdout
	// or stderr, or a file of its work directory, but not a copy-in it left
	// unchanged) reached Limits.Output. RLIMIT_FSIZE stops it there with
	// SIGXFSZ, but programs that ignore the signal (every Go program, and
	// any pid 1) see EFBIG or a short write and go on their own way: such a
	// run is output-limit however it ended. A SIGXFSZ without such a file
	// (or an overflowed capture) is the program's own signal.
	FileAtLimit bool
	// DeniedSyscall names the call the seccomp filter killed the program
	// for ("keyctl (250, x86_64)"), when the supervisor could learn it.
	DeniedSyscall string
	// Err is a supervisor failure after the start (wait4 failed, the cgroup
	// vanished, the caller cancelled): the run's figures may be incomplete.
	Err error
}

// programFault is what a start error implements to say the program itself
// could not be executed (missing, not executable, bad format, huge argv).
type programFault interface{ ProgramFault() bool }

// Decide returns the Result the facts add up to. Backend is left empty for
// the caller. ExitCode is -1 when the program did not exit by itself (it was
// signalled or never started).
func Decide(f Facts) sandbox.Result {
	var r sandbox.Result
	r.WallNanos = int64(f.Wall)
	r.Accounting = sandbox.AccountingRusage

	if f.StartErr != nil {
		var pf programFault
		if errors.As(f.StartErr, &pf) && pf.ProgramFault() {
			r.Status = sandbox.StatusExecError
		} else {
			r.Status = sandbox.StatusInternalError
		}
		r.Message = f.StartErr.Error()
		r.ExitCode = -1
		if f.Cgroup != nil {
			r.Accounting = f.Cgroup.Accounting
		}
		return r
	}

	fillFigures(&r, f)
	fillExit(&r, f.Status)

	status, message := limitStatus(r, f)
	if status != "" {
		r.Status, r.Message = status, message
		return r
	}
	if f.Err != nil {
		r.Status = sandbox.StatusInternalError
		r.Message = f.Err.Error()
		return r
	}
	return r
}

// fillFigures takes CPU, memory and process figures from the cgroup when it
// has them, else from rusage.
func fillFigures(r *sandbox.Result, f Facts) {
	if f.Rusage != nil {
		r.CPUNanos = timevalNanos(f.Rusage.Utime) + timevalNanos(f.Rusage.Stime)
		r.MemoryBytes = f.Rusage.Maxrss * 1024 // Linux reports kilobytes
		r.MaxRSSBytes = r.MemoryBytes
		r.CSWVoluntary, r.CSWForced = f.Rusage.Nvcsw, f.Rusage.Nivcsw
		r.PeakSource = sandbox.PeakRusage
	}
	r.CPUNanos = max(r.CPUNanos, int64(f.SampledCPU))
	if c := f.Cgroup; c != nil {
		r.Accounting = c.Accounting
		// Both figures can only fall short: the cgroup misses what the
		// program ran before it joined its group, rusage misses children
		// that were never reaped. The larger is the better one; it is
		// almost always the cgroup's.
		r.CPUNanos = max(r.CPUNanos, int64(c.CPU))
		if c.MemoryPeak > 0 {
			r.MemoryBytes = c.MemoryPeak
			r.PeakSource = peakSource(c.PeakSource)
		}
		r.ProcsPeak = c.ProcsPeak
		r.OOMKilled = c.OOMKilled
	}
}

// peakSource maps the cgroup package's counter names to the Result's.
func peakSource(cgroupName string) string {
	switch cgroupName {
	case "memory.peak":
		return sandbox.PeakMemoryPeak
	case "memory.max_usage_in_bytes":
		return sandbox.PeakMaxUsage
	case "":
		return ""
	}
	// Anything else is the cgroup package's sampled marker: a lower bound
	// read from memory.current.
	return sandbox.PeakSampled
}

func fillExit(r *sandbox.Result, ws syscall.WaitStatus) {
	switch {
	case ws.Signaled():
		r.Status = sandbox.StatusSignalled
		r.Signal = unix.SignalName(ws.Signal())
		if r.Signal == "" {
			r.Signal = fmt.Sprintf("SIG%d", int(ws.Signal()))
		}
		r.ExitCode = -1
	case ws.Exited() && ws.ExitStatus() == 0:
		r.Status = sandbox.StatusOK
	case ws.Exited():
		r.Status = sandbox.StatusNonzeroExit
		r.ExitCode = ws.ExitStatus()
	default:
		// Stopped or continued: wait4 was not asked for those, so this is a
		// supervisor bug rather than something the program did.
		r.Status = sandbox.StatusInternalError
		r.ExitCode = -1
		r.Message = fmt.Sprintf("unexpected wait status %#x", uint32(ws))
	}
}

// limitStatus applies "a limit status wins over the signal that enforced
// it", but only when the limit was really reached: the signals that enforce
// limits (SIGXCPU, SIGXFSZ, SIGKILL) are signals a program may also raise
// itself, so they prove nothing on their own. In order: the supervisor's own
// kill, then a final CPU total at or over the limit (however the run ended:
// a program may exit between two CPU checks, or be killed for another
// reason after it went past the limit), then the kernel's OOM killer, then
// output at the limit, then the seccomp kill. It returns "" when no limit
// was hit.
func limitStatus(r sandbox.Result, f Facts) (sandbox.Status, string) {
	cpu := time.Duration(r.CPUNanos)
	cpuMsg := func() string {
		return fmt.Sprintf("cpu time %v reached the limit %v", cpu.Round(time.Millisecond), f.Limits.CPU)
	}
	switch f.Killed {
	case KilledCPU:
		return sandbox.StatusCPULimit, cpuMsg()
	case KilledWall:
		// The timer and the program's own end can race: a program that
		// ended by itself before the limit (an exit, or a signal of its
		// own such as an abort) was not stopped by it, whatever the
		// supervisor saw first. The supervisor's kill is a SIGKILL, which
		// stands for the limit even where the program's clock started
		// after the timer's (a pooled init's) and reads a little short.
		killed := f.Status.Signaled() && f.Status.Signal() == syscall.SIGKILL
		if killed || f.Wall >= f.Limits.Wall {
			return sandbox.StatusWallLimit, fmt.Sprintf("wall time reached the limit %v", f.Limits.Wall)
		}
	case KilledOutput:
		return sandbox.StatusOutputLimit, fmt.Sprintf("output went past the limit %s", sandbox.FormatSize(f.Limits.Output))
	case KilledCancel:
		msg := "run cancelled"
		if f.Err != nil {
			msg += ": " + f.Err.Error()
		}
		return sandbox.StatusInternalError, msg
	case KilledFailure:
		msg := "supervisor failure"
		if f.Err != nil {
			msg = f.Err.Error()
		}
		return sandbox.StatusInternalError, msg
	}
	sig := syscall.Signal(-1)
	if f.Status.Signaled() {
		sig = f.Status.Signal()
	}
	switch {
	case f.Limits.CPU > 0 && cpu >= f.Limits.CPU:
		// Also what the RLIMIT_CPU backstop's SIGXCPU and SIGKILL mean:
		// it sits above the limit.
		return sandbox.StatusCPULimit, cpuMsg()
	case r.OOMKilled:
		return sandbox.StatusMemoryLimit, fmt.Sprintf("memory limit %s reached (out-of-memory kill)", sandbox.FormatSize(f.Limits.Memory))
	case f.OutputExceeded:
		return sandbox.StatusOutputLimit, fmt.Sprintf("output went past the limit %s", sandbox.FormatSize(f.Limits.Output))
	case f.FileAtLimit:
		// RLIMIT_FSIZE stops a file at exactly the limit, and may do so
		// silently (a short write; SIGXFSZ ignored or handled): a file at
		// the limit cannot be told from one that was cut, so it counts as
		// output over the limit whatever the program did next.
		return sandbox.StatusOutputLimit, fmt.Sprintf("a file reached the output limit %s", sandbox.FormatSize(f.Limits.Output))
	case sig == syscall.SIGSYS && f.Syscalls == sandbox.SyscallsKill:
		msg := "killed by the syscall filter (SIGSYS)"
		if f.DeniedSyscall != "" {
			msg += ": " + f.DeniedSyscall
		}
		return sandbox.StatusSyscallDenied, msg
	}
	return "", ""
}

func timevalNanos(tv unix.Timeval) int64 {
	return tv.Sec*int64(time.Second) + tv.Usec*int64(time.Microsecond)
}
