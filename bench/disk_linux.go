package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/bench/benchjson"
	"gosandbox/harness"
	"gosandbox/sandbox/forkexec"
)

// Disk layouts compared by the disk scenario.
const (
	layoutSharedBinds  = "shared-binds" // read-only binds of host paths plus tmpfs: what our backends do
	layoutFSDelta      = "shared-binds-fs-delta"
	layoutRootfsCopy   = "rootfs-copy"   // a per-run copy of a minimal root filesystem
	layoutOverlayUpper = "overlay-upper" // an overlay upper (and work) dir over a shared lower
)

// allocatedBytes sums the blocks allocated to root and everything below it,
// as du does: st_blocks·512 of each inode once (hard links count once).
func allocatedBytes(root string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat_t", path)
		}
		if k := (inode{st.Dev, st.Ino}); !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("bench: allocated bytes of %s: %w", root, err)
	}
	return total, nil
}

// usedBytes is the space in use on the filesystem holding path.
func usedBytes(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("bench: statfs %s: %w", path, err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize, nil
}

// disk measures the bytes a sandbox puts on disk in three layouts.
func (r *runner) disk(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: "Bytes a sandbox puts on disk, measured from the filesystem (st_blocks of every inode, as du), never computed. " +
		"shared-binds (our backends: read-only binds plus tmpfs): TMPDIR is pointed at a fresh directory on the temp filesystem " +
		"before the backend is opened; while a run that wrote a small file in its work directory is held open, the allocated bytes " +
		"of everything the backend created there, plus any writable block-device mount inside the box (from /proc/PID/mountinfo) " +
		"outside it; shared-binds-fs-delta is the statfs used-space change of that filesystem over the same time (other writers " +
		"on the machine add noise). rootfs-copy: /usr/bin/true's closure (the binary, its shared libraries per ldd, a few /etc files) " +
		"copied into a temporary directory, then removed. overlay-upper: an overlay mounted in a private mount namespace with that copy " +
		"as lower; a shell writes a small file through it; the upper and work dirs are measured. Unit: bytes per sandbox."}
	steps := len(r.backends)*r.cfg.Rounds + 2*r.cfg.Rounds
	r.prog.begin(ScenarioDisk, steps)

	var fails failures
	for _, name := range r.backends {
		created := benchjson.Series{Backend: name, Variant: layoutSharedBinds, Param: "layout", Unit: "bytes", Samples: []float64{}}
		delta := benchjson.Series{Backend: name, Variant: layoutFSDelta, Param: "layout", Unit: "bytes", Samples: []float64{}}
		for range r.cfg.Rounds {
			c, d, notes, err := r.sharedBindsBytes(ctx, name)
			fails.add(name+" "+layoutSharedBinds, err)
			if err == nil {
				created.Samples = append(created.Samples, float64(c))
				delta.Samples = append(delta.Samples, float64(d))
			}
			for _, n := range notes {
				if !slices.Contains(sc.Errors, n) {
					sc.Errors = append(sc.Errors, n)
				}
			}
			r.prog.step(name)
		}
		sc.Series = append(sc.Series, created, delta)
	}

	copySeries := benchjson.Series{Backend: layoutRootfsCopy, Variant: layoutRootfsCopy, Param: "layout", Program: "/usr/bin/true", Unit: "bytes", Samples: []float64{}}
	overlay := benchjson.Series{Backend: layoutOverlayUpper, Variant: layoutOverlayUpper, Param: "layout", Program: "/usr/bin/true", Unit: "bytes", Samples: []float64{}}
	var overlaySkip string
	for range r.cfg.Rounds {
		n, err := measureRootfsCopy()
		fails.add(layoutRootfsCopy, err)
		if err == nil {
			copySeries.Samples = append(copySeries.Samples, float64(n))
		}
		r.prog.step(layoutRootfsCopy)
		if overlaySkip == "" {
			n, err := measureOverlay()
			var skip skipError
			switch {
			case errors.As(err, &skip):
				overlaySkip = string(skip)
			case err != nil:
				fails.add(layoutOverlayUpper, err)
			default:
				fails.add(layoutOverlayUpper, nil)
				overlay.Samples = append(overlay.Samples, float64(n))
			}
		}
		r.prog.step(layoutOverlayUpper)
	}
	if overlaySkip != "" {
		sc.Errors = append(sc.Errors, "overlay-upper skipped: "+overlaySkip)
	}
	sc.Series = append(sc.Series, copySeries, overlay)
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}

// skipError is a layout that cannot be measured on this host, with the reason.
type skipError string

