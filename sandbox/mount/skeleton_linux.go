package mount

// Skeleton directories on the host (mount points, /etc copies, mask files): shared, held, pruned.

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
)

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
