package batch

// A job's copy-in host paths confined beneath the copy-in root, never followed out of it.

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// confineCopyIn resolves every copy-in host path of spec beneath root (see
// Options.CopyInRoot) and hands the runner the descriptor it resolved
// (/proc/self/fd/N) instead of the path, so nothing swapped in after the
// check (a symlink planted meanwhile) is read. release closes the
// descriptors: call it once the run is over.
func confineCopyIn(spec sandbox.Spec, root string) (confined sandbox.Spec, release func(), err error) {
	var fds []int
	release = func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	root, err = filepath.Abs(root)
	if err != nil {
		return spec, release, fmt.Errorf("copy-in root %s: %w", root, err)
	}
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return spec, release, fmt.Errorf("copy-in root %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	copies := append([]sandbox.CopyIn(nil), spec.CopyIn...)
	for i, c := range copies {
		if c.HostPath == "" {
			continue
		}
		fd, err := openBeneath(rootFD, root, c.HostPath)
		if err != nil {
			return spec, release, fmt.Errorf("copy_in %q %q: %w", c.Name, c.HostPath, err)
		}
		fds = append(fds, fd)
		copies[i].HostPath = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	spec.CopyIn = copies
	return spec, release, nil
}

// openBeneath opens (O_PATH) the regular file that p names beneath
// rootFD, the directory root: p relative to root, or absolute and inside
// it. No ".." anywhere, no symlink that leads out (RESOLVE_BENEATH refuses
// absolute symlinks and any step above root), no magic links.
func openBeneath(rootFD int, root, p string) (int, error) {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return -1, errors.New(`".." is not allowed under the copy-in root`)
		}
	}
	rel := p
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(root, filepath.Clean(p))
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return -1, fmt.Errorf("outside the copy-in root %s", root)
		}
		rel = r
	}
	fd, err := unix.Openat2(rootFD, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case errors.Is(err, unix.EXDEV):
		return -1, fmt.Errorf("leads outside the copy-in root %s", root)
	case errors.Is(err, unix.ELOOP):
		return -1, errors.New("a magic link or a symlink loop on the way")
	case errors.Is(err, unix.ENOSYS):
		return -1, errors.New("openat2 is not available on this kernel, so the copy-in root cannot be enforced")
	case err != nil:
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, errors.New("not a regular file")
	}
	return fd, nil
}
