package sandbox

// Check and Prepare: the host-side checks of a Spec (streams, binds, copy-ins) both runners make.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Check is Validate plus what only the host can tell: every standard
// stream and extra file is of a kind that cannot lead into the host file
// system, every bind source exists, every copy-in host path is a regular
// file, and the copy-in files fit in the work directory. Every runner calls
// it (through Prepare) before anything runs, so all of them accept and
// refuse the same specs; its errors wrap ErrInvalidSpec and name the field.
func (s Spec) Check() error {
	if err := s.Validate(); err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	for _, st := range []struct {
		field string
		f     *os.File
	}{{"stdin", s.Stdin}, {"stdout", s.Stdout}, {"stderr", s.Stderr}} {
		if err := CheckStream(st.f); err != nil {
			return bad("%s: %v", st.field, err)
		}
	}
	for i, f := range s.ExtraFiles {
		if f == nil {
			return bad("extra_files[%d]: nil file", i)
		}
		if err := CheckStream(f); err != nil {
			return bad("extra_files[%d]: %v", i, err)
		}
	}
	if max := maxOpenFiles(); max > 0 && int64(s.Limits.OpenFiles) > max {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, &LimitError{Field: "open_files", Value: strconv.Itoa(s.Limits.OpenFiles),
			Why: fmt.Sprintf("above the maximum %d (the supervisor's hard limit of open files)", max)})
	}
	for i, b := range s.Binds {
		if _, err := os.Stat(b.Source); err != nil {
			return bad("bind[%d] %s:%s: %v", i, b.Source, b.Target, err)
		}
	}
	for i, b := range s.Binds {
		if link := boxLinkOn(b.Source); link != "" {
			return bad("bind[%d] %s:%s: %s is a symlink a box made, which would choose the host path bound", i, b.Source, b.Target, link)
		}
	}
	if j, w := writableAbove(s.Binds); j >= 0 {
		b := s.Binds[j]
		return bad("bind[%d] %s:%s: source lies inside the writable bind source %s (through a link), where the box could redirect it", j, b.Source, b.Target, w)
	}
	const page = 4096
	var total int64
	for i, c := range s.CopyIn {
		size := int64(len(c.Content))
		if c.HostPath != "" {
			fi, err := os.Stat(c.HostPath)
			if err != nil {
				return bad("copy-in[%d] %s: %v", i, c.Name, err)
			}
			if !fi.Mode().IsRegular() {
				return bad("copy-in[%d] %s: %s is not a regular file", i, c.Name, c.HostPath)
			}
			size = fi.Size()
		}
		// tmpfs charges whole pages.
		total += (size + page - 1) / page * page
	}
	if capacity := s.Limits.WithDefaults().Tmpfs; total > capacity {
		return bad("copy-in files take %d bytes, more than the work directory's %s (raise the tmpfs limit)",
			total, FormatSize(capacity))
	}
	// Every file and directory takes an inode of the work directory's,
	// which has a fixed number (WorkDirInodes): past it copy-in would
	// fail with ENOSPC, the job's fault seen as the sandbox's.
	inodes, dirs := 1, map[string]bool{} // 1: /w itself
	for _, c := range s.CopyIn {
		inodes++
		for dir := path.Dir(c.Name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			dirs[dir] = true
			inodes++
		}
	}
	if capacity := s.Limits.WithDefaults().Tmpfs; inodes > WorkDirInodes(capacity) {
		return bad("copy-in: %d inodes (%d files and directories and /w), more than the work directory's %d (one per 8 KiB of the tmpfs limit %s)",
			inodes, inodes-1, WorkDirInodes(capacity), FormatSize(capacity))
	}
	return nil
}

// WorkDirInodes is how many inodes (files, directories, links, /w itself)
// a work directory of size bytes holds: one per 8 KiB, within bounds that
// leave room for a build tree and too few for empty files to exhaust
// kernel memory.
func WorkDirInodes(size int64) int {
	return int(min(max(size/(8<<10), 1024), 1<<20))
}

// maxOpenFiles is the most open files every runner can give a box: this
// process's hard RLIMIT_NOFILE (a pooled box's init, in its user
// namespace, cannot go past what it was started with, and setrlimit
// refuses anything past fs.nr_open even to root); 0 when unknown.
func maxOpenFiles() int64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Max == unix.RLIM_INFINITY {
		return 0
	}
	max := int64(rl.Max)
	if n := nrOpen(); n > 0 {
		max = min(max, n)
	}
	return max
}

