package sandbox

// Result and Status: how a run ended.

import (
	"errors"
	"time"
)

// Status is the verdict of a run. A limit status wins over the signal that
// enforced it.
type Status string

// The statuses a Result can carry, one per way a run can end.
const (
	StatusOK            Status = "ok"
	StatusNonzeroExit   Status = "nonzero-exit"
	StatusSignalled     Status = "signalled"
	StatusCPULimit      Status = "cpu-limit"
	StatusWallLimit     Status = "wall-limit"
	StatusMemoryLimit   Status = "memory-limit"
	StatusOutputLimit   Status = "output-limit"
	StatusSyscallDenied Status = "syscall-denied"
	StatusExecError     Status = "exec-error"     // the program could not be started (missing, bad format, huge argv)
	StatusInternalError Status = "internal-error" // the sandbox itself failed
)

// Accounting says where the figures of a Result came from.
const (
	AccountingCgroupV1 = "cgroup-v1"
	AccountingCgroupV2 = "cgroup-v2"
	AccountingRusage   = "rusage"
)

// Where Result.MemoryBytes came from.
const (
	PeakMemoryPeak = "memory.peak"        // cgroup v2 memory.peak, valid for this run
	PeakMaxUsage   = "max_usage_in_bytes" // cgroup v1 memory.max_usage_in_bytes, reset per run
	PeakSampled    = "sampled"            // cgroup memory.current sampled while it ran (a lower bound)
	PeakRusage     = "rusage"             // no cgroup: the largest process's ru_maxrss
)

// Result is how a run ended. Its JSON form is the result contract of the CLI.
type Result struct {
	Status      Status `json:"status"`
	ExitCode    int    `json:"exit_code"`
	Signal      string `json:"signal"` // "SIGKILL", or "" when the program exited
	CPUNanos    int64  `json:"cpu_ns"`
	WallNanos   int64  `json:"wall_ns"`
	MemoryBytes int64  `json:"memory_bytes"` // peak
	// PeakSource says which counter MemoryBytes came from: PeakMemoryPeak,
	// PeakMaxUsage, PeakSampled or PeakRusage.
	PeakSource string `json:"peak_source"`
	// MaxRSSBytes is the largest resident set of any one process of the
	// box (rusage ru_maxrss), whatever MemoryBytes came from. The kernel
	// keeps a process's high-water mark across execve, so it is at least
	// the resident set the program was started from: the box's copy of the
	// supervisor (one-shot) or the container's init (pooled); a larger own
	// peak is reported exactly. MemoryBytes is the program's own figure.
	MaxRSSBytes int64 `json:"max_rss_bytes"`
	// CSWVoluntary and CSWForced count context switches of the program and
	// its reaped descendants (rusage ru_nvcsw, ru_nivcsw): waits for I/O or
	// a lock, and preemptions.
	CSWVoluntary int64  `json:"csw_voluntary"`
	CSWForced    int64  `json:"csw_forced"`
	ProcsPeak    int    `json:"procs_peak"` // 0 when unknown
	OOMKilled    bool   `json:"oom_killed"`
	Message      string `json:"message"` // why, for exec-error and internal-error (and limits)
	Accounting   string `json:"accounting"`
	Backend      string `json:"backend"`

	// Files holds the content of each Spec.CopyOut name that could be read;
	// FileErrors the reason for each that could not. Neither is part of the
	// run's JSON line on its own: the batch contract adds them.
	Files      map[string][]byte `json:"-"`
	FileErrors map[string]string `json:"-"`
}

// CPU returns the CPU time as a Duration.
func (r Result) CPU() time.Duration { return time.Duration(r.CPUNanos) }

// Wall returns the wall time as a Duration.
func (r Result) Wall() time.Duration { return time.Duration(r.WallNanos) }

// ErrInvalidSpec is wrapped by every error that rejects a Spec before
// anything runs.
var ErrInvalidSpec = errors.New("invalid spec")
