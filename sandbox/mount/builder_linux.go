package mount

// Builder: declares a mount tree and compiles it into a Plan: its steps and its skeleton's contents.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// TmpfsOptions describes one tmpfs mount.
type TmpfsOptions struct {
	Size   int64       // bytes; 0 = the kernel default (half of RAM), so always set it
	Inodes int64       // inode cap; 0 = Size/4096 (at least 64)
	Mode   os.FileMode // of its root directory; os.ModeSticky is honoured
	// BoxOwned makes the root directory belong to the box user (BoxUID).
	BoxOwned bool
	NoExec   bool
	ReadOnly bool
}

type entryKind int

// procData is the box's /proc mount option: processes the box may not trace
// are hidden (see the entryProc case of ops).
const procData = "hidepid=2"

const (
	entryBind entryKind = iota
	entryDevice
	entryTmpfs
	entryProc
	entryMaskFile
	entryMaskWith
	entryMaskDir
	entryReadOnly
	entrySymlink
	entryFile
	entryDir
	entryCopy
	entryDevices
	entryRebind
)

type entry struct {
	kind     entryKind
	target   string
	source   string
	writable bool
	optional bool
	tmpfs    TmpfsOptions
	content  []byte
	mode     os.FileMode
	names    []string // device names for entryDevices
	noExec   bool     // entryBind: noexec too
}

// Builder collects the steps of a Plan in order. Later steps may mount over
// paths that earlier ones made (a mask inside /proc), never the reverse.
type Builder struct {
	entries []entry
	err     error
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return &Builder{} }

func (b *Builder) add(e entry) *Builder {
	if b.err == nil {
		if err := checkTarget(e.target); err != nil {
			b.err = err
			return b
		}
		if strings.IndexByte(e.source, 0) >= 0 {
			b.err = fmt.Errorf("%w: source %q contains a NUL byte", ErrBadPlan, e.source)
			return b
		}
	}
	b.entries = append(b.entries, e)
	return b
}

// Bind makes host path source (a file or a directory, with everything
// mounted below it) visible at target, read-only unless writable, always
// nosuid and nodev. A missing source fails in the child, naming the step.
func (b *Builder) Bind(source, target string, writable bool) *Builder {
	return b.add(entry{kind: entryBind, source: source, target: target, writable: writable})
}

// BindIfExists is a read-only Bind that is left out of the plan when source
// does not exist on the host when the plan is built.
func (b *Builder) BindIfExists(source, target string) *Builder {
	if _, err := os.Stat(source); err != nil {
		return b
	}
	return b.Bind(source, target, false)
}

// Device binds a host device node (/dev/null): the only kind of bind that
// keeps device access.
func (b *Builder) Device(source, target string) *Builder {
	return b.add(entry{kind: entryDevice, source: source, target: target})
}

// Tmpfs mounts a fresh tmpfs at target, always nosuid and nodev.
func (b *Builder) Tmpfs(target string, o TmpfsOptions) *Builder {
	return b.add(entry{kind: entryTmpfs, target: target, tmpfs: o})
}

// Proc mounts a fresh proc at target, read-only (so /proc/sys,
// /proc/sysrq-trigger and the like need no rebinds), showing the pid
// namespace of the process that walks the plan.
func (b *Builder) Proc(target string) *Builder {
	return b.add(entry{kind: entryProc, target: target})
}

// MaskFile hides the file at target (inside an earlier mount) behind
// /dev/null; nothing happens when it does not exist.
func (b *Builder) MaskFile(target string) *Builder {
	return b.add(entry{kind: entryMaskFile, target: target, optional: true})
}

// MaskWith hides the file at target (inside an earlier mount) behind a
// read-only file holding content: for /proc files whose real content tells
// about the host and that programs still read (/proc/loadavg). Nothing
// happens when target does not exist.
func (b *Builder) MaskWith(target string, content []byte) *Builder {
	return b.add(entry{kind: entryMaskWith, target: target, content: content, optional: true})
}

// MaskDir hides the directory at target (inside an earlier mount) behind an
// empty read-only directory; nothing happens when it does not exist.
func (b *Builder) MaskDir(target string) *Builder {
	return b.add(entry{kind: entryMaskDir, target: target, optional: true})
}

// ReadOnly rebinds target (inside an earlier mount) onto itself read-only;
// nothing happens when it does not exist.
func (b *Builder) ReadOnly(target string) *Builder {
	return b.add(entry{kind: entryReadOnly, target: target, optional: true})
}

