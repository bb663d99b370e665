package mount

// Plan and Apply: the compiled steps a child runs, and their kinds.

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrBadPlan is wrapped by every error that rejects a plan while it is built.
var ErrBadPlan = errors.New("mount: bad plan")

// OpKind is what one compiled step does.
type OpKind int

// The kinds of compiled steps, in the words sandbox/forkexec uses to name a
// failed step.
const (
	OpBind     OpKind = iota + 1 // mount(Source, Target, MS_BIND|MS_REC)
	OpTmpfs                      // mount("tmpfs", Target, "tmpfs", Flags, Data)
	OpProc                       // mount("proc", Target, "proc", Flags)
	OpSetAttr                    // make the mount at Target read-only, nosuid, nodev... (Attr)
	OpMaskFile                   // bind /dev/null over Target
	OpMaskDir                    // bind an empty directory (Source) over Target; an OpSetAttr follows
)

// Op is one compiled step of a Plan, exported so that sandbox/forkexec can
// walk it between fork and exec: every path is a NUL-terminated byte string
// prepared in advance. Callers never build Ops by hand.
type Op struct {
	Kind   OpKind
	Source *byte // nil for none
	Target *byte // absolute host path below the plan's root
	// BoxTarget is the same path inside the box, for the steps of the tail
	// (see Plan.Tail), which run after pivot_root.
	BoxTarget *byte
	FSType    *byte
	Data      *byte
	Flags     uintptr // MS_* flags of mount(2)
	// Attr holds MOUNT_ATTR_* bits for OpSetAttr; Recursive applies them to
	// every mount below Target too.
	Attr      uint64
	Recursive bool
	// Optional steps are skipped when their target or source does not exist
	// (a masked /proc file this kernel lacks).
	Optional bool
	// NeedsIDMap marks steps that need the user namespace's id map written
	// (a tmpfs owned by the box user); the child does the steps before the
	// first such one while the parent writes the map.
	NeedsIDMap bool

	boxTarget  string // path inside the box, for messages and Apply
	source     string // Go form of Source, for Apply
	sourceIsIn bool   // Source lies below the root (read-only rebind of a /proc dir)
}

// Plan is a compiled mount plan: a skeleton directory on the host holding
// every mount point, symlink and small file of the box, plus the mounts made
// on top of it. It is immutable once built and safe for concurrent use.
type Plan struct {
	skeleton string
	root     *byte // skeleton as a byte string
	ops      []Op
	tail     int
}

// Root returns the skeleton directory, which the child binds onto itself
// and makes its root; as a NUL-terminated byte string for sandbox/forkexec.
func (p *Plan) Root() *byte { return p.root }

// RootPath is Root as a Go string.
func (p *Plan) RootPath() string { return p.skeleton }

// Ops returns the compiled steps. The slice must not be modified.
func (p *Plan) Ops() []Op { return p.ops }

// Tail returns the index of the first step that may run after pivot_root:
// the steps from there on need the user namespace's id map (a tmpfs owned by
// the box user) and name no host path, so the forkexec child runs them once
// the parent wrote the map, and does everything before, pivot_root included,
// while the parent writes it. len(Ops()) when there is no such tail.
func (p *Plan) Tail() int { return p.tail }

// Target returns the path inside the box that step i works on, for error
// messages ("" when i is out of range).
func (p *Plan) Target(i int) string {
	if p == nil || i < 0 || i >= len(p.ops) {
		return ""
	}
	return p.ops[i].boxTarget
}

// cstr returns s as a NUL-terminated byte string.
func cstr(s string) *byte {
	b, err := unix.BytePtrFromString(s)
	if err != nil {
		// Builder rejects NUL bytes before compiling.
		panic(err)
	}
	return b
}

