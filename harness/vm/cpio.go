package vm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// The initramfs is a "newc" cpio archive (the format the kernel unpacks,
// see Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte
// ASCII header per entry, the NUL-terminated name and the data, each padded
// to four bytes, closed by the entry named "TRAILER!!!".

const (
	cpioMagic   = "070701"
	cpioTrailer = "TRAILER!!!"
	cpioHeader  = 110
)

// ErrBadArchive is returned by ReadCpio for input that is not a newc archive.
var ErrBadArchive = errors.New("not a newc cpio archive")

// CpioEntry is one file, directory or symlink of an archive.
type CpioEntry struct {
	Name string      // path inside the archive, without a leading "/"
	Mode fs.FileMode // type and permission bits
	Data []byte      // file content, or the target of a symlink
}

// CpioWriter writes a newc archive. Parent directories must be added before
// their children; the kernel does not create them.
type CpioWriter struct {
	w      io.Writer
	ino    uint32
	off    int64
	closed bool
	err    error
}

// NewCpioWriter returns a writer appending entries to w.
func NewCpioWriter(w io.Writer) *CpioWriter {
	return &CpioWriter{w: w, ino: 1}
}

// Dir adds a directory.
func (c *CpioWriter) Dir(name string, perm fs.FileMode) error {
	return c.add(name, 0o040000|uint32(perm.Perm()), nil)
}

// File adds a regular file with the given permission bits (setuid, setgid and
// sticky bits included).
func (c *CpioWriter) File(name string, perm fs.FileMode, data []byte) error {
	return c.add(name, 0o100000|unixPerm(perm), data)
}

// Symlink adds a symbolic link name -> target.
func (c *CpioWriter) Symlink(name, target string) error {
	return c.add(name, 0o120000|0o777, []byte(target))
}

// Close writes the trailer. It does not close the underlying writer.
func (c *CpioWriter) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	c.header(cpioTrailer, 0, 0, 0)
	return c.err
}

func (c *CpioWriter) add(name string, mode uint32, data []byte) error {
	if c.closed {
		return errors.New("cpio: write after close")
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" || name == cpioTrailer {
		return fmt.Errorf("cpio: invalid entry name %q", name)
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	c.header(name, mode, nlink, uint32(len(data)))
	c.write(data)
	c.pad()
	return c.err
}

func (c *CpioWriter) header(name string, mode, nlink, size uint32) {
	ino := c.ino
	if name == cpioTrailer {
		ino = 0
	}
	// magic ino mode uid gid nlink mtime filesize devmajor devminor
	// rdevmajor rdevminor namesize check; every field 8 hex digits.
	fields := []uint32{ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.WriteString(cpioMagic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	c.write([]byte(b.String()))
	c.pad()
}

func (c *CpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.off += int64(n)
	if err != nil {
		c.err = fmt.Errorf("cpio: write: %w", err)
	}
}

func (c *CpioWriter) pad() {
	if r := c.off % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// unixPerm converts fs.FileMode permission and special bits to Unix mode bits.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// fileMode converts Unix mode bits to an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	switch m & 0o170000 {
	case 0o040000:
		fm |= fs.ModeDir
	case 0o120000:
		fm |= fs.ModeSymlink
	case 0o100000:
	default:
		fm |= fs.ModeIrregular
	}
	return fm
}

// ReadCpio reads every entry of a newc archive up to its trailer.
func ReadCpio(r io.Reader) ([]CpioEntry, error) {
	br := bufio.NewReader(r)
	var off int64
	skip := func(n int64) error {
		k, err := io.CopyN(io.Discard, br, n)
		off += k
		return err
	}
	align := func() error {
		if rem := off % 4; rem != 0 {
			return skip(4 - rem)
		}
		return nil
	}
	var entries []CpioEntry
	for {
		hdr := make([]byte, cpioHeader)
		if _, err := io.ReadFull(br, hdr); err != nil {
			return entries, fmt.Errorf("cpio: header at %d: %w", off, errOrBad(err))
		}
		off += cpioHeader
		if string(hdr[:6]) != cpioMagic {
			return entries, fmt.Errorf("cpio: magic %q at %d: %w", hdr[:6], off-cpioHeader, ErrBadArchive)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return entries, fmt.Errorf("cpio: header field %d: %w", i, ErrBadArchive)
			}
			f[i] = uint32(v)
		}
		mode, size, namesize := f[1], f[6], f[11]
		if namesize == 0 || namesize > 4096 {
			return entries, fmt.Errorf("cpio: name size %d: %w", namesize, ErrBadArchive)
		}
		name := make([]byte, namesize)
		if _, err := io.ReadFull(br, name); err != nil {
			return entries, fmt.Errorf("cpio: name: %w", errOrBad(err))
		}
		off += int64(namesize)
		n := strings.TrimRight(string(name), "\x00")
		if err := align(); err != nil {
			return entries, fmt.Errorf("cpio: padding: %w", errOrBad(err))
		}
		if n == cpioTrailer {
			return entries, nil
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return entries, fmt.Errorf("cpio: data of %s: %w", n, errOrBad(err))
		}
		off += int64(size)
		if err := align(); err != nil {
			return entries, fmt.Errorf("cpio: padding: %w", errOrBad(err))
		}
		entries = append(entries, CpioEntry{Name: n, Mode: fileMode(mode), Data: data})
	}
}

func errOrBad(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated: %w", ErrBadArchive)
	}
	return err
}
