package mount

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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

var (
	baseOnce  sync.Once
	base      string
	devInSkel bool
	rootBases = []string{"/run/gosandbox/skel", "/var/lib/gosandbox/skel"}
)

// skeletonBase is where skeleton directories live: a place only root writes,
// kept as a cache. Root prefers one whose file system allows device nodes,
// so that /dev can be a single rebind of the skeleton's own nodes. A process
// that is not root (a container's init in its user namespace) uses the
// place root made, so that it finds the skeletons the host built for the
// same layout; only when there is none does it fall back to a directory of
// its own.
func skeletonBase() string {
	baseOnce.Do(func() {
		root := os.Geteuid() == 0
		var existing []string
		for _, b := range rootBases {
			if root {
				if err := os.MkdirAll(b, 0o755); err != nil {
					continue
				}
			} else if st, err := os.Stat(b); err != nil || !st.IsDir() {
				continue
			}
			existing = append(existing, b)
			var st unix.Statfs_t
			if unix.Statfs(b, &st) == nil && st.Flags&unix.ST_NODEV == 0 {
				base, devInSkel = b, true
				return
			}
		}
		switch {
		case len(existing) > 0:
			base = existing[0]
		case root:
			base = rootBases[0]
		default:
			base = filepath.Join(os.TempDir(), fmt.Sprintf("gosandbox-skel-%d", os.Geteuid()))
		}
	})
	return base
}

// emptyDir returns the empty read-only directory that masks /proc
// directories, made once beside the skeletons.
func emptyDir() string {
	emptyOnce.Do(func() {
		emptyPath = filepath.Join(skeletonBase(), "empty")
		if err := os.MkdirAll(emptyPath, 0o555); err == nil {
			os.Chmod(emptyPath, 0o555)
		}
	})
	return emptyPath
}

var (
	emptyOnce sync.Once
	emptyPath string
)

// maskFile returns a root-owned, read-only file beside the skeletons that
// holds content (named by its hash, made once).
func maskFile(content []byte) string {
	sum := sha256.Sum256(content)
	path := filepath.Join(skeletonBase(), "masks", hex.EncodeToString(sum[:8]))
	maskMu.Lock()
	defer maskMu.Unlock()
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, content) {
		return path
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return path // the child's bind fails and names the target
	}
	if tmp, err := os.CreateTemp(dir, ".new-"); err == nil {
		tmp.Write(content)
		tmp.Chmod(0o444)
		tmp.Close()
		if os.Rename(tmp.Name(), path) != nil {
			os.Remove(tmp.Name())
		}
	}
	return path
}

var maskMu sync.Mutex

// devNodesInSkeleton reports whether device nodes are made in the skeleton
// (root, and a skeleton file system without nodev).
func devNodesInSkeleton() bool {
	skeletonBase()
	return devInSkel
}

var (
	copyMu    sync.Mutex
	copyCache = map[[2]string][]skelNode{}
)

// cachedCopy is copyTree read once per process: host configuration copied
// into boxes is a snapshot taken when the first plan needs it, so building
// a plan per run stays cheap.
func cachedCopy(source, target string) ([]skelNode, error) {
	copyMu.Lock()
	defer copyMu.Unlock()
	key := [2]string{source, target}
	if nodes, ok := copyCache[key]; ok {
		return nodes, nil
	}
	nodes, err := copyTree(source, target)
	if err != nil {
		return nil, err
	}
	// The first node stands for the whole tree in the skeleton's name; the
	// others are not hashed again.
	if len(nodes) > 0 {
		h := sha256.New()
		for _, n := range nodes {
			fmt.Fprintf(h, "%c %s %o %d\n", n.kind, n.path, n.mode, len(n.content))
			h.Write(n.content)
		}
		var d [sha256.Size]byte
		h.Sum(d[:0])
		nodes[0].digest = &d
		for i := 1; i < len(nodes); i++ {
			nodes[i].hashed = true
		}
	}
	copyCache[key] = nodes
	return nodes, nil
}

