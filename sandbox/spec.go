package sandbox

// Spec, Limits, Bind, CopyIn and Runner: what to run and under what limits.

import (
	"context"
	"os"
	"time"
)

// Spec describes one run of an untrusted program.
type Spec struct {
	// Args is the program and its arguments. Args[0] is resolved inside the
	// sandbox: a name without a slash is looked up in the PATH of Env (or
	// DefaultPath), a relative path is taken from Dir.
	Args []string
	// Env is the whole environment of the program, as K=V strings. Nothing
	// leaks in from the host; when no entry sets PATH the program gets
	// PATH=DefaultPath (see Prepare), so tools that find their helpers
	// through PATH (gcc's collect2 finding ld) work.
	Env []string
	// Dir is the working directory inside the sandbox; empty means WorkDir.
	Dir string

	// Stdin, Stdout and Stderr become descriptors 0, 1 and 2. A nil file is
	// /dev/null. Each must be a regular file, a FIFO or pipe, a socket or a
	// character device: a directory, an O_PATH descriptor or anything else
	// that leads into the host file system is refused (see Check).
	Stdin, Stdout, Stderr *os.File
	// ExtraFiles become descriptors 3, 4, ... in order, of the same kinds.
	ExtraFiles []*os.File

	// Limits bounds the run; zero fields take DefaultLimits.
	Limits Limits

	// Binds are host paths made visible inside, read-only unless Writable.
	Binds []Bind
	// CopyIn places files in the work directory before the program starts.
	CopyIn []CopyIn
	// CopyOut names files of the work directory to bring back after the run.
	// They are returned in Result.Files (content) or Result.FileErrors.
	CopyOut []string

	// Hostname is the box's hostname; empty means DefaultHostname.
	Hostname string
	// Syscalls chooses what a denied system call does; empty means
	// SyscallsErrno.
	Syscalls SyscallMode
}

// Limits bounds a run. Zero means "use the default" (see DefaultLimits); a
// value set below its minimum (MinMemory, MinCPU, ...) is refused by
// Validate.
type Limits struct {
	CPU       time.Duration // CPU time of every thread and child
	Wall      time.Duration // elapsed time, monotonic clock
	Memory    int64         // bytes: peak memory of the box (cgroup), or address space without cgroups
	Procs     int           // processes and threads alive at once in the box
	Output    int64         // bytes: largest file the program may write, and each captured stream
	Stack     int64         // bytes: RLIMIT_STACK
	OpenFiles int           // RLIMIT_NOFILE
	Tmpfs     int64         // bytes: size cap of /w and of /tmp
	// AddressSpace, when set, also caps virtual memory with RLIMIT_AS (R6).
	AddressSpace int64
	// CPUSet pins the box to these CPUs ("0", "0-1"), where cgroups allow (R12).
	CPUSet string
}

// Bind makes a host path visible inside the box.
type Bind struct {
	Source   string // host path
	Target   string // absolute path inside the box
	Writable bool
}

// CopyIn is one file placed in the work directory before the run: from a host
// path (mode kept) or from Content.
type CopyIn struct {
	Name     string // path relative to the work directory
	HostPath string // read from here when set
	Content  []byte // otherwise this
	Mode     os.FileMode
}

// SyscallMode says what happens when the program makes a denied system call.
type SyscallMode string

const (
	// SyscallsErrno makes denied calls fail with EPERM, so runtimes that probe
	// for features carry on; unknown newer calls fail with ENOSYS.
	SyscallsErrno SyscallMode = "errno"
	// SyscallsKill kills the box at the first denied call; the run ends with
	// StatusSyscallDenied.
	SyscallsKill SyscallMode = "kill"
)

// Runner runs one Spec to completion. Implementations: sandbox/oneshot,
// sandbox/container. Run returns a non-nil error only when the Spec is invalid
// (ErrInvalidSpec, nothing was run) or the context ended before the start;
// everything that happens once the run started is reported in the Result.
type Runner interface {
	Run(ctx context.Context, spec Spec) (Result, error)
}

// WorkDir is the box's writable work directory (tmpfs), the default Dir.
const WorkDir = "/w"

// DefaultPath is the PATH used to resolve Args[0] when Env has none.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// DefaultHostname is the hostname of a box when Spec.Hostname is empty.
const DefaultHostname = "gosandbox"

// DefaultLimits are the limits of a run that sets none: safe for a judge.
var DefaultLimits = Limits{
	CPU:       2 * time.Second,
	Wall:      5 * time.Second,
	Memory:    256 << 20,
	Procs:     64,
	Output:    16 << 20,
	Stack:     8 << 20,
	OpenFiles: 64,
	Tmpfs:     64 << 20,
}

// The smallest limits a Spec may set (zero still means the default). Below
// them no program can start, or the run could not end in a status that
// says anything about the program, so Validate refuses them with
// ErrInvalidSpec instead. MinMemory and MinAddressSpace leave room for a
// dynamically linked /bin/sh under cgroup v1 and v2 accounting (it needs
// about 1 MiB of memory and 4 MiB of address space); MinStack for the
// dynamic loader and a modest argv; MinOpenFiles for descriptors 0-2 and
// the one the dynamic loader opens libraries with (with 3 it fails with
// EMFILE); MinTmpfs for a few small files.
const (
	MinCPU          = time.Millisecond
	MinWall         = time.Millisecond
	MinMemory       = 4 << 20
	MinProcs        = 1
	MinOutput       = 1
	MinStack        = 64 << 10
	MinOpenFiles    = 4 // 0-2 and one for the dynamic loader; plus one per extra file
	MinTmpfs        = 64 << 10
	MinAddressSpace = 4 << 20

	// MaxProcs is the kernel's PID_MAX_LIMIT on 64-bit: pids.max takes no
	// more. (Open files are bounded by the supervisor's hard limit, which
	// Check reads.)
	MaxProcs = 4 << 20
)

// WithDefaults returns l with every zero field taken from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits
	if l.CPU == 0 {
		l.CPU = d.CPU
	}
	if l.Wall == 0 {
		l.Wall = d.Wall
	}
	if l.Memory == 0 {
		l.Memory = d.Memory
	}
	if l.Procs == 0 {
		l.Procs = d.Procs
	}
	if l.Output == 0 {
		l.Output = d.Output
	}
	if l.Stack == 0 {
		l.Stack = d.Stack
	}
	if l.OpenFiles == 0 {
		l.OpenFiles = d.OpenFiles
	}
	if l.Tmpfs == 0 {
		l.Tmpfs = d.Tmpfs
	}
	return l
}
