package boxcfg

// The settings of a box's program shared by every runner: defaults, rlimits, Confine, and Child, the whole set for forkexec runners.

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
)

// Input is what the settings are made of.
type Input struct {
	// Spec is the run's spec, already through Spec.Prepare.
	Spec sandbox.Spec
	// Limits are Spec.Limits.WithDefaults().
	Limits sandbox.Limits
	// Files are the host descriptors that become 0, 1, 2... in the box.
	Files []int
	// Reaped receives the program's status from the box's pid 1.
	Reaped *forkexec.Reaped
	// Cgroup says that a cgroup enforces the limits and accounts: RLIMIT_CPU
	// is then only a backstop (see rlimit.FromLimits).
	Cgroup bool
	// ReaperApart makes the box's pid 1 a process beside the program
	// (forkexec.Runner.ReaperApart), outside the box's limits: the process
	// limit then has no room for it.
	ReaperApart bool
}

// SyscallMode is the spec's syscall mode, or the default.
func SyscallMode(spec sandbox.Spec) sandbox.SyscallMode {
	if spec.Syscalls == "" {
		return sandbox.SyscallsErrno
	}
	return spec.Syscalls
}

// Dir is the spec's working directory in the box, or the default.
func Dir(spec sandbox.Spec) string {
	if spec.Dir == "" {
		return sandbox.WorkDir
	}
	return spec.Dir
}

// Hostname is the spec's hostname for the box, or the default.
func Hostname(spec sandbox.Spec) string {
	if spec.Hostname == "" {
		return sandbox.DefaultHostname
	}
	return spec.Hostname
}

// RLimits are the rlimits of limits (cgroup as Input.Cgroup). A box
// inherits this process's hard limits and cannot raise them, so when this
// process is root it first raises its own to what the box asks for; the
// error says which it could not raise.
func RLimits(limits sandbox.Limits, cgroup bool) ([]rlimit.RLimit, error) {
	rlimits := rlimit.FromLimits(limits, cgroup)
	if os.Geteuid() == 0 {
		if err := rlimit.RaiseHardLimits(rlimits); err != nil {
			return rlimits, fmt.Errorf("boxcfg: %w", err)
		}
	}
	return rlimits, nil
}

// Confine sets on r what a box's program starts with in every runner and
// no spec changes: the box user and group with no supplementary groups,
// no_new_privs, every capability dropped, and SIGKILL when its parent dies.
func Confine(r *forkexec.Runner) {
	r.UID, r.GID = sandbox.BoxUID, sandbox.BoxGID
	r.NoNewPrivs = true
	r.DropCaps = true
	r.Pdeathsig = syscall.SIGKILL
}

// Child returns the forkexec attributes of the box's program. The caller
// adds how the box is made (CloneFlags, id maps or a Slot, Mount, network
// namespace, cgroup entry).
func Child(in Input) (*forkexec.Runner, error) {
	filter, err := seccomp.Default(SyscallMode(in.Spec))
	if err != nil {
		return nil, fmt.Errorf("boxcfg: %w", err)
	}
	rlimits, err := RLimits(in.Limits, in.Cgroup)
	if err != nil {
		return nil, err
	}
	for i := range rlimits {
		if rlimits[i].Resource == unix.RLIMIT_NPROC && rlimits[i].Limit.Cur != unix.RLIM_INFINITY && !in.ReaperApart {
			rlimits[i].Limit.Cur++ // the reaper
			rlimits[i].Limit.Max++
		}
	}
	r := &forkexec.Runner{
		Args:        in.Spec.Args,
		Env:         in.Spec.Env, // forkexec searches its PATH for a bare Args[0]
		Dir:         Dir(in.Spec),
		Files:       in.Files,
		RLimits:     rlimits,
		Seccomp:     filter.Fprog(),
		Hostname:    Hostname(in.Spec),
		Reaper:      in.Reaped,
		ReaperApart: in.ReaperApart,
	}
	Confine(r)
	return r, nil
}

// ChildFiles returns the host descriptors that become the program's 0, 1,
// 2... (Input.Files): the spec's standard streams and extra files, -1 for a
// nil extra file. A nil standard stream gets a /dev/null opened for this
// run alone, returned for the caller to close after the run (nil when none
// was needed): file locks belong to the open file, and a run's locks on a
// /dev/null that later runs were handed too would reach them (U7).
func ChildFiles(spec sandbox.Spec) (fds []int, devNull *os.File, err error) {
	fds = make([]int, 0, 3+len(spec.ExtraFiles))
	for _, f := range []*os.File{spec.Stdin, spec.Stdout, spec.Stderr} {
		if f == nil {
			if devNull == nil {
				if devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, nil, fmt.Errorf("open /dev/null for the standard streams: %w", err)
				}
			}
			f = devNull
		}
		// Fd puts the descriptor in blocking mode, which is what a program
		// expects of its standard streams.
		fds = append(fds, int(f.Fd()))
	}
	for _, f := range spec.ExtraFiles {
		if f == nil {
			fds = append(fds, -1)
			continue
		}
		fds = append(fds, int(f.Fd()))
	}
	return fds, devNull, nil
}
