package workdir

// Tests of work directories: the tmpfs, copy in and out, planted files, captures and their limit.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

func newDir(t *testing.T, o Options) *Dir {
	t.Helper()
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		assertGone(t, d.Path())
	})
	return d
}

// assertGone checks that nothing of a closed Dir is left: no directory, no
// mount.
func assertGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Close (%v)", path, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(mounts, []byte(path)) {
		t.Errorf("%s still mounted after Close", path)
	}
}

func TestNewIsAnOwnedTmpfs(t *testing.T) {
	d := newDir(t, Options{Size: 1 << 20})
	var st unix.Stat_t
	if err := unix.Stat(d.Path(), &st); err != nil {
		t.Fatal(err)
	}
	uid, gid := sandbox.HostBoxUID()
	if int(st.Uid) != uid || int(st.Gid) != gid || st.Mode&0o777 != 0o755 {
		t.Errorf("owner %d:%d mode %#o; want %d:%d 0755", st.Uid, st.Gid, st.Mode&0o777, uid, gid)
	}
	if !sandbox.HostIsRoot() {
		t.Skip("not root: no tmpfs, nothing more to check")
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(d.Path(), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.TMPFS_MAGIC || !d.Tmpfs() {
		t.Fatalf("not a tmpfs: type %#x", fs.Type)
	}
	if got := int64(fs.Blocks) * fs.Bsize; got != 1<<20 {
		t.Errorf("tmpfs size %d, want %d", got, 1<<20)
	}
	// The cap holds: writing past it fails with ENOSPC.
	err := os.WriteFile(filepath.Join(d.Path(), "big"), make([]byte, 2<<20), 0o644)
	if !errors.Is(err, unix.ENOSPC) {
		t.Errorf("writing 2MiB into a 1MiB work dir: %v, want ENOSPC", err)
	}
}

func TestCloseIsIdempotentAndRemovesContent(t *testing.T) {
	d, err := New(Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d.Path(), "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(d.Path(), "a/etc")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, d.Path())
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatalf("Close followed a planted symlink: %v", err)
	}
}

func TestCopyIn(t *testing.T) {
	host := t.TempDir()
	exe := filepath.Join(host, "prog")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := []sandbox.CopyIn{
		{Name: "prog", HostPath: exe},
		{Name: "input.txt", Content: []byte("42\n")},
		{Name: "sub/dir/secret", Content: []byte("x"), Mode: 0o600},
	}
	if err := CheckCopyIn(files); err != nil {
		t.Fatal(err)
	}
	d := newDir(t, Options{})
	if err := d.CopyIn(files); err != nil {
		t.Fatal(err)
	}
	uid, gid := sandbox.HostBoxUID()
	for name, want := range map[string]os.FileMode{"prog": 0o755, "input.txt": 0o644, "sub/dir/secret": 0o600, "sub/dir": 0o755 | os.ModeDir} {
		fi, err := os.Lstat(filepath.Join(d.Path(), name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s: mode %v owner %d:%d; want %v %d:%d", name, fi.Mode(), st.Uid, st.Gid, want, uid, gid)
		}
	}
	got, _ := os.ReadFile(filepath.Join(d.Path(), "input.txt"))
	if string(got) != "42\n" {
		t.Errorf("input.txt = %q", got)
	}
	if err := d.CopyIn(files[1:2]); err == nil || !strings.Contains(err.Error(), "input.txt") {
		t.Errorf("copying a name twice: %v, want an error naming it", err)
	}
}

func TestCheckCopyInNamesTheMissingFile(t *testing.T) {
	err := CheckCopyIn([]sandbox.CopyIn{{Name: "a", Content: []byte("x")}, {Name: "sol", HostPath: "/nonexistent/sol.bin"}})
	if !errors.Is(err, sandbox.ErrInvalidSpec) || !strings.Contains(err.Error(), "/nonexistent/sol.bin") || !strings.Contains(err.Error(), "sol") {
		t.Errorf("got %v, want ErrInvalidSpec naming the file", err)
	}
	err = CheckCopyIn([]sandbox.CopyIn{{Name: "d", HostPath: t.TempDir()}})
	if !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("a directory: got %v, want ErrInvalidSpec", err)
	}
}

// TestCopyOutRefusesPlantedFiles plants what a hostile program would (F9) and
// checks each is refused with a reason, without blocking or following.
func TestCopyOutRefusesPlantedFiles(t *testing.T) {
	d := newDir(t, Options{})
	w := d.Path()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(w, "ok.txt"), []byte("answer"), 0o644))
	must(os.MkdirAll(filepath.Join(w, "out"), 0o755))
	must(os.WriteFile(filepath.Join(w, "out/nested.txt"), []byte("nested"), 0o644))
	must(os.Symlink("/etc/passwd", filepath.Join(w, "link")))
	must(os.Symlink("/etc", filepath.Join(w, "etcdir")))
	must(os.Symlink("ok.txt", filepath.Join(w, "innerlink")))
	must(unix.Mkfifo(filepath.Join(w, "fifo"), 0o644))
	// A hard link to a file the box could not otherwise read. Hard links
	// cannot cross file systems, so plant one to a file in the work dir.
	must(os.WriteFile(filepath.Join(w, "target"), []byte("host secret"), 0o600))
	must(os.Link(filepath.Join(w, "target"), filepath.Join(w, "hardlink")))
	sparse, err := os.Create(filepath.Join(w, "sparse"))
	must(err)
	must(sparse.Truncate(1 << 40))
	sparse.Close()
	must(os.WriteFile(filepath.Join(w, "big"), make([]byte, 2048), 0o644))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	defer unix.Close(sock)
	must(unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(w, "sock")}))
	must(unix.Mknod(filepath.Join(w, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))

	names := []string{"ok.txt", "out/nested.txt", "link", "etcdir/passwd", "innerlink", "fifo", "hardlink", "sparse", "big", "sock", "null", "out", "missing", "../escape"}
	files, reasons := d.CopyOut(names, 1024)
	if string(files["ok.txt"]) != "answer" || string(files["out/nested.txt"]) != "nested" || len(files) != 2 {
		t.Errorf("files = %q, want ok.txt and out/nested.txt only", files)
	}
	want := map[string]string{
		"link": "symlink", "etcdir/passwd": "symlink", "innerlink": "symlink",
		"fifo": "fifo", "hardlink": "hard links", "sparse": "exceeds", "big": "exceeds",
		"sock": "socket", "null": "character device", "out": "directory",
		"missing": "not found", "../escape": "outside",
	}
	for name, substr := range want {
		if !strings.Contains(reasons[name], substr) {
			t.Errorf("%s: reason %q, want it to mention %q", name, reasons[name], substr)
		}
	}
}