// Rebind makes the box path source (made by an earlier step) visible at
// target too, keeping its mount flags; read-only unless writable.
func (b *Builder) Rebind(source, target string, writable bool) *Builder {
	if b.err == nil {
		if err := checkTarget(source); err != nil {
			b.err = err
			return b
		}
	}
	return b.add(entry{kind: entryRebind, source: source, target: target, writable: writable})
}

// Symlink makes target a symbolic link to oldname.
func (b *Builder) Symlink(oldname, target string) *Builder {
	return b.add(entry{kind: entrySymlink, source: oldname, target: target})
}

// File makes target a file holding content.
func (b *Builder) File(target string, content []byte, mode os.FileMode) *Builder {
	return b.add(entry{kind: entryFile, target: target, content: content, mode: mode})
}

// Copy places a copy of the host file or tree at source (regular files,
// directories and symlinks; at most maxCopyBytes in all) at target when the
// plan is built: cheaper for the child than a bind, and a snapshot. A missing
// source is left out.
func (b *Builder) Copy(source, target string) *Builder {
	return b.add(entry{kind: entryCopy, source: source, target: target})
}

// Devices makes dir hold the host's device nodes /dev/NAME for each name,
// mounted read-only, nosuid and noexec but with device access. As root the
// nodes are made once in the skeleton and the directory is rebound (two
// steps in the child); otherwise each node is a bind of the host's.
func (b *Builder) Devices(dir string, names ...string) *Builder {
	return b.add(entry{kind: entryDevices, target: dir, names: names})
}

// Dir makes target an (empty) directory.
func (b *Builder) Dir(target string, mode os.FileMode) *Builder {
	return b.add(entry{kind: entryDir, target: target, mode: mode})
}

// skelNode is one thing the skeleton directory holds.
type skelNode struct {
	kind    byte // 'd' dir, 'f' file, 'l' symlink, 'c' character device
	path    string
	mode    os.FileMode
	content []byte // file content or symlink target
	rdev    uint64 // device number of a 'c' node
	// digest, when set, stands for the node's whole copied tree in the
	// skeleton's name (hashed once per process); hashed marks the other
	// nodes of such a tree.
	digest *[sha256.Size]byte
	hashed bool
}

