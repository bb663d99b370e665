package mount_test

// Tests of the mount plan: refused plans, locked remount flags, the default skeleton, Apply.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/mount"
)

func TestBuilderRejects(t *testing.T) {
	cases := map[string]*mount.Builder{
		"relative target":      mount.NewBuilder().Bind("/usr", "usr", false),
		"root target":          mount.NewBuilder().Bind("/usr", "/", false),
		"unclean target":       mount.NewBuilder().Dir("/a/../b", 0o755),
		"file inside tmpfs":    mount.NewBuilder().Tmpfs("/t", mount.TmpfsOptions{Size: 1 << 20}).File("/t/x", nil, 0o644),
		"bind inside proc":     mount.NewBuilder().Proc("/proc").Bind("/usr", "/proc/x", false),
		"mask outside a mount": mount.NewBuilder().MaskFile("/etc/x"),
		"file under a file":    mount.NewBuilder().File("/a", nil, 0o644).File("/a/b", nil, 0o644),
		"declared twice":       mount.NewBuilder().File("/a", nil, 0o644).File("/a", nil, 0o644),
	}
	for name, b := range cases {
		if _, err := b.Build(); !errors.Is(err, mount.ErrBadPlan) {
			t.Errorf("%s: want ErrBadPlan, got %v", name, err)
		}
	}
	if _, err := mount.Default(mount.Options{Binds: []sandbox.Bind{{Source: "/usr", Target: "/proc/x"}}}); !errors.Is(err, mount.ErrBadPlan) {
		t.Errorf("bind into /proc: want ErrBadPlan, got %v", err)
	}
	// A plan Build rejects: its error names the package once ("mount: bad
	// plan: ..."), not once more for Default.
	_, err := mount.Default(mount.Options{Binds: []sandbox.Bind{{Source: "/usr", Target: "/etc/passwd/x"}}})
	if !errors.Is(err, mount.ErrBadPlan) || strings.Count(err.Error(), "mount:") != 1 {
		t.Errorf("bind below a file: got %v, want ErrBadPlan saying mount: once", err)
	}
}

func TestRemountFlagsKeepLockedFlags(t *testing.T) {
	f := mount.RemountFlags(unix.ST_NOSUID|unix.ST_NOEXEC|unix.ST_RELATIME, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV)
	want := uint64(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_RELATIME | unix.MS_RDONLY | unix.MS_NODEV)
	if f != want {
		t.Fatalf("flags %#x, want %#x", f, want)
	}
}

func TestDefaultSkeleton(t *testing.T) {
	p, err := mount.Default(mount.Options{Binds: []sandbox.Bind{{Source: "/etc/hostname", Target: "/opt/x/name"}}})
	if err != nil {
		t.Fatal(err)
	}
	root := p.RootPath()
	again, err := mount.Default(mount.Options{Binds: []sandbox.Bind{{Source: "/etc/hostname", Target: "/opt/x/name"}}})
	if err != nil || again.RootPath() != root {
		t.Fatalf("same layout, different skeleton: %s %s (%v)", root, again.RootPath(), err)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), fmt.Sprintf("box:x:%d:%d:", sandbox.BoxUID, sandbox.BoxGID)) {
		t.Fatalf("passwd %q, %v", passwd, err)
	}
	for name, isDir := range map[string]bool{"usr": true, "w": true, "tmp": true, "proc": true, "dev/shm": true, "opt/x/name": false} {
		st, err := os.Lstat(filepath.Join(root, name))
		if err != nil || st.IsDir() != isDir {
			t.Errorf("%s: %v, dir %v, want dir %v", name, err, err == nil && st.IsDir(), isDir)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/shadow")); !os.IsNotExist(err) {
		t.Errorf("etc/shadow in the skeleton: %v", err)
	}
	if tgt := p.Target(0); tgt != "/usr" {
		t.Errorf("step 0 target %q, want /usr", tgt)
	}
	if len(p.Ops()) == 0 || p.Root() == nil {
		t.Fatal("no compiled steps")
	}
}

const helperEnv = "GOSANDBOX_MOUNT_HELPER"