func (e skipError) Error() string { return string(e) }

// sharedBindsBytes opens name with TMPDIR pointing at a fresh directory, holds
// a run that wrote a small file, and returns the bytes allocated under that
// directory (plus writable disk mounts of the box outside it) and the
// filesystem's used-space change. Notes name such mounts.
func (r *runner) sharedBindsBytes(ctx context.Context, name string) (created, delta int64, notes []string, err error) {
	dir, err := os.MkdirTemp("", "gosandbox-bench-disk-")
	if err != nil {
		return 0, 0, nil, fmt.Errorf("bench: disk dir: %w", err)
	}
	defer os.RemoveAll(dir)
	old, had := os.LookupEnv("TMPDIR")
	os.Setenv("TMPDIR", dir)
	defer func() {
		if had {
			os.Setenv("TMPDIR", old)
		} else {
			os.Unsetenv("TMPDIR")
		}
	}()
	usedBefore, err := usedBytes(dir)
	if err != nil {
		return 0, 0, nil, err
	}
	b, err := openBackend(name, harness.Options{PoolSize: 1})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("open: %w", err)
	}
	defer closeBackend(b)
	marker := newMarker("disk")
	rd, wr, err := os.Pipe()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("bench: pipe: %w", err)
	}
	defer rd.Close()
	spec := r.spec(waitingProgram("echo gosandbox-bench > out.txt && echo ready", marker)...)
	spec.Stdout = wr
	h, err := r.startHeld(ctx, b, spec, marker)
	if err != nil {
		wr.Close()
		return 0, 0, nil, err
	}
	defer func() {
		ferr := h.finish()
		// Only now: the backend may not have passed it on before.
		wr.Close()
		if ferr != nil && err == nil {
			err = fmt.Errorf("held run: %w", ferr)
		}
	}()
	if err := awaitLine(rd, "ready", h, time.Minute); err != nil {
		return 0, 0, nil, fmt.Errorf("the run did not write its file: %w", err)
	}
	_, boxes, err := findMarked([]*heldRun{h}, time.Minute)
	if err != nil {
		return 0, 0, nil, err
	}
	if created, err = allocatedBytes(dir); err != nil {
		return 0, 0, nil, err
	}
	created -= dirOwnBytes(dir)
	if r.features[name].Isolated {
		for _, m := range writableDiskMounts(sortedKeys(boxes)) {
			if strings.HasPrefix(m, dir+"/") || m == dir {
				continue
			}
			n, err := allocatedBytes(m)
			if err != nil {
				notes = append(notes, fmt.Sprintf("%s: writable disk mount %s inside the box: %v", name, m, err))
				continue
			}
			created += n
			notes = append(notes, fmt.Sprintf("%s: writable disk mount %s inside the box, counted", name, m))
		}
	}
	usedAfter, err := usedBytes(dir)
	if err != nil {
		return 0, 0, nil, err
	}
	return created, usedAfter - usedBefore, notes, nil
}

// awaitLine waits for the line want on r, unless the held run ends first or
// the timeout passes.
func awaitLine(r io.Reader, want string, h *heldRun, timeout time.Duration) error {
	got := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != want {
			err = fmt.Errorf("read %q, want %q", line, want)
		}
		got <- err
	}()
	select {
	case err := <-got:
		return err
	case err := <-h.done:
		h.done <- err // finish() still gets it
		return fmt.Errorf("the run ended first: %v", err)
	case <-time.After(timeout):
		return fmt.Errorf("no %q after %s", want, timeout)
	}
}

// dirOwnBytes is the allocation of the directory inode itself, which the bench
// made, not the sandbox.
func dirOwnBytes(dir string) int64 {
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

// writableDiskMounts lists, as host paths, the writable mounts of
// block-device filesystems seen by the given processes (their mount
// namespaces), found through /proc/PID/mountinfo and mapped back through the
// host's own mountinfo.
func writableDiskMounts(pids []int) []string {
	host := readMountinfo("/proc/self/mountinfo")
	seenNS := map[string]bool{}
	// Processes in the bench's own mount namespace (a supervisor such as
	// bwrap's outer process) see the host's mounts, not the box's.
	if self, err := os.Readlink("/proc/self/ns/mnt"); err == nil {
		seenNS[self] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, pid := range pids {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil || seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		for _, m := range readMountinfo(fmt.Sprintf("/proc/%d/mountinfo", pid)) {
			if !m.writable || strings.HasPrefix(m.dev, "0:") {
				continue
			}
			for _, h := range host {
				if h.dev != m.dev || !strings.HasPrefix(m.root, h.root) {
					continue
				}
				p := filepath.Join(h.point, strings.TrimPrefix(m.root, h.root))
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
				break
			}
		}
	}
	return out
}

type mountEntry struct {
	dev, root, point string
	writable         bool
}

func readMountinfo(path string) []mountEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		opts := strings.Split(f[5], ",")
		out = append(out, mountEntry{dev: f[2], root: unescapeMount(f[3]), point: unescapeMount(f[4]), writable: opts[0] == "rw"})
	}
	return out
}