// Build compiles the plan: it lays out the skeleton directory on the host
// (once per distinct layout; the directory is shared by every plan with the
// same layout and kept as a cache) and prepares every step.
//
// Mount points, files and symlinks live in the skeleton because the child
// cannot create anything in a file system of its own user namespace while
// its file-system uid is the host's (unmapped there); so paths below a tmpfs
// or proc mount of the plan must already exist in it (masks), and a bind
// target below another bind must exist in that bind's source.
func (b *Builder) Build() (*Plan, error) {
	if b.err != nil {
		return nil, b.err
	}
	var nodes []skelNode
	made := map[string]byte{"/": 'd'}
	var mounts []entry // mounts so far, to know what covers a path
	coveredBy := func(t string) (entry, bool) {
		for i := len(mounts) - 1; i >= 0; i-- {
			m := mounts[i]
			if t == m.target || strings.HasPrefix(t, m.target+"/") {
				return m, true
			}
		}
		return entry{}, false
	}
	mkParents := func(t string) error {
		var parts []string
		for d := path.Dir(t); d != "/"; d = path.Dir(d) {
			parts = append(parts, d)
		}
		for i := len(parts) - 1; i >= 0; i-- {
			switch made[parts[i]] {
			case 'd':
			case 0:
				made[parts[i]] = 'd'
				nodes = append(nodes, skelNode{kind: 'd', path: parts[i], mode: 0o755})
			default:
				return fmt.Errorf("%w: %s: %s is not a directory", ErrBadPlan, t, parts[i])
			}
		}
		return nil
	}
	addNode := func(n skelNode) error {
		if k, ok := made[n.path]; ok {
			if k == 'd' && n.kind == 'd' {
				return nil
			}
			return fmt.Errorf("%w: %s declared twice", ErrBadPlan, n.path)
		}
		if err := mkParents(n.path); err != nil {
			return err
		}
		made[n.path] = n.kind
		nodes = append(nodes, n)
		return nil
	}
	for _, e := range b.entries {
		m, covered := coveredBy(e.target)
		switch e.kind {
		case entryBind, entryDevice, entryTmpfs, entryProc, entryRebind:
			if covered {
				if m.kind != entryBind {
					return nil, fmt.Errorf("%w: %s lies inside the %s mount at %s; nothing can be created there", ErrBadPlan, e.target, kindName(m.kind), m.target)
				}
				break // the target must exist in the covering bind
			}
			n := skelNode{kind: 'd', path: e.target, mode: 0o755}
			if (e.kind == entryBind && !hostIsDir(e.source)) || e.kind == entryDevice ||
				(e.kind == entryRebind && made[e.source] == 'f') {
				n = skelNode{kind: 'f', path: e.target, mode: 0o644}
			}
			if err := addNode(n); err != nil {
				return nil, err
			}
		case entryMaskFile, entryMaskWith, entryMaskDir, entryReadOnly:
			if !covered {
				return nil, fmt.Errorf("%w: %s: masks and read-only rebinds apply inside an earlier mount", ErrBadPlan, e.target)
			}
		case entryCopy:
			if covered {
				return nil, fmt.Errorf("%w: %s lies inside the mount at %s; the plan can only create paths outside mounts", ErrBadPlan, e.target, m.target)
			}
			copied, err := cachedCopy(e.source, e.target)
			if err != nil {
				return nil, err
			}
			if len(copied) == 0 {
				break
			}
			// The tree comes parents first; only its top can clash.
			if err := addNode(copied[0]); err != nil {
				return nil, err
			}
			nodes = append(nodes, copied[1:]...)
		case entryDevices:
			if covered {
				return nil, fmt.Errorf("%w: %s lies inside the mount at %s", ErrBadPlan, e.target, m.target)
			}
			if err := addNode(skelNode{kind: 'd', path: e.target, mode: 0o755}); err != nil {
				return nil, err
			}
			for _, name := range e.names {
				n := skelNode{kind: 'f', path: e.target + "/" + name, mode: 0o644}
				if devNodesInSkeleton() {
					var st unix.Stat_t
					if err := unix.Stat("/dev/"+name, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
						return nil, fmt.Errorf("%w: device /dev/%s: not a character device (%v)", ErrBadPlan, name, err)
					}
					n = skelNode{kind: 'c', path: n.path, mode: os.FileMode(st.Mode & 0o777), rdev: st.Rdev}
				}
				if err := addNode(n); err != nil {
					return nil, err
				}
			}
		case entrySymlink, entryFile, entryDir:
			if covered {
				return nil, fmt.Errorf("%w: %s lies inside the mount at %s; the plan can only create paths outside mounts", ErrBadPlan, e.target, m.target)
			}
			n := skelNode{kind: 'd', path: e.target, mode: e.mode}
			switch e.kind {
			case entrySymlink:
				n = skelNode{kind: 'l', path: e.target, content: []byte(e.source)}
			case entryFile:
				n = skelNode{kind: 'f', path: e.target, mode: e.mode, content: e.content}
			}
			if err := addNode(n); err != nil {
				return nil, err
			}
		}
		switch e.kind {
		case entryBind, entryDevice, entryTmpfs, entryProc:
			mounts = append(mounts, e)
		case entryRebind:
			// What lies below it is what lies below its source.
			if m, ok := coveredBy(e.source); ok {
				m.target = e.target
				mounts = append(mounts, m)
			}
		}
	}
	skel, err := ensureSkeleton(nodes)
	if err != nil {
		return nil, err
	}
	p := &Plan{skeleton: skel, root: cstr(skel)}
	for _, e := range b.entries {
		p.ops = append(p.ops, compile(skel, e)...)
	}
	p.tail = findTail(p.ops)
	return p, nil
}

// findTail returns where the tail of ops starts (see Plan.Tail): the first
// step that needs the id map, when it and every step after it name no host
// path.
func findTail(ops []Op) int {
	first := len(ops)
	for i := range ops {
		if ops[i].NeedsIDMap {
			first = i
			break
		}
	}
	for i := first; i < len(ops); i++ {
		switch ops[i].Kind {
		case OpTmpfs, OpProc, OpSetAttr:
		default:
			return len(ops)
		}
	}
	return first
}

func kindName(k entryKind) string {
	switch k {
	case entryTmpfs:
		return "tmpfs"
	case entryProc:
		return "proc"
	}
	return "bind"
}

