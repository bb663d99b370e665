package sandbox

import (
	"fmt"
	"path"
	"strings"
)

// Validate checks a Spec before anything runs. Every error wraps
// ErrInvalidSpec and names the field and the value that are wrong.
func (s Spec) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return bad("args: no program to run")
	}
	for i, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return bad("args[%d]: contains a NUL byte", i)
		}
	}
	for i, e := range s.Env {
		if !strings.Contains(e, "=") || strings.HasPrefix(e, "=") || strings.IndexByte(e, 0) >= 0 {
			return bad("env[%d] %q: want K=V", i, e)
		}
	}
	if s.Dir != "" && !path.IsAbs(s.Dir) {
		return bad("dir %q: want an absolute path inside the sandbox", s.Dir)
	}
	l := s.Limits
	if l.CPU < 0 || l.Wall < 0 || l.Memory < 0 || l.Procs < 0 || l.Output < 0 ||
		l.Stack < 0 || l.OpenFiles < 0 || l.Tmpfs < 0 || l.AddressSpace < 0 {
		return bad("limits: negative value in %+v", l)
	}
	if l.OpenFiles != 0 && l.OpenFiles < 3+len(s.ExtraFiles) {
		return bad("limits: open files %d leaves no room for descriptors 0-2 and %d extra files", l.OpenFiles, len(s.ExtraFiles))
	}
	for i, b := range s.Binds {
		if !path.IsAbs(b.Source) || !path.IsAbs(b.Target) {
			return bad("bind[%d] %s:%s: source and target must be absolute paths", i, b.Source, b.Target)
		}
		if path.Clean(b.Target) == "/" {
			return bad("bind[%d]: cannot bind over /", i)
		}
	}
	for i, c := range s.CopyIn {
		if err := checkBoxName(c.Name); err != nil {
			return bad("copy-in[%d]: %v", i, err)
		}
	}
	for i, n := range s.CopyOut {
		if err := checkBoxName(n); err != nil {
			return bad("copy-out[%d]: %v", i, err)
		}
	}
	switch s.Syscalls {
	case "", SyscallsErrno, SyscallsKill:
	default:
		return bad("syscalls %q: want %q or %q", s.Syscalls, SyscallsErrno, SyscallsKill)
	}
	return nil
}

// checkBoxName accepts a plain relative path inside the work directory.
func checkBoxName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if path.IsAbs(name) || path.Clean(name) != name || name == "." || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("name %q: want a clean path relative to the work directory", name)
	}
	return nil
}
