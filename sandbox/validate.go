package sandbox

// Validate: the checks of a Spec that need no host, and LimitError.

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
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
	if err := s.Limits.check(len(s.ExtraFiles)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	for i, b := range s.Binds {
		if !path.IsAbs(b.Source) || !path.IsAbs(b.Target) {
			return bad("bind[%d] %s:%s: source and target must be absolute paths", i, b.Source, b.Target)
		}
		t := path.Clean(b.Target)
		if t == "/" {
			return bad("bind[%d]: cannot bind over /", i)
		}
		// The box's own mounts: /w is also wiped between pooled runs,
		// which must never reach into a host directory.
		for _, r := range []string{"/proc", "/dev", WorkDir} {
			if within(t, r) {
				return bad("bind[%d] %s:%s: target lies inside %s, which the sandbox mounts itself", i, b.Source, b.Target, r)
			}
		}
		for j, o := range s.Binds[:i] {
			if ot := path.Clean(o.Target); within(t, ot) || within(ot, t) {
				return bad("bind[%d] %s:%s: target overlaps bind[%d] %s", i, b.Source, b.Target, j, o.Target)
			}
		}
	}
	// A source below a writable bind's source has names the box may
	// change: it could leave a symlink there, and a later run's mount of
	// this source, resolved on the host, would bind the host path the link
	// names instead.
	for i, b := range s.Binds {
		for j, w := range s.Binds {
			if w.Writable && strictlyBeneath(path.Clean(b.Source), path.Clean(w.Source)) {
				return bad("bind[%d] %s:%s: source lies inside the writable bind[%d] source %s, where the box could redirect it", i, b.Source, b.Target, j, w.Source)
			}
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

// LimitError refuses one limit: negative, or set below its minimum.
type LimitError struct {
	// Field is the limit's name as a batch job spells it ("memory",
	// "open_files"); the CLI flag is the same with '-' for '_'.
	Field string
	Value string // as given, formatted like the minimum
	Min   string // the smallest accepted value
	Why   string // when the minimum is not a plain constant
}

func (e *LimitError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("limits.%s %s: %s", e.Field, e.Value, e.Why)
	}
	return fmt.Sprintf("limits.%s %s: below the minimum %s", e.Field, e.Value, e.Min)
}

// check refuses negative limits and limits set below their minimum; zero
// means the default and is always fine.
func (l Limits) check(extraFiles int) error {
	size := func(field string, v, min int64) error {
		if v == 0 || v >= min {
			return nil
		}
		return &LimitError{Field: field, Value: FormatSize(v), Min: FormatSize(min)}
	}
	dur := func(field string, v, min time.Duration) error {
		if v == 0 || v >= min {
			return nil
		}
		return &LimitError{Field: field, Value: v.String(), Min: min.String()}
	}
	count := func(field string, v, min int) error {
		if v == 0 || v >= min {
			return nil
		}
		return &LimitError{Field: field, Value: strconv.Itoa(v), Min: strconv.Itoa(min)}
	}
	openFilesMin := MinOpenFiles + extraFiles
	// pids.max takes no more than the kernel's PID_MAX_LIMIT (EINVAL,
	// which would end the run internal-error).
	if l.Procs > MaxProcs {
		return &LimitError{Field: "procs", Value: strconv.Itoa(l.Procs), Why: fmt.Sprintf("above the maximum %d", MaxProcs)}
	}
	for _, err := range []error{
		dur("cpu", l.CPU, MinCPU),
		dur("wall", l.Wall, MinWall),
		size("memory", l.Memory, MinMemory),
		count("procs", l.Procs, MinProcs),
		size("output", l.Output, MinOutput),
		size("stack", l.Stack, MinStack),
		count("open_files", l.OpenFiles, openFilesMin),
		size("tmpfs", l.Tmpfs, MinTmpfs),
		size("address_space", l.AddressSpace, MinAddressSpace),
	} {
		if le, ok := err.(*LimitError); ok {
			if le.Field == "open_files" && l.OpenFiles > 0 && extraFiles > 0 {
				le.Why = fmt.Sprintf("below the minimum %d (descriptors 0-2 and %d extra files)", openFilesMin, extraFiles)
			}
			return le
		}
	}
	return nil
}

// within reports whether the clean absolute path p is dir or lies inside it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// strictlyBeneath reports whether the clean path p lies below the clean
// directory dir, not at it.
func strictlyBeneath(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}
