package hostid

// Lease: host ids of a box's own (its uid and gid, and the owner of its namespaces), held by locking a byte of a shared file.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// Base is the first host id handed out; Count ids follow it, and Count more
// (Base+Count...) own the boxes' namespaces. They sit far above what any
// distribution allocates to users, so a box owns nothing on the host and
// shares no id with a real account.
const (
	Base  = sandbox.BoxHostIDBase
	Count = sandbox.BoxHostIDCount
)

// LockFile is the file whose bytes stand for the ids: byte i is locked by
// whoever holds Base+i.
const LockFile = "/run/gosandbox/hostid.lock"

// ErrExhausted is returned when every id of the range is leased.
var ErrExhausted = errors.New("hostid: every box id is in use")

// Lease is the host ids of one box, held until Release.
type Lease struct {
	// UID and GID are what the box's programs run as on the host (the
	// box's BoxUID/BoxGID map to them).
	UID, GID int
	// Owner owns the box's user namespace (uid and gid) and is the id of a
	// pooled container's init. It is never mapped inside the box, so
	// nothing in the box runs as it: the box can neither signal nor trace
	// a process that has it. For an unprivileged supervisor it is UID.
	Owner int
	fd    int // LockFile, opened for this lease alone; -1 when unlocked
	once  sync.Once
}

// next is where the next search starts: leases spread over the range, so
// a search seldom walks past ids in use.
var next struct {
	sync.Mutex
	i       int
	started bool
}

// Acquire leases an id no other live box uses, in this process or any
// other. Only root takes ids from the range; other callers get their own
// effective ids, which are all they may map.
//
// Each lease opens the lock file on its own: locks of distinct open file
// descriptions conflict even within one process, so the kernel alone says
// which ids are taken, and the lease holds no descriptor once released.
func Acquire() (*Lease, error) {
	if os.Geteuid() != 0 {
		return &Lease{UID: os.Geteuid(), GID: os.Getegid(), Owner: os.Geteuid(), fd: -1}, nil
	}
	fd, err := unix.Open(LockFile, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(filepath.Dir(LockFile), 0o755); err != nil {
			return nil, fmt.Errorf("hostid: %w", err)
		}
		fd, err = unix.Open(LockFile, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("hostid: open %s: %w", LockFile, err)
	}
	next.Lock()
	if !next.started {
		next.i, next.started = os.Getpid()%Count, true
	}
	start := next.i
	next.Unlock()
	for tries := 0; tries < Count; tries++ {
		i := (start + tries) % Count
		err := lockByte(fd, i, unix.F_WRLCK)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			continue // held by another box
		}
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("hostid: lock id %d: %w", Base+i, err)
		}
		next.Lock()
		next.i = (i + 1) % Count
		next.Unlock()
		return &Lease{UID: Base + i, GID: Base + i, Owner: Base + Count + i, fd: fd}, nil
	}
	unix.Close(fd)
	return nil, ErrExhausted
}

// Release gives the id back by closing the lease's descriptor, which drops
// its lock. The box must be gone: nothing may still run as it. Release is
// idempotent and accepts nil.
func (l *Lease) Release() {
	if l == nil || l.fd < 0 {
		return
	}
	l.once.Do(func() { unix.Close(l.fd) })
}

func lockByte(fd, i int, kind int16) error {
	lk := unix.Flock_t{Type: kind, Whence: 0, Start: int64(i), Len: 1}
	for {
		err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}