// ForgetSnapshots drops the host files read for skeletons (see cachedCopy).
// A process that builds no more plans (a pooled container's init, once its
// root is built) calls it to give that memory back; a plan built after it
// takes its snapshots afresh.
func ForgetSnapshots() {
	copyMu.Lock()
	defer copyMu.Unlock()
	copyCache = map[[2]string][]skelNode{}
}

// maxCopyBytes bounds what Builder.Copy puts in a skeleton.
const maxCopyBytes = 16 << 20

// copyTree reads the host file or tree at source into skeleton nodes at
// target. Special files are left out.
func copyTree(source, target string) ([]skelNode, error) {
	var nodes []skelNode
	total := 0
	err := filepath.WalkDir(source, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == source && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(source, p)
		t := path.Join(target, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			dest, err := os.Readlink(p)
			if err != nil {
				return err
			}
			nodes = append(nodes, skelNode{kind: 'l', path: t, content: []byte(dest)})
		case d.IsDir():
			nodes = append(nodes, skelNode{kind: 'd', path: t, mode: info.Mode().Perm() | 0o500})
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if total += len(b); total > maxCopyBytes {
				return fmt.Errorf("more than %d bytes", maxCopyBytes)
			}
			nodes = append(nodes, skelNode{kind: 'f', path: t, mode: info.Mode().Perm(), content: b})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mount: copy %s: %w", source, err)
	}
	return nodes, nil
}

// skeletonVersion changes whenever the way a skeleton is laid out changes.
const skeletonVersion = "1"

// ensureSkeleton returns the directory holding nodes, creating it when no
// earlier plan (of this or another process) did. It is built under a
// temporary name and renamed into place, so a reader never sees half of it.
// The process is then a user of it until it exits (see hold).
func ensureSkeleton(nodes []skelNode) (string, error) {
	base := skeletonBase()
	pruneAtStart.Do(func() { pruneSkeletons(base, defaultPrune, time.Now()) })
	return ensureSkeletonIn(base, nodes)
}

func ensureSkeletonIn(base string, nodes []skelNode) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "gosandbox skeleton %s\n", skeletonVersion)
	for _, n := range nodes {
		if n.hashed {
			continue
		}
		fmt.Fprintf(h, "%c %s %o %d %d\n", n.kind, n.path, n.mode, n.rdev, len(n.content))
		if n.digest != nil {
			h.Write(n.digest[:])
		} else {
			h.Write(n.content)
		}
	}
	dir := filepath.Join(base, hex.EncodeToString(h.Sum(nil))[:32])
	// A skeleton may be pruned between the build and the hold; then it is
	// built again. Twice in a row means something else is wrong.
	for attempt := 0; attempt < 3; attempt++ {
		ok, err := hold(base, dir)
		if err != nil {
			return "", err
		}
		if ok {
			return dir, nil
		}
		made, err := buildSkeleton(base, dir, nodes)
		if err != nil {
			return "", err
		}
		if made {
			// The cache grew: trim it now rather than at the next start.
			pruneSkeletons(base, defaultPrune, time.Now())
		}
	}
	return "", fmt.Errorf("mount: skeleton %s: removed again and again while being taken", dir)
}

