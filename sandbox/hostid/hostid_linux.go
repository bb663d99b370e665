package hostid

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Base is the first host id handed out; Count ids follow it. They sit far
// above what any distribution allocates to users, so a box owns nothing on
// the host and shares no id with a real account.
const (
	Base  = 1 << 30
	Count = 1 << 16
)

// LockFile is the file whose bytes stand for the ids: byte i is locked by
// the process holding Base+i.
const LockFile = "/run/gosandbox/hostid.lock"

// ErrExhausted is returned when every id of the range is leased.
var ErrExhausted = errors.New("hostid: every box id is in use")

// Lease is one host id held for one box, until Release.
type Lease struct {
	UID, GID int
	index    int // -1: not from the range (unprivileged supervisor)
	once     sync.Once
}

var table struct {
	sync.Mutex
	fd    int // LockFile, opened once per process
	inUse map[int]bool
	next  int
}

// Acquire leases an id no other live box uses. Root only takes ids from the
// range; other callers get their own effective ids.
func Acquire() (*Lease, error) {
	if os.Geteuid() != 0 {
		return &Lease{UID: os.Geteuid(), GID: os.Getegid(), index: -1}, nil
	}
	table.Lock()
	defer table.Unlock()
	if table.inUse == nil {
		if err := os.MkdirAll(filepath.Dir(LockFile), 0o755); err != nil {
			return nil, fmt.Errorf("hostid: %w", err)
		}
		fd, err := unix.Open(LockFile, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("hostid: open %s: %w", LockFile, err)
		}
		table.fd, table.inUse = fd, map[int]bool{}
		// Start where another process is unlikely to be: fewer lock
		// conflicts to walk past.
		table.next = os.Getpid() % Count
	}
	for tries := 0; tries < Count; tries++ {
		i := table.next
		table.next = (table.next + 1) % Count
		if table.inUse[i] {
			continue
		}
		err := lockByte(table.fd, i, unix.F_WRLCK)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			continue // another process holds it
		}
		if err != nil {
			return nil, fmt.Errorf("hostid: lock id %d: %w", Base+i, err)
		}
		table.inUse[i] = true
		return &Lease{UID: Base + i, GID: Base + i, index: i}, nil
	}
	return nil, ErrExhausted
}

// Release gives the id back. The box must be gone: nothing may still run as
// it. Release is idempotent.
func (l *Lease) Release() {
	if l == nil || l.index < 0 {
		return
	}
	l.once.Do(func() {
		table.Lock()
		defer table.Unlock()
		lockByte(table.fd, l.index, unix.F_UNLCK)
		delete(table.inUse, l.index)
	})
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
