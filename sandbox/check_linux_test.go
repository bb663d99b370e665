package sandbox

// Tests of the host-side spec checks: streams, host paths, minimum limits, default PATH, bind targets.

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustOpen(t *testing.T, path string, flags int) *os.File {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestCheckRefusesStreamsThatReachTheFileSystem (H3): a directory, an
// O_PATH descriptor or a symlink opened with O_PATH|O_NOFOLLOW given as a
// stream or extra file would let the box walk the host file system.
func TestCheckRefusesStreamsThatReachTheFileSystem(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	os.WriteFile(reg, []byte("x"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink("/etc", link)
	bad := map[string]*os.File{
		"directory":           mustOpen(t, "/etc", unix.O_RDONLY),
		"O_PATH directory":    mustOpen(t, "/etc", unix.O_PATH),
		"O_PATH regular file": mustOpen(t, reg, unix.O_PATH),
		"O_PATH symlink":      mustOpen(t, link, unix.O_PATH|unix.O_NOFOLLOW),
		"block device":        nil,
	}
	if blk := findBlockDevice(); blk != "" {
		bad["block device"] = mustOpen(t, blk, unix.O_RDONLY|unix.O_NONBLOCK)
	} else {
		delete(bad, "block device")
	}
	for what, f := range bad {
		for _, field := range []string{"stdin", "stdout", "stderr", "extra_files[1]"} {
			spec := Spec{Args: []string{"/bin/true"}}
			switch field {
			case "stdin":
				spec.Stdin = f
			case "stdout":
				spec.Stdout = f
			case "stderr":
				spec.Stderr = f
			default:
				spec.ExtraFiles = []*os.File{mustOpen(t, reg, unix.O_RDONLY), f}
			}
			err := spec.Check()
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), field) {
				t.Errorf("%s as %s: Check() = %v; want ErrInvalidSpec naming %s", what, field, err, field)
			}
		}
	}
}

func findBlockDevice() string {
	for _, p := range []string{"/dev/loop0", "/dev/sda", "/dev/vda", "/dev/nvme0n1"} {
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0 {
			return p
		}
	}
	return ""
}

func TestCheckAcceptsStreamKinds(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	os.WriteFile(reg, []byte("x"), 0o644)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := os.NewFile(uintptr(fds[0]), "s0"), os.NewFile(uintptr(fds[1]), "s1")
	defer s0.Close()
	defer s1.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	spec := Spec{
		Args:       []string{"/bin/true"},
		Stdin:      mustOpen(t, reg, unix.O_RDONLY),
		Stdout:     w,
		Stderr:     mustOpen(t, "/dev/null", unix.O_WRONLY),
		ExtraFiles: []*os.File{r, s0, lf},
	}
	if err := spec.Check(); err != nil {
		t.Errorf("regular file, pipe, /dev/null, socketpair, TCP socket refused: %v", err)
	}
	if err := (Spec{Args: []string{"/bin/true"}}).Check(); err != nil {
		t.Errorf("nil streams (/dev/null) refused: %v", err)
	}
	closed := mustOpen(t, reg, unix.O_RDONLY)
	closed.Close()
	if err := (Spec{Args: []string{"/bin/true"}, Stdout: closed}).Check(); err != nil {
		t.Errorf("a closed file (no descriptor in the box) refused: %v", err)
	}
}

// TestCheckHostPaths: both runners reject the same specs before running
// anything, so the checks that need the host live in Check.
func TestCheckHostPaths(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 200<<10), 0o644)
	cases := map[string]struct {
		spec    Spec
		mention string
	}{
		"missing bind source": {Spec{Args: []string{"x"}, Binds: []Bind{{Source: "/nonexistent/src", Target: "/data"}}}, "bind[0]"},
		"missing copy-in":     {Spec{Args: []string{"x"}, CopyIn: []CopyIn{{Name: "a", HostPath: "/nonexistent/a"}}}, "copy-in[0]"},
		"copy-in directory":   {Spec{Args: []string{"x"}, CopyIn: []CopyIn{{Name: "a", HostPath: dir}}}, "not a regular file"},
		"copy-in too big": {Spec{Args: []string{"x"}, Limits: Limits{Tmpfs: 128 << 10},
			CopyIn: []CopyIn{{Name: "a", HostPath: big}}}, "tmpfs"},
		"content too big": {Spec{Args: []string{"x"}, Limits: Limits{Tmpfs: 128 << 10},
			CopyIn: []CopyIn{{Name: "a", Content: make([]byte, 129<<10)}}}, "tmpfs"},
	}
	for name, tc := range cases {
		err := tc.spec.Check()
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: Check() = %v; want ErrInvalidSpec mentioning %q", name, err, tc.mention)
		}
	}
	ok := Spec{Args: []string{"x"}, Limits: Limits{Tmpfs: 256 << 10}, CopyIn: []CopyIn{{Name: "a", HostPath: big}},
		Binds: []Bind{{Source: dir, Target: "/data"}}}
	if err := ok.Check(); err != nil {
		t.Errorf("a fitting copy-in and an existing bind source: %v", err)
	}
}

