package memfd

// Memory files: made, filled, reopened read-only, and read back within a bound.

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// New returns an empty memfd, read-write and close-on-exec. name shows in
// /proc/PID/fd as "/memfd:name" and means nothing else. It may be sealed
// (ReadOnly does).
func New(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd: create %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// WithContent returns a memfd holding b, positioned at its start.
func WithContent(name string, b []byte) (*os.File, error) {
	f, err := New(name)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: write %q: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: rewind %q: %w", name, err)
	}
	return f, nil
}

// ReadOnly seals f's content (f must come from New or WithContent) and
// opens a second, read-only descriptor of it (through /proc/self/fd),
// positioned at the start: what a program gets as stdin so that it cannot
// change the content for anyone else holding f. The read-only open alone
// would not do: the holder can open /proc/self/fd/N again for writing, and
// a memfd's mode (0777) lets anyone.
func ReadOnly(f *os.File) (*os.File, error) {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return nil, fmt.Errorf("memfd: seal %s: %w", f.Name(), err)
	}
	ro, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("memfd: reopen %s read-only: %w", f.Name(), err)
	}
	return ro, nil
}

// ReadBounded reads f from offset 0 (whatever its position) up to limit
// bytes. exceeded is true when f holds more than limit bytes: only the first
// limit are returned, so a huge file never becomes a huge buffer.
func ReadBounded(f *os.File, limit int64) (data []byte, exceeded bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, false, fmt.Errorf("memfd: stat %s: %w", f.Name(), err)
	}
	size := st.Size
	if size > limit {
		size, exceeded = limit, true
	}
	data = make([]byte, size)
	n, err := f.ReadAt(data, 0)
	if err != nil && err != io.EOF {
		return nil, false, fmt.Errorf("memfd: read %s: %w", f.Name(), err)
	}
	return data[:n], exceeded, nil
}
