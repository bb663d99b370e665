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
}

// Save records the modes of each of files that is a terminal and returns
// the function that restores them. Files that are nil or not terminals are
// skipped; restoring is best effort (a terminal hung up meanwhile has no
// modes to restore).
func Save(files ...*os.File) (restore func()) {
	var s []saved
	for _, f := range files {
		if f == nil {
			continue
		}
		fd := int(f.Fd())
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			continue // not a terminal
		}
		w, _ := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		s = append(s, saved{fd: fd, termios: t, winsize: w})
	}
	return func() {
		for _, e := range s {
			unix.IoctlSetTermios(e.fd, unix.TCSETS, e.termios)
			if e.winsize != nil {
				unix.IoctlSetWinsize(e.fd, unix.TIOCSWINSZ, e.winsize)
			}
		}
	}
}