// TestValidateMinimums: a limit below what any program can start with is
// refused, naming the field and the minimum.
func TestValidateMinimums(t *testing.T) {
	cases := []struct {
		limits  Limits
		field   string
		minimum string
	}{
		{Limits{Memory: 1}, "limits.memory", FormatSize(MinMemory)},
		{Limits{Memory: MinMemory - 1}, "limits.memory", FormatSize(MinMemory)},
		{Limits{Tmpfs: 4096}, "limits.tmpfs", FormatSize(MinTmpfs)},
		{Limits{Stack: 4096}, "limits.stack", FormatSize(MinStack)},
		{Limits{CPU: time.Microsecond}, "limits.cpu", MinCPU.String()},
		{Limits{Wall: time.Microsecond}, "limits.wall", MinWall.String()},
		{Limits{OpenFiles: 3}, "limits.open_files", "4"},
		{Limits{AddressSpace: 1 << 20}, "limits.address_space", FormatSize(MinAddressSpace)},
	}
	for _, tc := range cases {
		err := Spec{Args: []string{"x"}, Limits: tc.limits}.Validate()
		var le *LimitError
		if !errors.Is(err, ErrInvalidSpec) || !errors.As(err, &le) ||
			!strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.minimum) {
			t.Errorf("%+v: Validate() = %v; want ErrInvalidSpec naming %s and %s", tc.limits, err, tc.field, tc.minimum)
		}
	}
	at := Limits{Memory: MinMemory, Tmpfs: MinTmpfs, Stack: MinStack, CPU: MinCPU, Wall: MinWall,
		Procs: MinProcs, OpenFiles: MinOpenFiles, Output: MinOutput, AddressSpace: MinAddressSpace}
	if err := (Spec{Args: []string{"x"}, Limits: at}).Validate(); err != nil {
		t.Errorf("limits at the minimums refused: %v", err)
	}
	if err := (Spec{Args: []string{"x"}}).Validate(); err != nil {
		t.Errorf("zero limits (defaults) refused: %v", err)
	}
}

func TestPrepareSetsDefaultPath(t *testing.T) {
	env := []string{"A=1"}
	got, err := Spec{Args: []string{"x"}, Env: env}.Prepare()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Env, " ") != "A=1 PATH="+DefaultPath {
		t.Errorf("Env = %q; want PATH=%s added", got.Env, DefaultPath)
	}
	if len(env) != 1 {
		t.Errorf("the caller's Env was changed: %q", env)
	}
	got, _ = Spec{Args: []string{"x"}}.Prepare()
	if strings.Join(got.Env, " ") != "PATH="+DefaultPath {
		t.Errorf("nil Env gives %q", got.Env)
	}
	got, _ = Spec{Args: []string{"x"}, Env: []string{"PATH=/opt/bin"}}.Prepare()
	if strings.Join(got.Env, " ") != "PATH=/opt/bin" {
		t.Errorf("a PATH of the caller is replaced: %q", got.Env)
	}
	if _, err := (Spec{}).Prepare(); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Prepare of an invalid spec: %v", err)
	}
}

