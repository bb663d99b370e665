package workdir

// Dir: the host side of /w (tmpfs, copy-in, copy-out that never follows links).

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// DefaultRootForRoot is where a root supervisor makes work directories: on
// /run, so a crash leaves nothing on persistent disk.
const DefaultRootForRoot = "/run/gosandbox/w"

// DefaultNamePrefix starts the name of a work directory made without a
// Name: DefaultNamePrefix + PID + "-" + random, the form RemoveStale knows.
const DefaultNamePrefix = "gosandbox-w-"

// Options configure a work directory.
type Options struct {
	// Root is the parent of the per-run directory; "" means
	// DefaultRootForRoot when root, else os.TempDir().
	Root string
	// Size caps the tmpfs (bytes; 0 = sandbox.DefaultLimits.Tmpfs). Without
	// root there is no tmpfs and no cap.
	Size int64
	// Inodes caps the number of files of the tmpfs; 0 derives it from Size.
	Inodes int
	// Name, when set, is the directory's name under Root, so a runner can
	// reuse a few stable paths (and the mount plans compiled for them)
	// instead of a new random one per run. A leftover of that name (a
	// crashed run) is removed first; put the owner's pid in it
	// (PREFIX + PID + "-...") so RemoveStale can find it. "" picks a fresh
	// name DefaultNamePrefix + PID + "-" + random.
	Name string
	// UID and GID own the directory: the box's host ids. Zero takes
	// sandbox.HostBoxUID().
	UID, GID int
}

// Dir is one run's work directory on the host.
type Dir struct {
	path    string
	fd      int // O_PATH descriptor of the directory: every later access is relative to it
	mounted bool
	uid     int
	gid     int

	// placed are the files the last CopyIn wrote, as they were then: the
	// caller's input, which is no output of the program while it stays
	// unchanged.
	placed map[fileID]struct{}

	closeOnce sync.Once
	closeErr  error
}

// ErrRefused is wrapped by copy-out reasons that the file itself caused.
var ErrRefused = errors.New("refused")