// buildSkeleton lays out nodes under a temporary name in base and renames
// it to dir. made is false when another builder got there first.
func buildSkeleton(base, dir string, nodes []skelNode) (made bool, err error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return false, fmt.Errorf("mount: skeleton dir: %w", err)
	}
	tmp, err := os.MkdirTemp(base, buildingPrefix)
	if err != nil {
		return false, fmt.Errorf("mount: skeleton dir: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	// Locked while it is being built so that a prune leaves it alone.
	lock, err := lockDir(tmp, unix.LOCK_EX)
	if err != nil {
		return false, err
	}
	defer unix.Close(lock)
	for _, n := range nodes {
		p := tmp + n.path
		switch n.kind {
		case 'd':
			err = os.Mkdir(p, n.mode.Perm())
			if err == nil {
				err = os.Chmod(p, n.mode.Perm()) // past the umask
			}
		case 'f':
			err = os.WriteFile(p, n.content, n.mode.Perm())
			if err == nil {
				err = os.Chmod(p, n.mode.Perm())
			}
		case 'l':
			err = os.Symlink(string(n.content), p)
		case 'c':
			err = unix.Mknod(p, unix.S_IFCHR|uint32(n.mode.Perm()), int(n.rdev))
			if err == nil {
				err = os.Chmod(p, n.mode.Perm())
			}
		}
		if err != nil {
			return false, fmt.Errorf("mount: skeleton %s: %w", n.path, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, fmt.Errorf("mount: skeleton: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return false, nil // another builder got there first: use its copy
		}
		return false, fmt.Errorf("mount: skeleton: %w", err)
	}
	return true, nil
}

// Skeletons are a cache, and a skeleton in use must stay: a box's root is
// a bind of its skeleton, and a removed skeleton takes the mounts of the
// boxes and containers standing on it away with it. So every process that
// takes a skeleton registers as its user until it exits: plans are cached
// and reused, boxes outlive the call that made their plan, and a pooled
// container's host registers for the init that stands on it (an init may
// not write here; it dies with its host). A registration is a file under
// usersDir naming the skeleton, the process and its start time, so that a
// crashed process (or a recycled pid) is told from a live one without any
// descriptor kept open. pruneSkeletons removes only skeletons without a
// live user (see prunePolicy), under an exclusive flock of the base
// directory that registration takes shared, so that no skeleton is removed
// between a process's look and its registration. It runs when a process
// first needs a skeleton (what a crashed supervisor left goes at the next
// start) and whenever one is added.
type prunePolicy struct {
	// keep is how many unused skeletons stay, the most recently taken.
	keep int
	// minIdle spares a skeleton taken this recently even beyond keep: a
	// container's host may have compiled its plan in a helper process that
	// already exited, and supervisors of an older version do not register.
	minIdle time.Duration
	// maxIdle removes a skeleton not taken for this long even within keep.
	maxIdle time.Duration
}

var defaultPrune = prunePolicy{keep: 8, minIdle: time.Hour, maxIdle: 7 * 24 * time.Hour}

const (
	// staleBuild is how old an unlocked half-built skeleton must be to be
	// removed: older builders did not lock theirs.
	staleBuild = 10 * time.Minute

	usersDir       = ".users"
	buildingPrefix = ".building-"
	removingPrefix = ".removing-"
)

var (
	pruneAtStart sync.Once
	heldMu       sync.Mutex
	held         = map[string]bool{} // skeleton directories this process registered for
)

// hold registers this process as a user of the skeleton at dir, once per
// process, and marks it used now. ok is false when there is no skeleton at
// dir (never built, or pruned).
func hold(base, dir string) (ok bool, err error) {
	heldMu.Lock()
	defer heldMu.Unlock()
	if held[dir] {
		return true, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return false, nil
	}
	lock, err := lockDir(base, unix.LOCK_SH)
	if err != nil {
		return false, err
	}
	defer unix.Close(lock)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return false, nil // pruned before the lock
	}
	// A process that may not write here (a container's init) relies on the
	// registration of its host.
	if unix.Access(base, unix.W_OK) == nil {
		me, err := self()
		if err == nil {
			err = os.MkdirAll(filepath.Join(base, usersDir), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(base, usersDir, filepath.Base(dir)+"."+me), nil, 0o644)
		}
		if err != nil {
			return false, fmt.Errorf("mount: register as a user of skeleton %s: %w", dir, err)
		}
		// Most recently taken first when pruning.
		now := time.Now()
		os.Chtimes(dir, now, now)
	}
	held[dir] = true
	return true, nil
}

// self names this process in registrations: PID.STARTTIME.
func self() (string, error) {
	start, err := startTime(os.Getpid())
	if err != nil {
		return "", err
	}
	return strconv.Itoa(os.Getpid()) + "." + start, nil
}

// startTime is field 22 of /proc/PID/stat, the process's start in clock
// ticks since boot: with the pid it names one process for good.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", errors.New("mount: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", errors.New("mount: short /proc stat")
	}
	return f[19], nil
}