func TestValidateBindTargets(t *testing.T) {
	for _, binds := range [][]Bind{
		{{Source: "/etc", Target: "/proc/x"}},
		{{Source: "/etc", Target: "/dev"}},
		{{Source: "/etc", Target: "/w/data"}},
		{{Source: "/etc", Target: "/opt/a"}, {Source: "/usr", Target: "/opt/a/b"}},
		{{Source: "/etc", Target: "/opt/a/b"}, {Source: "/usr", Target: "/opt/a"}},
		{{Source: "/etc", Target: "/opt/a"}, {Source: "/usr", Target: "/opt/a/"}},
	} {
		if err := (Spec{Args: []string{"x"}, Binds: binds}).Validate(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "bind[") {
			t.Errorf("%v: Validate() = %v", binds, err)
		}
	}
	ok := []Bind{{Source: "/etc", Target: "/opt/a"}, {Source: "/usr", Target: "/opt/ab"}, {Source: "/usr", Target: "/data"}}
	if err := (Spec{Args: []string{"x"}, Binds: ok}).Validate(); err != nil {
		t.Errorf("%v: %v", ok, err)
	}
}

// TestValidateBindSourceInsideAWritableBind: a bind whose source lies
// below another bind's writable source is refused. The box may rename what
// is there and leave a symlink in its place, and the next run's mount of
// that source, resolved on the host, would then bind whatever host path the
// link names (seen: a later run's read-only bind showed the host's /etc).
func TestValidateBindSourceInsideAWritableBind(t *testing.T) {
	for _, binds := range [][]Bind{
		{{Source: "/srv/jobs", Target: "/data", Writable: true}, {Source: "/srv/jobs/lib", Target: "/lib2"}},
		{{Source: "/srv/jobs/lib/", Target: "/lib2", Writable: true}, {Source: "/srv/jobs/", Target: "/data", Writable: true}},
		{{Source: "/", Target: "/host", Writable: true}, {Source: "/srv", Target: "/srv"}},
	} {
		if err := (Spec{Args: []string{"x"}, Binds: binds}).Validate(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "bind[") {
			t.Errorf("%v: Validate() = %v; want a bind source inside a writable bind's source refused", binds, err)
		}
	}
	for _, ok := range [][]Bind{
		// The outer one read-only: nothing of the box changes it.
		{{Source: "/srv/jobs", Target: "/data"}, {Source: "/srv/jobs/lib", Target: "/lib2", Writable: true}},
		// The same source twice, and names that only share a prefix.
		{{Source: "/srv/jobs", Target: "/data", Writable: true}, {Source: "/srv/jobs", Target: "/ro"}},
		{{Source: "/srv/jobs", Target: "/data", Writable: true}, {Source: "/srv/jobsx", Target: "/x"}},
	} {
		if err := (Spec{Args: []string{"x"}, Binds: ok}).Validate(); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}

// TestCheckBindSourceThroughALinkIntoAWritableBind: the same refusal when
// the source names the writable bind's tree through a symlink of the host.
func TestCheckBindSourceThroughALinkIntoAWritableBind(t *testing.T) {
	dir := t.TempDir()
	jobs := filepath.Join(dir, "jobs")
	if err := os.MkdirAll(filepath.Join(jobs, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(jobs, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Args: []string{"x"}, Binds: []Bind{
		{Source: jobs, Target: "/data", Writable: true},
		{Source: filepath.Join(dir, "alias", "lib"), Target: "/lib2"},
	}}
	if err := spec.Check(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "bind[1]") {
		t.Errorf("a source inside a writable bind's source through a link: Check() = %v", err)
	}
	spec.Binds[0].Writable = false
	if err := spec.Check(); err != nil {
		t.Errorf("the same with the outer bind read-only: %v", err)
	}
}

// TestCheckBindSourceThroughABoxsLink: a symlink on a bind source's path
// that a box made (owned by a box host id) is refused, whatever spec
// bound its directory writable: another job's run may have left it there
// to redirect this bind to a host path of its choice.
func TestCheckBindSourceThroughABoxsLink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a link owned by a box host id")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lib")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Args: []string{"x"}, Binds: []Bind{{Source: link, Target: "/lib2"}}}
	if err := spec.Check(); err != nil {
		t.Fatalf("a link the host made: %v", err)
	}
	if err := os.Lchown(link, BoxHostIDBase+3, BoxHostIDBase+3); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{link, filepath.Join(link, "sub")} {
		if src != link {
			os.Mkdir(filepath.Join(target, "sub"), 0o755)
		}
		spec.Binds[0].Source = src
		if err := spec.Check(); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "bind[0]") {
			t.Errorf("%s, through a box's link: Check() = %v", src, err)
		}
	}
}