// TestApply runs Plan.Apply in a helper process that is root of its own
// user, mount and pid namespaces, the way a container's init is.
func TestApply(t *testing.T) {
	testhost.NeedRoot(t, "a user namespace mapping the box's host id")
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	// The host builds the skeleton; the helper, not root, finds it.
	if _, err := mount.Default(mount.Options{}); err != nil {
		t.Fatal(err)
	}
	// The helper runs as the box's host id: give it a copy of this test
	// binary that it may execute.
	dir, err := os.MkdirTemp("", "gosandbox-mount-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mount.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=apply")
	hu, hg := sandbox.HostBoxUID()
	// Like a pooled container's init: the box user inside, mapped to the
	// box's host id, with CAP_SYS_ADMIN as an ambient capability.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: sandbox.BoxUID, HostID: hu, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: sandbox.BoxGID, HostID: hg, Size: 1}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: sandbox.BoxUID, Gid: sandbox.BoxGID},
		AmbientCaps:                []uintptr{unix.CAP_SYS_ADMIN},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "user namespace") {
			t.Skipf("helper: %s", out)
		}
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ok" {
		t.Fatalf("helper said:\n%s", got)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), "gosandbox/skel") {
		t.Fatalf("skeleton mounted on the host:\n%s", mi)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "apply" {
		os.Exit(applyHelper())
	}
	if os.Getenv(helperEnv) == "pid-only-proc" {
		os.Exit(pidOnlyProcHelper())
	}
	os.Exit(m.Run())
}

// applyHelper applies the default plan and checks what it sees.
func applyHelper() int {
	p, err := mount.Default(mount.Options{})
	if err == nil {
		err = p.Apply("")
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var bad []string
	if _, err := os.Stat("/etc/shadow"); err == nil {
		bad = append(bad, "/etc/shadow visible")
	}
	if err := os.WriteFile("/usr/gosandbox-x", nil, 0o644); !errors.Is(err, unix.EROFS) {
		bad = append(bad, fmt.Sprintf("write /usr: %v", err))
	}
	if err := os.WriteFile("/tmp/x", []byte("x"), 0o644); err != nil {
		bad = append(bad, fmt.Sprintf("write /tmp: %v", err))
	}
	if f, err := os.Open("/dev/zero"); err != nil {
		bad = append(bad, fmt.Sprintf("open /dev/zero: %v", err))
	} else {
		var b [4]byte
		if n, err := f.Read(b[:]); n != 4 || err != nil {
			bad = append(bad, fmt.Sprintf("read /dev/zero: %d %v", n, err))
		}
		f.Close()
	}
	if self, err := os.Readlink("/proc/self"); err != nil || self != "1" {
		bad = append(bad, fmt.Sprintf("/proc is not the box's pid namespace: self = %q (%v)", self, err))
	}
	if len(bad) > 0 {
		fmt.Println(strings.Join(bad, "\n"))
		return 1
	}
	fmt.Println("ok")
	return 0
}

func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		if _, err := mount.Default(mount.Options{WorkDir: "/tmp"}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMasksUnderPidOnlyProc: a supervisor whose own /proc shows only
// processes (subset=pid, as systemd's ProcSubset=pid mounts it) cannot
// tell which /proc files the kernel has; a box's /proc is a procfs of its
// own, with every file, so the masks must all stay.
func TestMasksUnderPidOnlyProc(t *testing.T) {
	testhost.NeedRoot(t, "a mount namespace with a /proc of its own")
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	if _, err := os.Lstat("/proc/keys"); err != nil {
		t.Skip("this kernel has no /proc/keys")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=pid-only-proc")
	// Unshareflags (not Cloneflags): the child's mounts are made private
	// before it runs, so nothing it mounts reaches the host.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := strings.TrimSpace(string(out))
	if strings.HasPrefix(got, "skip: ") {
		t.Skip(got)
	}
	if !strings.Contains(" "+got+" ", " /proc/keys ") {
		t.Errorf("under a pid-only /proc the masks are %q: /proc/keys, which a box's own /proc shows, is left unmasked", got)
	}
}

// pidOnlyProcHelper mounts a pid-only /proc (in its private mount
// namespace) and prints the masks a plan would take.
func pidOnlyProcHelper() int {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Println("make mounts private:", err)
		return 1
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "subset=pid"); err != nil {
		fmt.Println("skip: no pid-only procfs here:", err)
		return 0
	}
	fmt.Println(strings.Join(mount.MaskedFilesHere(), " "))
	return 0
}