var octalEscape = regexp.MustCompile(`\\[0-7]{3}`)

// unescapeMount undoes mountinfo's octal escapes of spaces and the like.
func unescapeMount(s string) string {
	return octalEscape.ReplaceAllStringFunc(s, func(e string) string {
		var c byte
		fmt.Sscanf(e[1:], "%o", &c)
		return string([]byte{c})
	})
}

// rootfsFiles is /usr/bin/true's closure: the binary, what ldd lists, and the
// /etc files a minimal root filesystem carries.
func rootfsFiles() ([]string, error) {
	const bin = "/usr/bin/true"
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("bench: ldd %s: %w", bin, err)
	}
	files := []string{bin}
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ld.so.cache"} {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	return files, nil
}

// buildRootfs copies the closure into root (content, following symlinks) and
// makes the empty directories a box needs.
func buildRootfs(root string) error {
	files, err := rootfsFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := copyFile(f, filepath.Join(root, f)); err != nil {
			return err
		}
	}
	for _, d := range []string{"tmp", "w", "proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("bench: rootfs: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("bench: rootfs: %w", err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return fmt.Errorf("bench: rootfs: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("bench: rootfs: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return fmt.Errorf("bench: rootfs: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("bench: rootfs: copy %s: %w", src, err)
	}
	// Written through to disk, so that st_blocks counts what is allocated
	// rather than what delayed allocation has yet to place.
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("bench: rootfs: %w", err)
	}
	return out.Close()
}

// measureRootfsCopy builds a minimal root filesystem in a temporary directory
// and returns what it occupies.
func measureRootfsCopy() (int64, error) {
	dir, err := os.MkdirTemp("", "gosandbox-bench-rootfs-")
	if err != nil {
		return 0, fmt.Errorf("bench: rootfs: %w", err)
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "root")
	if err := buildRootfs(root); err != nil {
		return 0, err
	}
	return allocatedBytes(root)
}

// measureOverlay mounts an overlay over a minimal root filesystem in a private
// mount namespace, has a shell write a small file through it and returns the
// size of the upper and work dirs. The mount namespace belongs to one locked
// OS thread that is thrown away afterwards, so nothing can leak to the host.
func measureOverlay() (int64, error) {
	if os.Geteuid() != 0 {
		return 0, skipError("needs root to mount an overlay")
	}
	dir, err := os.MkdirTemp("", "gosandbox-bench-overlay-")
	if err != nil {
		return 0, fmt.Errorf("bench: overlay: %w", err)
	}
	defer os.RemoveAll(dir)
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	if err := buildRootfs(lower); err != nil {
		return 0, err
	}
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return 0, fmt.Errorf("bench: overlay: %w", err)
		}
	}
	type result struct {
		n   int64
		err error
	}
	// On a thread of its own, never unlocked: the thread, and its mount
	// namespace, end after the measurement.
	var res result
	forkexec.OnOwnThread(func() {
		n, err := overlayOnThisThread(lower, upper, work, merged)
		res = result{n, err}
	})
	return res.n, res.err
}

func overlayOnThisThread(lower, upper, work, merged string) (int64, error) {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return 0, skipError(fmt.Sprintf("unshare mount namespace: %v", err))
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return 0, fmt.Errorf("bench: overlay: make mounts private: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return 0, skipError(fmt.Sprintf("mount overlay: %v", err))
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	// Forked from this thread, the shell shares its mount namespace.
	sh := exec.Command("/bin/sh", "-c", `echo gosandbox-bench > "$1/w/out.txt" && sync "$1/w/out.txt"`, "sh", merged)
	if out, err := sh.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("bench: overlay: write through it: %v: %s", err, out)
	}
	if err := unix.Unmount(merged, 0); err != nil {
		return 0, fmt.Errorf("bench: overlay: unmount: %w", err)
	}
	u, err := allocatedBytes(upper)
	if err != nil {
		return 0, err
	}
	w, err := allocatedBytes(work)
	if err != nil {
		return 0, err
	}
	return u + w, nil
}
