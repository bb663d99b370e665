package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NeedRoot skips t unless it runs as root; why says what needs root (it
// becomes the skip message: "needs root: why").
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// NeedUserns skips t unless this process may make user namespaces: the
// kernel has them and max_user_namespaces is not 0.
func NeedUserns(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		t.Skipf("user namespaces: %v", err)
	}
	if b, err := os.ReadFile("/proc/sys/user/max_user_namespaces"); err == nil && strings.TrimSpace(string(b)) == "0" {
		t.Skip("user namespaces disabled (max_user_namespaces = 0)")
	}
}

// Cgroup2Root is where a cgroup v2 hierarchy is mounted: /sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one; "" when there is
// none.
func Cgroup2Root() string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	return ""
}

// NeedCgroup2 skips t unless a cgroup v2 hierarchy is mounted, and returns
// its root.
func NeedCgroup2(t testing.TB) string {
	t.Helper()
	root := Cgroup2Root()
	if root == "" {
		t.Skip("no cgroup v2 hierarchy")
	}
	return root
}

// FloorTrue runs /bin/true once with a plain fork+exec+wait from this
// process, nothing isolated: the floor every runner's start is measured
// against in the benchmarks beside the code.
func FloorTrue(tb testing.TB) {
	tb.Helper()
	pid, err := syscall.ForkExec("/bin/true", []string{"/bin/true"}, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}})
	if err != nil {
		tb.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		tb.Fatalf("wait4: %v status %v", err, ws)
	}
}

// RunAsNobody re-executes this test binary as nobody (uid and gid 65534,
// no groups, through setpriv) running only the test named test, with env
// set and a TMPDIR of its own, and returns its combined output. The binary
// is copied where nobody may execute it (the build directory is root's).
// It skips t without root or setpriv.
func RunAsNobody(t testing.TB, test string, env ...string) ([]byte, error) {
	t.Helper()
	NeedRoot(t, "to become nobody")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skipf("setpriv: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent directory is root's alone.
	dir, err := os.MkdirTemp("", "gosandbox-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	tmp := filepath.Join(dir, "tmp")
	for _, err := range []error{os.Chmod(dir, 0o755), os.WriteFile(bin, data, 0o755), os.Mkdir(tmp, 0o700), os.Chown(tmp, 65534, 65534)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp}, env...)
	return cmd.CombinedOutput()
}

// Quantile returns the q-quantile (0 <= q <= 1) of the durations d, which
// it leaves unsorted: the benchmarks' p50 and p90 beside the floor.
func Quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// TempFile creates an empty file in the test's temporary directory,
// closed when the test ends: a program's output, or a file it writes to
// say it runs. Only from the test's own goroutine (it stops the test on
// failure).
func TempFile(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
