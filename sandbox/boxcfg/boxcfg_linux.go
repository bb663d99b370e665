package boxcfg

import (
	"fmt"
	"os"
	"strings"
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

// Child returns the forkexec attributes of the box's program. The caller
// adds how the box is made (CloneFlags, id maps or a Slot, Mount, network
// namespace, cgroup entry).
func Child(in Input) (*forkexec.Runner, error) {
	filter, err := seccomp.Default(SyscallMode(in.Spec))
	if err != nil {
		return nil, fmt.Errorf("boxcfg: %w", err)
	}
	rlimits := rlimit.FromLimits(in.Limits, in.Cgroup)
	if os.Geteuid() == 0 {
		if err := rlimit.RaiseHardLimits(rlimits); err != nil {
			return nil, fmt.Errorf("boxcfg: %w", err)
		}
	}
	for i := range rlimits {
		if rlimits[i].Resource == unix.RLIMIT_NPROC && rlimits[i].Limit.Cur != unix.RLIM_INFINITY && !in.ReaperApart {
			rlimits[i].Limit.Cur++ // the reaper
			rlimits[i].Limit.Max++
		}
	}
	dir := in.Spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	hostname := in.Spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	return &forkexec.Runner{
		Args:        in.Spec.Args,
		Env:         in.Spec.Env,
		Path:        pathOf(in.Spec.Env),
		Dir:         dir,
		Files:       in.Files,
		RLimits:     rlimits,
		Seccomp:     filter.Fprog(),
		NoNewPrivs:  true,
		DropCaps:    true,
		UID:         sandbox.BoxUID,
		GID:         sandbox.BoxGID,
		Hostname:    hostname,
		Pdeathsig:   syscall.SIGKILL,
		Reaper:      in.Reaped,
		ReaperApart: in.ReaperApart,
	}, nil
}

// pathOf returns the PATH entries of env, or nil to let forkexec use its
// default.
func pathOf(env []string) []string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return strings.Split(v, ":")
		}
	}
	return nil
}
