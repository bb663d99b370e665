package container

// The init's wipe of /w between runs (U2), never following a link.

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// wipedRoots are the directories a box may write that every reset wipes
// (U2): /w, the host's work directory bound in, which the host reaches by
// its path. /tmp and /dev/shm, the container's own tmpfs, are mounted
// afresh instead (freshTmp).
var wipedRoots = []string{"/w"}

// rootState is a writable root as the build left it, so that a reset can
// restore what a run may change about the directory itself.
type rootState struct {
	path     string
	mode     uint32
	uid, gid uint32
}

func recordRoots(paths []string) ([]rootState, error) {
	out := make([]rootState, 0, len(paths))
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil, fmt.Errorf("init: stat %s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, fmt.Errorf("init: %s is not a directory", p)
		}
		out = append(out, rootState{path: p, mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid})
	}
	return out, nil
}

// wipe removes everything below the root, restores its mode and owner, drops
// its extended attributes and sets its times to now, then checks that it is
// empty. Nothing is followed: entries are removed relative to directory
// descriptors opened with O_NOFOLLOW, so a planted symlink is removed, never
// its target.
func (r rootState) wipe() error {
	fd, err := unix.Open(r.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	defer unix.Close(fd)
	if err := removeBelow(fd); err != nil {
		return fmt.Errorf("wipe %s: %w", r.path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", r.path, err)
	}
	if st.Uid != r.uid || st.Gid != r.gid {
		if err := unix.Fchown(fd, int(r.uid), int(r.gid)); err != nil {
			return fmt.Errorf("restore owner of %s: %w", r.path, err)
		}
	}
	if st.Mode&0o7777 != r.mode {
		if err := unix.Fchmod(fd, r.mode); err != nil {
			return fmt.Errorf("restore mode of %s: %w", r.path, err)
		}
	}
	if err := dropXattrs(fd); err != nil {
		return fmt.Errorf("%s: %w", r.path, err)
	}
	// The times the run left (set with touch, or of its last access) would
	// tell the next run about it: they become the time of the reset, as on
	// a directory made then.
	if err := touchNow(fd); err != nil {
		return fmt.Errorf("reset the times of %s: %w", r.path, err)
	}
	names, err := readNames(fd)
	if err != nil {
		return fmt.Errorf("check %s: %w", r.path, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%s still holds %q after the wipe", r.path, names)
	}
	return nil
}

// touchNow sets the access and modification times of fd to now (and so its
// change time).
func touchNow(fd int) error {
	// utimensat(fd, NULL, NULL, 0) works on fd itself.
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// removeBelow removes every entry of the directory fd, depth first.
func removeBelow(dirfd int) error {
	for pass := 0; ; pass++ {
		names, err := readNames(dirfd)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		if pass == 3 {
			return fmt.Errorf("entries keep appearing: %q", names)
		}
		if err := removeTree(dirfd, names); err != nil {
			return err
		}
		// A directory can only grow again if something still runs in the
		// box; reset checked that nothing does, so the next pass ends it.
	}
}

// wipeLevel is one directory on the way down: the names still to remove
// and what it is, to check the way back up.
type wipeLevel struct {
	names    []string
	dev, ino uint64
	name     string // its name in the level above ("" for the root)
}

// at names an entry in messages: its name and how deep below the root.
func at(name string, depth int) string {
	return fmt.Sprintf("%s (%d deep)", name, depth)
}

// removeTree removes names, the entries of root, and everything below them,
// holding one descriptor at a time besides root: a box may nest directories
// deeper than any descriptor limit (one per level would fail the reset with
// EMFILE). It goes back up by "..", which nothing can move meanwhile (no box
// process is left) and which is checked against the directory it came down
// from.
func removeTree(root int, names []string) error {
	var st unix.Stat_t
	if err := unix.Fstat(root, &st); err != nil {
		return err
	}
	stack := []wipeLevel{{names: names, dev: st.Dev, ino: st.Ino}}
	cur := root
	defer func() {
		if cur != root {
			unix.Close(cur)
		}
	}()
	for {
		top := &stack[len(stack)-1]
		if len(top.names) == 0 {
			if len(stack) == 1 {
				return nil
			}
			done := top.name
			where := at(done, len(stack)-1)
			stack = stack[:len(stack)-1]
			up, err := unix.Openat(cur, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s/..: %w", where, err)
			}
			unix.Close(cur)
			cur = up
			parent := stack[len(stack)-1]
			if err := unix.Fstat(cur, &st); err != nil {
				return fmt.Errorf("stat %s/..: %w", where, err)
			}
			if st.Dev != parent.dev || st.Ino != parent.ino {
				return fmt.Errorf("%s/.. is not the directory it was entered from", where)
			}
			// Its entries are gone: the directory itself goes.
			if err := unix.Unlinkat(cur, done, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("rmdir %s: %w", where, err)
			}
			continue
		}
		name := top.names[0]
		top.names = top.names[1:]
		err := unix.Unlinkat(cur, name, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EISDIR) {
			return fmt.Errorf("unlink %s: %w", at(name, len(stack)-1), err)
		}
		sub, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", at(name, len(stack)-1), err)
		}
		subNames, err := readNames(sub)
		if err == nil {
			err = unix.Fstat(sub, &st)
		}
		if err != nil {
			unix.Close(sub)
			return fmt.Errorf("%s: %w", at(name, len(stack)-1), err)
		}
		if cur != root {
			unix.Close(cur)
		}
		cur = sub
		stack = append(stack, wipeLevel{names: subNames, dev: st.Dev, ino: st.Ino, name: name})
	}
}

// readNames lists a directory from its start, without closing fd.
func readNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// dropXattrs removes every extended attribute the directory has (a box owns
// /w and may label it).
func dropXattrs(fd int) error {
	buf := make([]byte, 4096)
	n, err := unix.Flistxattr(fd, buf)
	if errors.Is(err, unix.ENOTSUP) || n == 0 {
		return nil
	}
	if errors.Is(err, unix.ERANGE) {
		// More names than the first buffer holds: ask for their size.
		size, sizeErr := unix.Flistxattr(fd, nil)
		if sizeErr != nil {
			return fmt.Errorf("list xattrs: %w", sizeErr)
		}
		buf = make([]byte, size)
		n, err = unix.Flistxattr(fd, buf)
	}
	if err != nil {
		return fmt.Errorf("list xattrs: %w", err)
	}
	start := 0
	for i := 0; i < n; i++ {
		if buf[i] != 0 {
			continue
		}
		if i > start {
			name := string(buf[start:i])
			if err := unix.Fremovexattr(fd, name); err != nil && !errors.Is(err, unix.ENODATA) {
				return fmt.Errorf("remove xattr %s: %w", name, err)
			}
		}
		start = i + 1
	}
	return nil
}