// Apply builds the plan's tree at newRoot (the skeleton itself when newRoot
// is "") and makes it the root of the calling process: the same steps as the
// forkexec child, from ordinary Go code. The caller must already be in its
// own mount namespace with the privileges to mount there.
func (p *Plan) Apply(newRoot string) error {
	if newRoot == "" {
		newRoot = p.skeleton
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount: make / private: %w", err)
	}
	if err := unix.Mount(p.skeleton, newRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount: bind root %s on %s: %w", p.skeleton, newRoot, err)
	}
	for i := range p.ops {
		op := &p.ops[i]
		target := path.Join(newRoot, op.boxTarget)
		source := op.source
		if op.sourceIsIn {
			source = path.Join(newRoot, op.source)
		}
		var err error
		switch op.Kind {
		case OpBind:
			err = unix.Mount(source, target, "", unix.MS_BIND|unix.MS_REC, "")
		case OpMaskFile:
			err = unix.Mount(source, target, "", unix.MS_BIND, "")
		case OpMaskDir:
			err = unix.Mount(source, target, "", unix.MS_BIND, "")
		case OpTmpfs:
			err = unix.Mount("tmpfs", target, "tmpfs", op.Flags, bytesString(op.Data))
		case OpProc:
			err = unix.Mount("proc", target, "proc", op.Flags, bytesString(op.Data))
		case OpSetAttr:
			err = setAttr(target, op.Attr, op.Recursive)
		}
		if err != nil {
			if op.Optional && errIsAbsent(err) {
				continue
			}
			return fmt.Errorf("mount: step %d %s: %w", i, op.boxTarget, err)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("mount: chdir %s: %w", newRoot, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("mount: pivot_root %s: %w", newRoot, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("mount: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("mount: chdir /: %w", err)
	}
	if err := setAttr("/", RootAttr, false); err != nil {
		return fmt.Errorf("mount: remount / read-only: %w", err)
	}
	return nil
}

// RootAttr is what the root of a box becomes once pivoted.
const RootAttr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV

// setAttr adds attr to the mount at target, keeping the flags it has (in a
// user namespace the flags inherited from the host are locked, and a remount
// that drops one fails). mount_setattr(2) does that directly; before Linux
// 5.12 the current flags are read with statfs and remounted with attr added.
func setAttr(target string, attr uint64, recursive bool) error {
	flags := 0
	if recursive {
		flags = unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(unix.AT_FDCWD, target, uint(flags), &unix.MountAttr{Attr_set: attr})
	if !errors.Is(err, unix.ENOSYS) {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	return unix.Mount("", target, "", uintptr(RemountFlags(uint64(st.Flags), attr)), "")
}

// RemountFlags returns the mount(2) flags of a bind remount that keeps the
// statfs flags cur (ST_*) and adds attr (MOUNT_ATTR_*). Used where
// mount_setattr(2) is missing.
func RemountFlags(cur uint64, attr uint64) uint64 {
	f := uint64(unix.MS_REMOUNT | unix.MS_BIND)
	// ST_* and MS_* share the values of these bits.
	f |= cur & (unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
		unix.MS_SYNCHRONOUS | unix.MS_MANDLOCK | unix.MS_NOATIME | unix.MS_NODIRATIME)
	if cur&unix.ST_RELATIME != 0 {
		f |= unix.MS_RELATIME
	}
	if attr&unix.MOUNT_ATTR_RDONLY != 0 {
		f |= unix.MS_RDONLY
	}
	if attr&unix.MOUNT_ATTR_NOSUID != 0 {
		f |= unix.MS_NOSUID
	}
	if attr&unix.MOUNT_ATTR_NODEV != 0 {
		f |= unix.MS_NODEV
	}
	if attr&unix.MOUNT_ATTR_NOEXEC != 0 {
		f |= unix.MS_NOEXEC
	}
	return f
}

func bytesString(b *byte) string {
	if b == nil {
		return ""
	}
	return unix.BytePtrToString(b)
}

// checkTarget accepts a clean absolute path other than "/".
func checkTarget(t string) error {
	if !path.IsAbs(t) || path.Clean(t) != t || t == "/" {
		return fmt.Errorf("%w: target %q: want a clean absolute path other than /", ErrBadPlan, t)
	}
	if strings.IndexByte(t, 0) >= 0 {
		return fmt.Errorf("%w: target %q contains a NUL byte", ErrBadPlan, t)
	}
	return nil
}

// hostIsDir reports whether a bind source is a directory (following
// symlinks); a missing source counts as a directory so that the child's bind
// step, not the plan, reports it.
func hostIsDir(source string) bool {
	st, err := os.Stat(source)
	return err != nil || st.IsDir()
}