// nrOpen is fs.nr_open, or 0 when it cannot be read. Every spec's check
// reads it, so with plain system calls: through package os, which
// registers a /proc file with its poller and back, the read took nine (of
// some 5 µs each on a paravirtualised host) instead of three.
func nrOpen() int64 {
	fd, err := unix.Open("/proc/sys/fs/nr_open", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	var buf [32]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(buf[:n])), 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// CheckStream accepts a descriptor that may be handed to a box (H3): nil
// (the runners give /dev/null), a closed file (the box gets no such
// descriptor), a regular file, a FIFO or pipe, a socket or
// a character device. A directory, an O_PATH descriptor (of anything, a
// symlink included), a block device and kernel objects of unknown kind are
// refused: through a directory the box could fchdir or openat into the
// host file system, through an O_PATH descriptor reopen what it names.
func CheckStream(f *os.File) error {
	if f == nil {
		return nil
	}
	raw, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("descriptor: %w", err)
	}
	var st unix.Stat_t
	var flags int
	var opErr error
	if err := raw.Control(func(fd uintptr) {
		if flags, opErr = unix.FcntlInt(fd, unix.F_GETFL, 0); opErr != nil {
			opErr = fmt.Errorf("fcntl F_GETFL: %w", opErr)
			return
		}
		if opErr = unix.Fstat(int(fd), &st); opErr != nil {
			opErr = fmt.Errorf("fstat: %w", opErr)
		}
	}); err != nil {
		if f.Fd() == ^uintptr(0) {
			return nil // closed: the program gets no such descriptor
		}
		return fmt.Errorf("descriptor: %w", err)
	}
	if opErr != nil {
		return opErr
	}
	name := f.Name()
	if flags&unix.O_PATH != 0 {
		return fmt.Errorf("%s: an O_PATH descriptor (%s) leads into the host file system; want %s", name, FileKind(st.Mode), streamKinds)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR:
		return nil
	}
	return fmt.Errorf("%s: a %s cannot be handed to the box; want %s", name, FileKind(st.Mode), streamKinds)
}

const streamKinds = "a regular file, FIFO, socket or character device"

// FileKind names the kind of file of a stat mode ("regular file",
// "directory", "fifo", ...), for messages that say why a file is refused.
func FileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of unknown kind (mode %#o)", mode&unix.S_IFMT)
}

// boxLinkOn returns the first name on the path p that is a symlink owned by
// a box host id (IsBoxHostID), or "": a box that could write a
// directory on the way (a writable bind of another job) may have left it
// there for a later bind of p to follow.
func boxLinkOn(p string) string {
	p = path.Clean(p)
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p[:i], &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK && IsBoxHostID(int(st.Uid)) {
			return p[:i]
		}
	}
	return ""
}

// writableAbove finds a bind whose source lies inside a writable bind's
// source once the host's links are followed (Validate refuses the names
// that say so themselves): one of the directories above it resolves into
// the writable one's tree, so the names below are the box's to change. It
// returns that bind's index and the writable source, or -1. Without a
// writable bind beside another it looks at nothing.
func writableAbove(binds []Bind) (int, string) {
	if len(binds) < 2 {
		return -1, ""
	}
	trees := map[int]string{} // writable bind index: its resolved source
	for j, w := range binds {
		if w.Writable {
			if tree, err := filepath.EvalSymlinks(w.Source); err == nil {
				trees[j] = tree
			}
		}
	}
	if len(trees) == 0 {
		return -1, ""
	}
	for i, b := range binds {
		for dir := path.Dir(path.Clean(b.Source)); ; dir = path.Dir(dir) {
			if r, err := filepath.EvalSymlinks(dir); err == nil {
				for j, tree := range trees {
					if j != i && within(r, tree) {
						return i, binds[j].Source
					}
				}
			}
			if dir == "/" {
				break
			}
		}
	}
	return -1, ""
}

// Prepare returns the spec as a runner runs it, after Check: Env gains
// PATH=DefaultPath when no entry sets PATH (the caller's slice is not
// changed). Every runner starts with it, so the default is made in one
// place.
func (s Spec) Prepare() (Spec, error) {
	if err := s.Check(); err != nil {
		return Spec{}, err
	}
	s.Env = EnvWithDefaultPath(s.Env)
	return s, nil
}

// EnvWithDefaultPath returns env, or a copy of it with PATH=DefaultPath
// added when no entry sets PATH: the environment a program gets from a
// Spec. Harness backends for other sandboxes use it to keep the contract.
func EnvWithDefaultPath(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return env
		}
	}
	out := make([]string, 0, len(env)+1)
	return append(append(out, env...), "PATH="+DefaultPath)
}
