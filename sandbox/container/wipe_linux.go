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
		for _, name := range names {
			if err := removeEntry(dirfd, name); err != nil {
				return err
			}
		}
		// A directory can only grow again if something still runs in the
		// box; reset checked that nothing does, so the next pass ends it.
	}
}

func removeEntry(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("unlink %s: %w", name, err)
	}
	sub, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	err = removeBelow(sub)
	unix.Close(sub)
	if err != nil {
		return fmt.Errorf("%s/%w", name, err)
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", name, err)
	}
	return nil
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