// compile turns one entry into the mount steps the child takes.
func compile(skel string, e entry) []Op {
	target := skel + e.target
	base := Op{Target: cstr(target), BoxTarget: cstr(e.target), boxTarget: e.target, Optional: e.optional}
	const nosuidNodev = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	switch e.kind {
	case entryBind:
		bind := base
		bind.Kind, bind.Source, bind.source = OpBind, cstr(e.source), e.source
		attr := base
		attr.Kind, attr.Attr, attr.Recursive = OpSetAttr, nosuidNodev, true
		if !e.writable {
			attr.Attr |= unix.MOUNT_ATTR_RDONLY
		}
		if e.noExec {
			attr.Attr |= unix.MOUNT_ATTR_NOEXEC
		}
		return []Op{bind, attr}
	case entryDevice:
		// The host's /dev flags (nosuid, usually noexec) stay locked on the
		// bind; device access is the point, so no nodev and no extra step.
		bind := base
		bind.Kind, bind.Source, bind.source = OpBind, cstr(e.source), e.source
		return []Op{bind}
	case entryTmpfs:
		o := e.tmpfs
		op := base
		op.Kind, op.Source, op.FSType = OpTmpfs, cstr("tmpfs"), cstr("tmpfs")
		op.Flags = unix.MS_NOSUID | unix.MS_NODEV
		if o.NoExec {
			op.Flags |= unix.MS_NOEXEC
		}
		if o.ReadOnly {
			op.Flags |= unix.MS_RDONLY
		}
		op.Data = cstr(tmpfsData(o))
		op.NeedsIDMap = o.BoxOwned
		return []Op{op}
	case entryProc:
		op := base
		op.Kind, op.Source, op.FSType = OpProc, cstr("proc"), cstr("proc")
		op.Flags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		// A process the box may not trace is not listed at all: a box's
		// pid 1 that runs as another user (a pooled init, or the host-side
		// reaper of Runner.ReaperApart) would otherwise show the host's
		// network (/proc/1/net) and mount table (/proc/1/mountinfo), which
		// /proc guards by the reader's namespace, not by ptrace (F4).
		// "2" rather than "invisible": older kernels know only the number.
		op.Data = cstr(procData)
		return []Op{op}
	case entryDevices:
		const devAttr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC
		if devNodesInSkeleton() {
			bind := base
			bind.Kind, bind.Source, bind.source, bind.sourceIsIn = OpBind, cstr(target), e.target, true
			attr := base
			attr.Kind, attr.Attr = OpSetAttr, devAttr
			return []Op{bind, attr}
		}
		var ops []Op
		for _, name := range e.names {
			bind := Op{Kind: OpBind, Target: cstr(target + "/" + name), boxTarget: e.target + "/" + name}
			bind.Source, bind.source = cstr("/dev/"+name), "/dev/"+name
			ops = append(ops, bind)
		}
		return ops
	case entryMaskFile:
		op := base
		op.Kind, op.Source, op.source = OpMaskFile, cstr("/dev/null"), "/dev/null"
		op.Flags = unix.MS_BIND
		return []Op{op}
	case entryMaskWith:
		// A root-owned file beside the skeletons, bound read-only: the box
		// may not write it, and nothing of the host's disk is writable
		// through the mount.
		src := maskFile(e.content)
		op := base
		op.Kind, op.Source, op.source = OpMaskFile, cstr(src), src
		op.Flags = unix.MS_BIND
		attr := base
		attr.Kind, attr.Attr = OpSetAttr, nosuidNodev|unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOEXEC
		return []Op{op, attr}
	case entryMaskDir:
		// An empty root-owned directory beside the skeletons, bound
		// read-only: a bind costs the child a third of a tmpfs mount.
		op := base
		op.Kind, op.Source, op.source = OpMaskDir, cstr(emptyDir()), emptyDir()
		op.Flags = unix.MS_BIND
		attr := base
		attr.Kind, attr.Attr = OpSetAttr, nosuidNodev|unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOEXEC
		return []Op{op, attr}
	case entryRebind:
		bind := base
		bind.Kind, bind.Source, bind.source, bind.sourceIsIn = OpBind, cstr(skel+e.source), e.source, true
		if e.writable {
			return []Op{bind}
		}
		attr := base
		attr.Kind, attr.Attr, attr.Recursive = OpSetAttr, nosuidNodev|unix.MOUNT_ATTR_RDONLY, true
		return []Op{bind, attr}
	case entryReadOnly:
		bind := base
		bind.Kind, bind.Source, bind.source, bind.sourceIsIn = OpBind, cstr(target), e.target, true
		attr := base
		attr.Kind, attr.Attr, attr.Recursive = OpSetAttr, nosuidNodev|unix.MOUNT_ATTR_RDONLY, true
		return []Op{bind, attr}
	}
	return nil // skeleton-only entries take no step in the child
}

func tmpfsData(o TmpfsOptions) string {
	inodes := o.Inodes
	if inodes == 0 {
		inodes = max(o.Size/4096, 64)
	}
	mode := uint32(o.Mode.Perm())
	if o.Mode&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	s := fmt.Sprintf("mode=%04o,nr_inodes=%d", mode, inodes)
	if o.Size > 0 {
		s += fmt.Sprintf(",size=%d", o.Size)
	}
	if o.BoxOwned {
		s += fmt.Sprintf(",uid=%d,gid=%d", sandbox.BoxUID, sandbox.BoxGID)
	}
	return s
}
