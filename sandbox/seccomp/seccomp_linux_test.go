package seccomp

// Tests of the filter in real children: errno and kill modes, foreign ABIs, ordinary programs, caching.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// The kernel tests re-run this test binary as a child that installs a filter
// on itself and then does one scenario. The filter is never installed in the
// test process itself.
const (
	envScenario = "GOSANDBOX_SECCOMP_CHILD"
	envMode     = "GOSANDBOX_SECCOMP_MODE"
)

func TestMain(m *testing.M) {
	if scenario := os.Getenv(envScenario); scenario != "" {
		os.Exit(runChild(scenario, sandbox.SyscallMode(os.Getenv(envMode)), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// install does what a sandbox child does right before exec.
func install(p *Program) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(p.Fprog())))
	if errno != 0 {
		return fmt.Errorf("seccomp(SET_MODE_FILTER, TSYNC): %w", errno)
	}
	return nil
}

// probes are harmless calls: each fails in the kernel even without a filter
// (bad arguments), so a broken filter cannot do damage, yet the filter's
// verdict is told apart from the kernel's by the errno.
var probes = []struct {
	name string
	call func() (uintptr, unix.Errno)
}{
	{"getpid", func() (uintptr, unix.Errno) { r, _, e := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0); return r, e }},
	{"keyctl", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_KEYCTL, 0xdead, 0, 0)
		return r, e
	}},
	{"add_key", func() (uintptr, unix.Errno) { r, _, e := unix.RawSyscall(unix.SYS_ADD_KEY, 0, 0, 0); return r, e }},
	{"unshare-uts", func() (uintptr, unix.Errno) {
		// CLONE_NEWUTS alone would succeed for root without a filter and
		// only move this child; adding an invalid bit keeps it harmless.
		r, _, e := unix.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWUTS|unix.CLONE_VM|unix.CLONE_SIGHAND|unix.CLONE_THREAD, 0, 0)
		return r, e
	}},
	{"clone-newuser", func() (uintptr, unix.Errno) {
		// CLONE_NEWUSER with CLONE_FS is rejected by the kernel (EINVAL).
		r, _, e := unix.RawSyscall(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_FS, 0, 0)
		return r, e
	}},
	{"clone3", func() (uintptr, unix.Errno) { r, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0); return r, e }},
	{"unknown-1000", func() (uintptr, unix.Errno) { r, _, e := unix.RawSyscall(1000, 0, 0, 0); return r, e }},
	{"bpf", func() (uintptr, unix.Errno) { r, _, e := unix.RawSyscall(unix.SYS_BPF, 0xdead, 0, 0); return r, e }},
	{"socket-vsock", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		return r, e
	}},
	{"socket-vsock-highbits", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_SOCKET, 1<<32|unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		return r, e
	}},
	{"socket-packet", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_PACKET, 0xdead, 0) // bad type
		return r, e
	}},
	{"ioctl-tiocsti", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_IOCTL, ^uintptr(0), unix.TIOCSTI, 0) // fd -1
		return r, e
	}},
	{"setns", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_SETNS, ^uintptr(0), 0, 0)
		return r, e
	}},
	{"io_uring_setup", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 0, 0, 0) // no params
		return r, e
	}},
	{"userfaultfd", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_USERFAULTFD, 0xdead0000, 0, 0) // bad flags
		return r, e
	}},
	{"personality-query", func() (uintptr, unix.Errno) {
		r, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		return r, e
	}},
}

func runChild(scenario string, mode sandbox.SyscallMode, args []string) int {
	runtime.LockOSThread()
	p, err := Default(mode)
	if err == nil {
		err = install(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 100
	}
	switch scenario {
	case "probe":
		for _, pr := range probes {
			r, errno := pr.call()
			if errno == 0 && strings.HasPrefix(pr.name, "socket") {
				unix.Close(int(r))
			}
			fmt.Printf("%s %d\n", pr.name, int(errno))
		}
		return 0
	case "keyctl":
		unix.RawSyscall(unix.SYS_KEYCTL, 0xdead, 0, 0)
		return 0
	case "x32":
		unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
		return 0
	case "exec":
		path, err := exec.LookPath(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 101
		}
		err = syscall.Exec(path, args, os.Environ())
		fmt.Fprintln(os.Stderr, "child: exec:", err)
		return 102
	}
	fmt.Fprintln(os.Stderr, "child: unknown scenario", scenario)
	return 103
}

// child runs this test binary as a filtered child.
func child(t *testing.T, scenario string, mode sandbox.SyscallMode, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envScenario+"="+scenario, envMode+"="+string(mode))
	return cmd
}

func requireSeccomp(t *testing.T) {
	t.Helper()
	// seccomp(SECCOMP_GET_ACTION_AVAIL) on KILL_PROCESS tells us the kernel
	// has filters and the action (4.14+).
	action := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	if errno != 0 {
		t.Skipf("seccomp filters with KILL_PROCESS unavailable: %v", errno)
	}
}