func TestOpenWalkingMatchesOpenat2(t *testing.T) {
	d := newDir(t, Options{})
	w := d.Path()
	os.MkdirAll(filepath.Join(w, "a"), 0o755)
	os.WriteFile(filepath.Join(w, "a/f"), []byte("x"), 0o644)
	os.Symlink("/etc", filepath.Join(w, "s"))
	os.Symlink("/etc/passwd", filepath.Join(w, "a/l"))
	for name, ok := range map[string]bool{"a/f": true, "s/passwd": false, "a/l": false, "../x": false} {
		fd, err := openWalking(d.fd, name, openFlags)
		if (err == nil) != ok {
			t.Errorf("openWalking(%q): %v, want success %v", name, err, ok)
		}
		if err == nil {
			unix.Close(fd)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/nonexistent-target", filepath.Join(dir, "trap")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir, map[string][]byte{"a.txt": []byte("a"), "sub/b.txt": []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "sub/b.txt")); string(b) != "b" {
		t.Errorf("sub/b.txt = %q", b)
	}
	if err := WriteFiles(dir, map[string][]byte{"trap": []byte("x")}); err == nil {
		t.Error("WriteFiles followed a symlink at the destination")
	}
}

func TestCaptureBelowTheLimit(t *testing.T) {
	c, err := NewCapture(100)
	if err != nil {
		t.Fatal(err)
	}
	c.Writer().WriteString("hello\n")
	data, exceeded := c.Wait()
	if string(data) != "hello\n" || exceeded {
		t.Errorf("got %q exceeded %v", data, exceeded)
	}
}

func TestCaptureStopsAtTheLimit(t *testing.T) {
	c, err := NewCapture(1000)
	if err != nil {
		t.Fatal(err)
	}
	ctx := c.Watch(context.Background())
	if len(Watches(ctx)) != 1 {
		t.Fatal("Watch did not attach the capture")
	}
	// A flood: the writer sees EPIPE once the capture gave up, instead of
	// blocking forever.
	w := bufio.NewWriter(c.Writer())
	var werr error
	for i := 0; i < 1<<20 && werr == nil; i++ {
		_, werr = w.WriteString("flood flood flood\n")
	}
	if !errors.Is(werr, unix.EPIPE) {
		t.Errorf("writer error %v, want EPIPE", werr)
	}
	<-Watches(ctx)[0]
	data, exceeded := c.Wait()
	if !exceeded || len(data) != 1000 {
		t.Errorf("exceeded %v with %d bytes, want true with 1000", exceeded, len(data))
	}
}

func TestNamedDirReplacesALeftover(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "slot-0")
	if err := os.MkdirAll(filepath.Join(stale, "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := newDir(t, Options{Root: root, Name: "slot-0"})
	if d.Path() != stale {
		t.Fatalf("path %s, want %s", d.Path(), stale)
	}
	if _, err := os.Stat(filepath.Join(stale, "junk")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover content still there: %v", err)
	}
	if _, err := New(Options{Root: root, Name: "a/b"}); err == nil {
		t.Error("a name with a slash was accepted")
	}
}

func TestHasFileAtLeast(t *testing.T) {
	d := newDir(t, Options{})
	os.MkdirAll(filepath.Join(d.Path(), "a/b"), 0o755)
	os.WriteFile(filepath.Join(d.Path(), "a/b/small"), make([]byte, 10), 0o644)
	os.Symlink("/usr/bin/env", filepath.Join(d.Path(), "big-link"))
	if d.HasFileAtLeast(11) {
		t.Error("found a file of 11 bytes (followed the symlink?)")
	}
	os.WriteFile(filepath.Join(d.Path(), "a/b/full"), make([]byte, 11), 0o644)
	if !d.HasFileAtLeast(11) {
		t.Error("missed a file of 11 bytes")
	}
}

// TestEmptyTmpfsShortcut: an empty work tmpfs is told empty from its
// statfs counts (HasFileAtLeast then walks nothing), and anything made in
// it, an empty directory or a file deleted again as well as a file, is
// seen as it should be.
func TestEmptyTmpfsShortcut(t *testing.T) {
	d := newDir(t, Options{})
	if !d.Tmpfs() {
		t.Skip("not root: the work directory is no tmpfs of its own")
	}
	if !emptyTmpfs(d.fd) {
		t.Fatal("a fresh work tmpfs not told empty")
	}
	if d.HasFileAtLeast(0) {
		t.Error("an empty work tmpfs has a file")
	}
	if err := os.Mkdir(filepath.Join(d.Path(), "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if emptyTmpfs(d.fd) {
		t.Error("a tmpfs with a directory in it told empty")
	}
	if err := os.WriteFile(filepath.Join(d.Path(), "sub", "f"), make([]byte, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	if !d.HasFileAtLeast(10) {
		t.Error("missed a file of 10 bytes")
	}
	if err := os.RemoveAll(filepath.Join(d.Path(), "sub")); err != nil {
		t.Fatal(err)
	}
	if !emptyTmpfs(d.fd) || d.HasFileAtLeast(0) {
		t.Error("an emptied work tmpfs not told empty")
	}
	other, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if emptyTmpfs(-1) || emptyTmpfs(int(other.Fd())) {
		t.Error("no descriptor, or a directory that is no tmpfs root, told an empty tmpfs")
	}
}

// BenchmarkHasFileAtLeastEmpty is the output-limit check at the end of a
// run that wrote nothing in /w.
func BenchmarkHasFileAtLeastEmpty(b *testing.B) {
	d, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for range b.N {
		if d.HasFileAtLeast(1 << 20) {
			b.Fatal("found a file in an empty directory")
		}
	}
}

// TestCopyInIsNotOutput: a copied-in file at or over the output limit is
// the caller's input, not output, as long as the program leaves it alone
// (B7, R10); rewritten or grown it counts.
func TestCopyInIsNotOutput(t *testing.T) {
	const limit = 1 << 20
	src := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(src, make([]byte, limit+1<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []sandbox.CopyIn{{Name: "in/big", HostPath: src}, {Name: "exact", Content: make([]byte, limit)}}
	d := newDir(t, Options{Size: 8 << 20})
	if err := d.CopyIn(files); err != nil {
		t.Fatal(err)
	}
	if d.HasFileAtLeast(limit) {
		t.Fatal("unchanged copy-ins count as output")
	}

	// Rewritten in place, same size.
	f, err := os.OpenFile(filepath.Join(d.Path(), "exact"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !d.HasFileAtLeast(limit) {
		t.Error("a copy-in rewritten in place does not count")
	}

	// Grown.
	d2 := newDir(t, Options{Size: 8 << 20})
	if err := d2.CopyIn(files); err != nil {
		t.Fatal(err)
	}
	f, err = os.OpenFile(filepath.Join(d2.Path(), "in/big"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more")
	f.Close()
	if !d2.HasFileAtLeast(limit) {
		t.Error("a copy-in grown past the limit does not count")
	}

	// Replaced by a new file of the same name and size.
	d3 := newDir(t, Options{Size: 8 << 20})
	if err := d3.CopyIn(files); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d3.Path(), "exact")
	os.Remove(p)
	if err := os.WriteFile(p, make([]byte, limit), 0o644); err != nil {
		t.Fatal(err)
	}
	if !d3.HasFileAtLeast(limit) {
		t.Error("a new file in place of a copy-in does not count")
	}

	// A later CopyIn (a pooled container's next run) forgets the earlier
	// run's files: were they still there, they would be that run's output.
	d4 := newDir(t, Options{Size: 8 << 20})
	if err := d4.CopyIn(files); err != nil {
		t.Fatal(err)
	}
	if err := d4.CopyIn(nil); err != nil {
		t.Fatal(err)
	}
	if !d4.HasFileAtLeast(limit) {
		t.Error("copy-ins of an earlier CopyIn still excused")
	}
}

func TestStreamAtLimit(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 99))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if StreamAtLimit(100, nil, f, w) {
		t.Error("99 bytes reached a limit of 100")
	}
	f.Write([]byte("x"))
	if !StreamAtLimit(100, nil, w, f) {
		t.Error("a regular file of 100 bytes missed at a limit of 100")
	}
}

// TestTreeHasFileAtLeast looks into a directory through a descriptor, as a
// runner does for a box's own /w that the host did not make.
func TestTreeHasFileAtLeast(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/small"), make([]byte, 10), 0o644)
	os.Symlink("/usr/bin/env", filepath.Join(dir, "big-link"))
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if TreeHasFileAtLeast(fd, 11) {
		t.Error("found a file of 11 bytes (followed the symlink?)")
	}
	os.WriteFile(filepath.Join(dir, "a/b/full"), make([]byte, 11), 0o644)
	if !TreeHasFileAtLeast(fd, 11) {
		t.Error("missed a file of 11 bytes")
	}
	if TreeHasFileAtLeast(-1, 1) {
		t.Error("no directory")
	}
}

func TestOverflowOfSeveralCaptures(t *testing.T) {
	a, _ := NewCapture(10)
	b, _ := NewCapture(10)
	ctx := b.Watch(a.Watch(context.Background()))
	stop := make(chan struct{})
	defer close(stop)
	ov := Overflow(ctx, stop)
	b.Writer().WriteString("more than ten bytes")
	<-ov
	if _, exceeded := b.Wait(); !exceeded {
		t.Error("b not exceeded")
	}
	if _, exceeded := a.Wait(); exceeded {
		t.Error("a exceeded")
	}
	if Overflow(context.Background(), stop) != nil {
		t.Error("no captures: want a nil channel")
	}
}

func TestRemoveStale(t *testing.T) {
	root := t.TempDir()
	dead := 1 << 22 // above pid_max's ceiling: never a live process
	for _, name := range []string{
		fmt.Sprintf("x-%d-0", dead), fmt.Sprintf("x-%d-1", os.Getpid()), "x-notapid-0", "y-1-0",
	} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if sandbox.HostIsRoot() {
		// A stale one still mounted, as a killed supervisor leaves it.
		p := filepath.Join(root, fmt.Sprintf("x-%d-2", dead))
		os.Mkdir(p, 0o755)
		if err := unix.Mount("gosandbox-w", p, "tmpfs", 0, "size=4k"); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStale(root, "x-")
	if err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(root)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	want := []string{fmt.Sprintf("x-%d-1", os.Getpid()), "x-notapid-0", "y-1-0"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("left %v, want %v (removed %d)", names, want, n)
	}
	assertGone(t, filepath.Join(root, fmt.Sprintf("x-%d-2", dead)))
}

func TestCheckCopyInFits(t *testing.T) {
	files := []sandbox.CopyIn{{Name: "a", Content: make([]byte, 5000)}, {Name: "b", Content: []byte("x")}}
	if err := CheckCopyInFits(files, 3*4096); err != nil {
		t.Errorf("three pages into three pages: %v", err)
	}
	if err := CheckCopyInFits(files, 2*4096); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("three pages into two: %v, want ErrInvalidSpec", err)
	}
}

// A directory made without a Name carries its owner's pid, so that
// RemoveStale can tell a killed owner's leftovers from a live one's.
func TestDefaultNameCarriesPid(t *testing.T) {
	root := t.TempDir()
	d, err := New(Options{Root: root, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	prefix := fmt.Sprintf("%s%d-", DefaultNamePrefix, os.Getpid())
	if name := filepath.Base(d.Path()); !strings.HasPrefix(name, prefix) || len(name) == len(prefix) {
		t.Errorf("name %q, want %s followed by something random", name, prefix)
	}
	if n, err := RemoveStale(root, DefaultNamePrefix); err != nil || n != 0 {
		t.Errorf("RemoveStale took %d (%v) while the owner lives", n, err)
	}
	if _, err := os.Stat(d.Path()); err != nil {
		t.Errorf("a live owner's directory is gone: %v", err)
	}
}

// TestTreeWalkNeverFollowsASwappedLink: the output-limit look runs while a
// box's processes may still be dying, and one of them can swap a directory
// the walk has listed for a symlink to a host path before the walk goes
// in. The walk must never follow it: the host's files (here a big one in a
// root-only directory) would decide the verdict, an oracle of their sizes,
// and a link to / would have root walk the host's whole tree. The swap is
// a race, run many times over (the look it catches is cheap).
func TestTreeWalkNeverFollowsASwappedLink(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "big"), make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const dirs = 16
	for i := range dirs {
		os.MkdirAll(filepath.Join(dir, "d", fmt.Sprint(i)), 0o755)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		aside := filepath.Join(dir, "aside")
		for i := 0; ; i = (i + 1) % dirs {
			select {
			case <-stop:
				return
			default:
			}
			p := filepath.Join(dir, "d", fmt.Sprint(i))
			if os.Rename(p, aside) != nil {
				continue
			}
			os.Symlink(host, p)
			os.Remove(p)
			os.Rename(aside, p)
		}
	}()
	defer func() { close(stop); <-swapped }()
	for i := range 20000 {
		if TreeHasFileAtLeast(fd, 1<<16) {
			t.Fatalf("look %d followed a symlink swapped in for a listed directory to a host file", i)
		}
	}
}

// TestTreeHasFileAtLeastDeep: a file at the output limit below a chain of
// directories whose path from the work directory is longer than PATH_MAX
// still counts (a box can make one, a directory at a time, and its program
// write there until RLIMIT_FSIZE stops it).
func TestTreeHasFileAtLeastDeep(t *testing.T) {
	root := t.TempDir()
	rootFD, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	name := strings.Repeat("d", 250)
	cur, err := unix.Dup(rootFD)
	if err != nil {
		t.Fatal(err)
	}
	for range 40 { // some 10 KB of path
		if err := unix.Mkdirat(cur, name, 0o755); err != nil {
			unix.Close(cur)
			t.Fatal(err)
		}
		next, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(cur)
		if err != nil {
			t.Fatal(err)
		}
		cur = next
	}
	f, err := unix.Openat(cur, "big", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	unix.Close(cur)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Ftruncate(f, 1<<20)
	unix.Close(f)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir("/proc/self/fd")
	if !TreeHasFileAtLeast(rootFD, 1<<20) {
		t.Error("a file at the limit 40 directories of 250 bytes down was not seen")
	}
	if TreeHasFileAtLeast(rootFD, 1<<21) {
		t.Error("a file under the limit counted")
	}
	if after, _ := os.ReadDir("/proc/self/fd"); len(after) != len(before) {
		t.Errorf("descriptors: %d before the looks, %d after", len(before), len(after))
	}
}
