package tty

// Save: terminal modes of a run's descriptors kept and restored after it (H4).

import (
	"os"

	"golang.org/x/sys/unix"
)

type saved struct {
	fd      int
	termios *unix.Termios
	winsize *unix.Winsize
	flags   int // file status flags (F_GETFL); -1 when unknown
}

// Save records the modes of each of files that is a terminal, and the file
// status flags of every one of them, and returns the function that restores
// them. The box shares the caller's open file descriptions, so a flag it
// sets there (O_NONBLOCK, O_APPEND) would otherwise stay after the run: a
// shell whose terminal turned non-blocking fails its next read. Nil files
// are skipped; restoring is best effort (a terminal hung up meanwhile has
// no modes to restore).
func Save(files ...*os.File) (restore func()) {
	var s []saved
	for _, f := range files {
		if f == nil {
			continue
		}
		fd := int(f.Fd())
		e := saved{fd: fd, flags: -1}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			e.flags = fl
		}
		if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			e.termios = t
			e.winsize, _ = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		}
		s = append(s, e)
	}
	return func() {
		for _, e := range s {
			if e.flags >= 0 {
				if now, err := unix.FcntlInt(uintptr(e.fd), unix.F_GETFL, 0); err == nil && now != e.flags {
					unix.FcntlInt(uintptr(e.fd), unix.F_SETFL, e.flags)
				}
			}
			if e.termios == nil {
				continue
			}
			unix.IoctlSetTermios(e.fd, unix.TCSETS, e.termios)
			if e.winsize != nil {
				unix.IoctlSetWinsize(e.fd, unix.TIOCSWINSZ, e.winsize)
			}
		}
	}
}