// New makes a fresh, empty work directory owned by the box's host id.
func New(o Options) (*Dir, error) {
	root := o.Root
	if root == "" {
		root = os.TempDir()
		if sandbox.HostIsRoot() {
			root = DefaultRootForRoot
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("workdir: make root: %w", err)
	}
	path, err := makeDir(root, o.Name)
	if err != nil {
		return nil, fmt.Errorf("workdir: %w", err)
	}
	d := &Dir{path: path, fd: -1}
	d.uid, d.gid = sandbox.HostBoxUID()
	if o.UID > 0 {
		d.uid, d.gid = o.UID, o.GID
	}
	if err := d.setUp(o); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func makeDir(root, name string) (string, error) {
	if name == "" {
		// The owner's pid in the name lets RemoveStale take down what a
		// killed process left.
		return os.MkdirTemp(root, DefaultNamePrefix+strconv.Itoa(os.Getpid())+"-")
	}
	if strings.Contains(name, "/") || name == "." || name == ".." {
		return "", fmt.Errorf("name %q: want one path component", name)
	}
	path := filepath.Join(root, name)
	err := os.Mkdir(path, 0o700)
	if errors.Is(err, os.ErrExist) {
		// A leftover of a run that could not clean up: take it down.
		unix.Unmount(path, unix.MNT_DETACH)
		if err := os.RemoveAll(path); err != nil {
			return "", err
		}
		err = os.Mkdir(path, 0o700)
	}
	return path, err
}

func (d *Dir) setUp(o Options) error {
	if sandbox.HostIsRoot() {
		size := o.Size
		if size <= 0 {
			size = sandbox.DefaultLimits.Tmpfs
		}
		inodes := o.Inodes
		if inodes <= 0 {
			inodes = sandbox.WorkDirInodes(size)
		}
		data := fmt.Sprintf("size=%d,nr_inodes=%d,mode=0755,uid=%d,gid=%d", size, inodes, d.uid, d.gid)
		if err := unix.Mount("gosandbox-w", d.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return fmt.Errorf("workdir: mount tmpfs on %s: %w", d.path, err)
		}
		d.mounted = true
	} else if err := os.Chmod(d.path, 0o755); err != nil {
		return fmt.Errorf("workdir: %w", err)
	}
	fd, err := unix.Open(d.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("workdir: open %s: %w", d.path, err)
	}
	d.fd = fd
	return nil
}

// Path is the directory on the host, to be bound at /w in the box.
func (d *Dir) Path() string { return d.path }

// Tmpfs reports whether the directory is a capped tmpfs (root only).
func (d *Dir) Tmpfs() bool { return d.mounted }

// Close unmounts and removes the directory and everything in it. It is
// idempotent and safe to call on a half-made Dir.
func (d *Dir) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		if d.fd >= 0 {
			unix.Close(d.fd)
			d.fd = -1
		}
		if d.mounted {
			if err := unix.Unmount(d.path, 0); err != nil {
				// Still busy (a descriptor the caller forgot): detach it so
				// it disappears with its last user.
				if err2 := unix.Unmount(d.path, unix.MNT_DETACH); err2 != nil {
					errs = append(errs, fmt.Errorf("workdir: unmount %s: %w", d.path, err))
				}
			}
		}
		// RemoveAll never follows the symlinks a program may have planted.
		if err := os.RemoveAll(d.path); err != nil {
			errs = append(errs, fmt.Errorf("workdir: remove: %w", err))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// CheckCopyIn verifies, before anything runs, that every host path of files
// exists and is a regular file. Its errors wrap sandbox.ErrInvalidSpec and
// name the file.
func CheckCopyIn(files []sandbox.CopyIn) error {
	for i, c := range files {
		if c.HostPath == "" {
			continue
		}
		fi, err := os.Stat(c.HostPath)
		if err != nil {
			return fmt.Errorf("%w: copy-in[%d] %s: %v", sandbox.ErrInvalidSpec, i, c.Name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: copy-in[%d] %s: %s is not a regular file", sandbox.ErrInvalidSpec, i, c.Name, c.HostPath)
		}
	}
	return nil
}

// CheckCopyInFits verifies, before anything runs, that files fit in a work
// directory of capacity bytes (Limits.Tmpfs), counting whole pages as tmpfs
// does. Its error wraps sandbox.ErrInvalidSpec.
func CheckCopyInFits(files []sandbox.CopyIn, capacity int64) error {
	const page = 4096
	var total int64
	for _, c := range files {
		size := int64(len(c.Content))
		if c.HostPath != "" {
			fi, err := os.Stat(c.HostPath)
			if err != nil {
				return fmt.Errorf("%w: copy-in %s: %v", sandbox.ErrInvalidSpec, c.Name, err)
			}
			size = fi.Size()
		}
		total += (size + page - 1) / page * page
	}
	if total > capacity {
		return fmt.Errorf("%w: copy-in files take %d bytes, more than the work directory's %s (raise the tmpfs limit)",
			sandbox.ErrInvalidSpec, total, sandbox.FormatSize(capacity))
	}
	return nil
}

// CopyIn writes files into the directory, owned by the box. A file from a
// host path keeps its permission bits (executables stay executable) unless
// Mode says otherwise; Content gets Mode or 0644. Subdirectories in a name
// are created.
//
// Each call fills the directory for one run: it records the files it
// placed, so that HasFileAtLeast passes over those the program leaves
// unchanged, and forgets the files of earlier calls.
func (d *Dir) CopyIn(files []sandbox.CopyIn) error {
	d.placed = nil
	for _, c := range files {
		id, err := d.copyIn(c)
		if err != nil {
			return fmt.Errorf("workdir: copy-in %s: %w", c.Name, err)
		}
		if d.placed == nil {
			d.placed = map[fileID]struct{}{}
		}
		d.placed[id] = struct{}{}
	}
	return nil
}

func (d *Dir) copyIn(c sandbox.CopyIn) (fileID, error) {
	var src *os.File
	mode := c.Mode.Perm()
	if c.HostPath != "" {
		f, err := os.Open(c.HostPath)
		if err != nil {
			return fileID{}, err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return fileID{}, err
		}
		if !fi.Mode().IsRegular() {
			return fileID{}, fmt.Errorf("%s is not a regular file", c.HostPath)
		}
		if c.Mode == 0 {
			mode = fi.Mode().Perm()
		}
		src = f
	} else if c.Mode == 0 {
		mode = 0o644
	}
	parent, base, err := d.makeParents(c.Name)
	if err != nil {
		return fileID{}, err
	}
	defer unix.Close(parent)
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode))
	if err != nil {
		return fileID{}, err
	}
	out := os.NewFile(uintptr(fd), c.Name)
	defer out.Close()
	if src != nil {
		_, err = io.Copy(out, src)
	} else {
		_, err = out.Write(c.Content)
	}
	if err != nil {
		return fileID{}, err
	}
	// The umask may have taken bits away; the file gets exactly its mode.
	if err := out.Chmod(mode); err != nil {
		return fileID{}, err
	}
	if err := out.Chown(d.uid, d.gid); err != nil {
		return fileID{}, err
	}
	// Taken last, once nothing more changes the file. On file systems
	// with coarse timestamps this stat also asks for a fine one on the
	// next change (multigrain timestamps), so a quick rewrite still shows.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileID{}, err
	}
	return idOf(&st), nil
}

// makeParents creates the directories leading to name and returns a
// descriptor of the last one with the final component.
func (d *Dir) makeParents(name string) (parent int, base string, err error) {
	parts := strings.Split(filepath.Clean(name), "/")
	dirfd, err := unix.Openat(d.fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	for _, p := range parts[:len(parts)-1] {
		if err := unix.Mkdirat(dirfd, p, 0o755); err == nil {
			if err := unix.Fchownat(dirfd, p, d.uid, d.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				unix.Close(dirfd)
				return -1, "", err
			}
		} else if err != unix.EEXIST {
			unix.Close(dirfd)
			return -1, "", err
		}
		next, err := unix.Openat(dirfd, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dirfd)
		if err != nil {
			return -1, "", err
		}
		dirfd = next
	}
	return dirfd, parts[len(parts)-1], nil
}

// RemoveStale removes the work directories under root (default root when
// "") named prefix + PID + "-..." whose PID no longer runs: what a killed
// supervisor could not clean up. A directory of a live process is left
// alone. It returns how many it removed.
func RemoveStale(root, prefix string) (int, error) {
	if root == "" {
		root = os.TempDir()
		if sandbox.HostIsRoot() {
			root = DefaultRootForRoot
		}
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("workdir: %w", err)
	}
	removed := 0
	var errs []error
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || err == unix.EPERM {
			continue // alive (or a recycled pid: be conservative)
		}
		path := filepath.Join(root, e.Name())
		unix.Unmount(path, unix.MNT_DETACH)
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// HasFileAtLeast reports whether some regular file in the directory is at
// least size bytes long: a file the program could not grow because of
// RLIMIT_FSIZE. It follows no symlink.
//
// Files the last CopyIn placed and the program left unchanged are passed
// over: they are the caller's input, however large (B7, R10).
//
// A directory that is its own tmpfs and holds nothing but its root is
// answered from one fstatfs: most programs write nothing in /w, and a walk
// costs the end of every run far more.
func (d *Dir) HasFileAtLeast(size int64) bool {
	if d.mounted && emptyTmpfs(d.fd) {
		return false
	}
	return treeHasFileAtLeast(d.fd, size, func(st *unix.Stat_t) bool {
		_, placed := d.placed[idOf(st)]
		return placed
	})
}

// PlacedAtLeast reports whether the last CopyIn placed a file of at least
// size bytes: HasFileAtLeast passes over it while it stays unchanged, which
// a look that does not know the placed files (TreeHasFileAtLeast) cannot.
func (d *Dir) PlacedAtLeast(size int64) bool {
	for id := range d.placed {
		if id.size >= size {
			return true
		}
	}
	return false
}

// TreeHasFileAtLeast is HasFileAtLeast for a directory the host did not
// make, reached through a descriptor (a box's own /w, opened through
// /proc/PID/root while the box ran). A negative dirfd has nothing; an
// empty tmpfs root is answered from one fstatfs, as in HasFileAtLeast.
func TreeHasFileAtLeast(dirfd int, size int64) bool {
	if dirfd < 0 || emptyTmpfs(dirfd) {
		return false
	}
	return treeHasFileAtLeast(dirfd, size, nil)
}

// ScratchHasFileAtLeast is TreeHasFileAtLeast for a box's other writable
// directories, /tmp and /dev/shm, reached from an O_PATH descriptor of the
// box's /w (the root of its mount, a child of the box's root): the output
// limit is the largest file a program may write anywhere, and a write past
// it there fails as in /w. The box's root is read-only and both are mount
// points, so neither name can be swapped for a link; the look follows none
// anyway. The two are one tmpfs in the default plan (a bind), looked at
// once: an empty one costs an open, an fstatfs, two stats and a close. A
// negative boxW has nothing.
func ScratchHasFileAtLeast(boxW int, size int64) bool {
	if boxW < 0 {
		return false
	}
	tmp, err := unix.Openat2(boxW, "../tmp", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if err == nil {
		found := TreeHasFileAtLeast(tmp, size)
		var t, shm unix.Stat_t
		same := unix.Fstat(tmp, &t) == nil && unix.Fstatat(boxW, "../dev/shm", &shm, unix.AT_SYMLINK_NOFOLLOW) == nil && t.Dev == shm.Dev
		unix.Close(tmp)
		if found || same {
			return found
		}
	}
	shm, err := unix.Openat2(boxW, "../dev/shm", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return false
	}
	defer unix.Close(shm)
	return TreeHasFileAtLeast(shm, size)
}

// emptyTmpfs reports whether fd is the root of a tmpfs that holds no inode
// but that root; false when it cannot tell (not a tmpfs, no inode count).
func emptyTmpfs(fd int) bool {
	if fd < 0 {
		return false
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return false
	}
	// A tmpfs without an inode limit (nr_inodes=0) reports no counts.
	return st.Files > 0 && st.Files-st.Ffree <= 1
}

// treeHasFileAtLeast walks the tree below root (a directory descriptor)
// by descriptors and never follows a symlink: a box's processes may still
// be dying while it looks, and one of them could swap a directory the walk
// listed for a link to a host path, whose files would then decide the
// verdict (and a link to / would have the host walk its whole tree). Each
// directory is opened by its path from a base, the root or a directory the
// walk holds open; a path that grows long makes its directory the base of
// its entries, so that a tree deeper than PATH_MAX is looked at whole (a
// box makes one a directory at a time).
func treeHasFileAtLeast(root int, size int64, skip func(*unix.Stat_t) bool) bool {
	type base struct{ fd, refs int }
	type item struct {
		base *base
		rel  string
	}
	rootBase := &base{fd: root, refs: 1}
	pending := []item{{rootBase, "."}}
	done := func(b *base) {
		if b.refs--; b.refs == 0 && b != rootBase {
			unix.Close(b.fd)
		}
	}
	defer func() {
		for _, it := range pending {
			done(it.base)
		}
	}()
	for len(pending) > 0 {
		it := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		found := lookDir(it.base.fd, it.rel, size, skip, func(fd int, name string) {
			rel := it.rel + "/" + name
			if len(it.rel) < maxWalkPath {
				it.base.refs++
				pending = append(pending, item{it.base, rel})
				return
			}
			// A base of its own, opened beneath this one.
			sub, err := openBeneath(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
			if err != nil {
				return
			}
			pending = append(pending, item{&base{fd: sub, refs: 1}, "."})
		})
		done(it.base)
		if found {
			return true
		}
	}
	return false
}

// maxWalkPath is how long a path from its base the walk lets grow: well
// within PATH_MAX with one more name (255 bytes) added.
const maxWalkPath = 2048

// lookDir lists the directory at rel beneath dirfd: it reports whether it
// holds a regular file of at least size bytes (skip aside), and hands each
// subdirectory to sub, with the listed directory's descriptor.
func lookDir(dirfd int, rel string, size int64, skip func(*unix.Stat_t) bool, sub func(fd int, name string)) bool {
	fd, err := openBeneath(dirfd, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return false // gone, or no longer a directory
	}
	// Named by its descriptor: where the file system gives no entry
	// types, ReadDir looks at each entry by its name under this one.
	dir := os.NewFile(uintptr(fd), "/proc/self/fd/"+strconv.Itoa(fd))
	defer dir.Close()
	entries, _ := dir.ReadDir(-1)
	for _, e := range entries {
		switch {
		case e.IsDir():
			sub(fd, e.Name())
		case e.Type().IsRegular():
			var st unix.Stat_t
			if unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil ||
				st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < size {
				continue
			}
			if skip != nil && skip(&st) {
				continue
			}
			return true
		}
	}
	return false
}

// StreamAtLimit reports whether one of files (a program's stdout and
// stderr) is a regular file of at least size bytes: RLIMIT_FSIZE stopped
// it, maybe silently. Pipes, terminals and nil files never are.
func StreamAtLimit(size int64, files ...*os.File) bool {
	for _, f := range files {
		if f == nil {
			continue
		}
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() >= size {
			return true
		}
	}
	return false
}

// fileID is what tells a file unchanged since it was seen: the same inode
// with the same size, mtime and ctime. A program can set mtime back, but
// any change it makes moves ctime to the present.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: unix.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		ctime: unix.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}

// CopyOut reads the named files back. Each name ends up either in files
// (its content) or in reasons (why it was refused or could not be read).
// Symlinks anywhere in the name, FIFOs, sockets, devices, directories,
// files with more than one link and files larger than limit are refused
// without reading them. limit <= 0 means sandbox.DefaultLimits.Output.
func (d *Dir) CopyOut(names []string, limit int64) (files map[string][]byte, reasons map[string]string) {
	if limit <= 0 {
		limit = sandbox.DefaultLimits.Output
	}
	for _, name := range names {
		data, err := d.readOut(name, limit)
		if err != nil {
			if reasons == nil {
				reasons = map[string]string{}
			}
			reasons[name] = err.Error()
			continue
		}
		if files == nil {
			files = map[string][]byte{}
		}
		files[name] = data
	}
	return files, reasons
}

func (d *Dir) readOut(name string, limit int64) ([]byte, error) {
	// Look first through an O_PATH descriptor, which opens anything (a
	// socket, a device on a nodev mount) without side effects, so the
	// reason names what the file is.
	pathFD, err := openBeneath(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return nil, openReason(err)
	}
	err = checkFile(pathFD, limit)
	unix.Close(pathFD)
	if err != nil {
		return nil, err
	}
	fd, err := openBeneath(d.fd, name, openFlags)
	if err != nil {
		return nil, openReason(err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// Check again what was really opened: the name may have been swapped.
	if err := checkFile(fd, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: grew past the output limit %s while being read", ErrRefused, sandbox.FormatSize(limit))
	}
	return data, nil
}

func openReason(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return errors.New("not found")
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		// ELOOP: a symlink under RESOLVE_NO_SYMLINKS or O_NOFOLLOW; EXDEV: an
		// escape from the directory.
		return fmt.Errorf("%w: a symlink or a path leading outside the work directory", ErrRefused)
	}
	return err
}

// checkFile refuses anything but a small regular file with one link.
func checkFile(fd int, limit int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%w: not a regular file (%s)", ErrRefused, sandbox.FileKind(st.Mode))
	}
	if st.Nlink > 1 {
		return fmt.Errorf("%w: has %d hard links", ErrRefused, st.Nlink)
	}
	if st.Size > limit {
		return fmt.Errorf("%w: size %d exceeds the output limit %s", ErrRefused, st.Size, sandbox.FormatSize(limit))
	}
	return nil
}

// openFlags never block (a FIFO would), never take a terminal and never
// follow a final symlink.
const openFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC

// openBeneath opens name relative to dirfd without following any symlink
// and without leaving the directory.
func openBeneath(dirfd int, name string, flags int) (int, error) {
	fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err == unix.ENOSYS || err == unix.EPERM {
		// Kernels before 5.6, or a filter that forbids openat2: walk the
		// components one by one with O_NOFOLLOW.
		return openWalking(dirfd, name, flags)
	}
	return fd, err
}

func openWalking(dirfd int, name string, flags int) (int, error) {
	clean := filepath.Clean(name)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return -1, unix.EXDEV
	}
	parts := strings.Split(clean, "/")
	cur, err := unix.Openat(dirfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(cur, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	defer unix.Close(cur)
	return unix.Openat(cur, parts[len(parts)-1], flags, 0)
}

// WriteFiles writes copied-out files under dir on the host (the CLI's
// current directory), creating subdirectories, never following a symlink
// at the final component.
func WriteFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		p := filepath.Join(dir, filepath.Clean(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("workdir: write %s: %w", name, err)
		}
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("workdir: write %s: %w", name, err)
		}
		f := os.NewFile(uintptr(fd), p)
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("workdir: write %s: %w", name, err)
		}
	}
	return nil
}

func defaultOutput() int64 { return sandbox.DefaultLimits.Output }