func TestChildProbesErrnoMode(t *testing.T) {
	requireSeccomp(t)
	out, err := child(t, "probe", sandbox.SyscallsErrno).CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := map[string]unix.Errno{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var name string
		var errno int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &name, &errno); err != nil {
			t.Fatalf("bad child line %q", sc.Text())
		}
		got[name] = unix.Errno(errno)
	}
	want := map[string]unix.Errno{
		"getpid":                0,
		"keyctl":                unix.EPERM,
		"add_key":               unix.EPERM,
		"unshare-uts":           unix.EPERM,
		"clone-newuser":         unix.EPERM,
		"clone3":                unix.ENOSYS,
		"unknown-1000":          unix.ENOSYS,
		"bpf":                   unix.EPERM,
		"socket-vsock":          unix.EPERM,
		"socket-vsock-highbits": unix.EPERM,
		"socket-packet":         unix.EPERM,
		"ioctl-tiocsti":         unix.EPERM,
		"setns":                 unix.EPERM,
		"io_uring_setup":        unix.EPERM,
		"userfaultfd":           unix.EPERM,
		"personality-query":     0,
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: no result from child", name)
			continue
		}
		if g != w {
			t.Errorf("%s: errno %d (%v), want %d (%v)", name, int(g), g, int(w), w)
		}
	}
}

func wantSIGSYS(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed: err=%v\n%s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended with %v, want SIGSYS\n%s", ws, out)
	}
}

func TestChildKillModeDiesWithSIGSYS(t *testing.T) {
	requireSeccomp(t)
	wantSIGSYS(t, child(t, "keyctl", sandbox.SyscallsKill))
}

func TestChildX32KilledInErrnoMode(t *testing.T) {
	requireSeccomp(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 exists only on amd64")
	}
	wantSIGSYS(t, child(t, "x32", sandbox.SyscallsErrno))
}

// TestChildI386KilledInErrnoMode runs a 64-bit program that makes an i386
// system call through int 0x80.
func TestChildI386KilledInErrnoMode(t *testing.T) {
	requireSeccomp(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("int 0x80 exists only on amd64")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed; it builds the int 0x80 program")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "int80.c")
	bin := filepath.Join(dir, "int80")
	// 20 is getpid in the i386 table.
	code := "int main(void){long r; __asm__ volatile(\"int $0x80\" : \"=a\"(r) : \"a\"(20L)); return r > 0 ? 0 : 1;}\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	// Without a filter the call must work, or this kernel has no i386
	// emulation and the filter never sees the call.
	if out, err := exec.Command(bin).CombinedOutput(); err != nil {
		t.Skipf("int 0x80 fails without a filter (no IA32 emulation?): %v %s", err, out)
	}
	wantSIGSYS(t, child(t, "exec", sandbox.SyscallsErrno, bin))
}

// TestOrdinaryProgramsRun checks that common runtimes start and work under
// both modes: they must not depend on anything the policy denies (in kill
// mode a single denied call would kill them).
func TestOrdinaryProgramsRun(t *testing.T) {
	requireSeccomp(t)
	dir := t.TempDir()
	csrc := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(csrc, []byte("#include <stdio.h>\n#include <pthread.h>\nstatic void *f(void *a){return a;}\nint main(void){pthread_t t; pthread_create(&t,0,f,0); pthread_join(t,0); puts(\"ok\"); return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	programs := []struct {
		name string
		args []string
		want string
	}{
		{"sh", []string{"/bin/sh", "-c", "echo ok"}, "ok"},
		{"python3", []string{"python3", "-c", "import threading, subprocess; t = threading.Thread(target=print, args=('ok',)); t.start(); t.join(); subprocess.run(['true'], check=True)"}, "ok"},
		{"gcc", []string{"/bin/sh", "-c", "gcc -pthread -o " + filepath.Join(dir, "hello") + " " + csrc + " && " + filepath.Join(dir, "hello")}, "ok"},
		{"go", []string{"go", "version"}, "go version"},
		{"java", []string{"java", "-version"}, "version"},
	}
	for _, mode := range []sandbox.SyscallMode{sandbox.SyscallsErrno, sandbox.SyscallsKill} {
		for _, pr := range programs {
			t.Run(string(mode)+"/"+pr.name, func(t *testing.T) {
				tool := pr.args[0]
				if pr.name == "gcc" {
					tool = "gcc"
				}
				if _, err := exec.LookPath(tool); err != nil {
					t.Skipf("%s not installed", tool)
				}
				cmd := child(t, "exec", mode, pr.args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v under the %s policy: %v\n%s", pr.args, mode, err, out)
				}
				if !strings.Contains(string(out), pr.want) {
					t.Fatalf("%v: output %q lacks %q", pr.args, out, pr.want)
				}
			})
		}
	}
}

func TestDefaultCachedAndStable(t *testing.T) {
	a, err := Default("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Default(sandbox.SyscallsErrno)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.Fprog() != b.Fprog() {
		t.Fatal("errno program compiled twice")
	}
	k, err := Default(sandbox.SyscallsKill)
	if err != nil {
		t.Fatal(err)
	}
	if k == a {
		t.Fatal("kill and errno modes share a program")
	}
	if f := a.Fprog(); int(f.Len) != a.Len() || f.Filter == nil {
		t.Fatalf("fprog %+v does not describe %d instructions", f, a.Len())
	}
	if _, err := Default("bogus"); err == nil {
		t.Fatal("unknown mode accepted")
	}
	t.Logf("errno program: %d instructions, newest known syscall %d", a.Len(), a.MaxKnownSyscall())
}
