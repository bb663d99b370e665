package workdir

// BindLook: the output limit in a run's writable binds (R10).

import (
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// BindLook looks at a run's writable binds for a file at the output limit,
// as the runners look at /w, /tmp and /dev/shm: a program that ignores
// SIGXFSZ and grows a file in a writable bind to the limit (the write
// fails or is cut short there as anywhere) must not end ok. A bind is the
// caller's directory, not the box's: the files at the limit it held before
// the run are input, passed over unless the program changed them (the same
// rule as copy-in's). Runs at once may share a writable bind: a file
// owned by another box's host uid that only its owner may write is that
// box's output, and passed over too (a box cannot give its files away).
// The zero value and a nil *BindLook have nothing.
type BindLook struct {
	size   int64
	uid    int   // the run's host uid, whose files may be its output
	dirs   []int // O_PATH descriptors of the writable bind directories
	files  []int // O_PATH descriptors of the writable bind files
	before map[fileID]struct{}
}

// LookAtBinds opens the writable binds of binds by their host paths (the
// caller's, resolved before the program runs, as the mounts were or will
// be) and notes the files already at size bytes or more in them; uid is
// the host uid the run's programs have (hostid.Lease.UID). Binds
// that are read-only, or whose source is gone, are left out: the former
// cannot grow, and the latter fails the run's mounts anyway. It costs
// nothing without a writable bind, and one walk of each one with.
func LookAtBinds(binds []sandbox.Bind, size int64, uid int) *BindLook {
	l := &BindLook{size: size, uid: uid}
	for _, b := range binds {
		if !b.Writable {
			continue
		}
		fd, err := unix.Open(b.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			unix.Close(fd)
			continue
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			l.dirs = append(l.dirs, fd)
			treeHasFileAtLeast(fd, size, func(st *unix.Stat_t) bool { return l.note(idOf(st)) })
		case unix.S_IFREG:
			l.files = append(l.files, fd)
			if st.Size >= size {
				l.note(idOf(&st))
			}
		default:
			// A device or FIFO bound writable holds no file that grows.
			unix.Close(fd)
		}
	}
	return l
}

// note records a file at the limit seen before the run; it returns true so
// that the walk passes over it and goes on.
func (l *BindLook) note(id fileID) bool {
	if l.before == nil {
		l.before = map[fileID]struct{}{}
	}
	l.before[id] = struct{}{}
	return true
}

// AtLimit reports whether a writable bind holds a regular file of at least
// the size given to LookAtBinds that was not there, unchanged, before the
// run. The walk follows no symlink (a dying box may still swap its
// directories for links to host paths).
func (l *BindLook) AtLimit() bool {
	if l == nil {
		return false
	}
	notOurs := func(st *unix.Stat_t) bool {
		if _, ok := l.before[idOf(st)]; ok {
			return true
		}
		// Another box's file that only its owner may write (no group or
		// other write bit; an ACL granting a user shows in the group
		// bits): this run's programs could not have grown it.
		return int(st.Uid) != l.uid && sandbox.IsBoxHostID(int(st.Uid)) && st.Mode&0o022 == 0
	}
	for _, fd := range l.files {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Size >= l.size && !notOurs(&st) {
			return true
		}
	}
	for _, fd := range l.dirs {
		if treeHasFileAtLeast(fd, l.size, notOurs) {
			return true
		}
	}
	return false
}

// Close releases the descriptors; a nil *BindLook is fine.
func (l *BindLook) Close() {
	if l == nil {
		return
	}
	for _, fd := range l.dirs {
		unix.Close(fd)
	}
	for _, fd := range l.files {
		unix.Close(fd)
	}
	l.dirs, l.files = nil, nil
}