// liveUsers reads the registrations under base, removes those of processes
// that are gone, and returns the skeletons that still have a user.
func liveUsers(base string) map[string]bool {
	live := map[string]bool{}
	dir := filepath.Join(base, usersDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return live
	}
	for _, e := range ents {
		skel, who, ok := strings.Cut(e.Name(), ".")
		pidStr, start, ok2 := strings.Cut(who, ".")
		pid, err := strconv.Atoi(pidStr)
		if !ok || !ok2 || err != nil || pid <= 0 {
			continue
		}
		if now, err := startTime(pid); err == nil && now == start {
			live[skel] = true
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
	return live
}

// lockDir opens dir and flocks it with how (LOCK_SH, LOCK_EX, maybe
// LOCK_NB), returning the descriptor that holds the lock.
func lockDir(dir string, how int) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("mount: skeleton lock: %w", err)
	}
	if err := unix.Flock(fd, how); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mount: skeleton lock: %w", err)
	}
	return fd, nil
}

// pruneSkeletons removes from base the skeletons without a live user, as
// policy says, and what crashed builders and removers left. It never waits
// for a lock (a prune already under way is enough), and does nothing where
// it may not change base (a container's init). It returns how many entries
// it removed.
func pruneSkeletons(base string, policy prunePolicy, now time.Time) int {
	if unix.Access(base, unix.W_OK) != nil {
		return 0
	}
	lock, err := lockDir(base, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return 0
	}
	defer unix.Close(lock)
	live := liveUsers(base)
	ents, err := os.ReadDir(base)
	if err != nil {
		return 0
	}
	type unused struct {
		name string
		used time.Time
	}
	var free []unused
	var doomed []string
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		switch {
		case isSkeletonName(name):
			if !live[name] {
				free = append(free, unused{name, info.ModTime()})
			}
		case strings.HasPrefix(name, buildingPrefix):
			// A build in progress holds its directory's lock.
			if now.Sub(info.ModTime()) < staleBuild {
				continue
			}
			if fd, err := lockDir(filepath.Join(base, name), unix.LOCK_EX|unix.LOCK_NB); err == nil {
				unix.Close(fd)
				doomed = append(doomed, name)
			}
		case strings.HasPrefix(name, removingPrefix):
			doomed = append(doomed, name)
		}
		// Anything else ("empty", usersDir) is not a cache entry.
	}
	sort.Slice(free, func(i, j int) bool { return free[i].used.After(free[j].used) })
	for i, f := range free {
		idle := now.Sub(f.used)
		if idle < policy.minIdle || i < policy.keep && idle < policy.maxIdle {
			continue
		}
		// Moved away first: the name is free at once, and a remover that
		// crashes leaves a .removing- directory for the next prune.
		gone, err := os.MkdirTemp(base, removingPrefix)
		if err != nil {
			continue
		}
		if os.Rename(filepath.Join(base, f.name), filepath.Join(gone, f.name)) == nil {
			doomed = append(doomed, filepath.Base(gone))
		} else {
			os.Remove(gone)
		}
	}
	removed := 0
	for _, name := range doomed {
		if os.RemoveAll(filepath.Join(base, name)) == nil {
			removed++
		}
	}
	return removed
}

// isSkeletonName reports names of the form ensureSkeleton gives: 32
// lower-case hex digits.
func isSkeletonName(name string) bool {
	if len(name) != 32 {
		return false
	}
	for _, c := range name {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// errIsAbsent reports errors that mean "there is nothing at that path".
func errIsAbsent(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}
