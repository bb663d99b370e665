package main

// Actions for the Syscalls properties (S1-S6). They make calls a sandbox's
// filter must refuse and print NAME=RESULT ("ok" or the errno name), one line
// per call, so a spec sees each verdict. All of them refuse to run on the host
// (mustBeBoxed): several would change it if they succeeded.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register("sys-try", sysTry)
	register("exec-deep", execDeep)
	register("sys-unknown", sysUnknown)
	register("sys-thread", sysThread)
	register("sys-status", sysStatus)
	register("sys-int80", sysInt80)
	register("sys-x32", sysX32)
}

// rawErr turns a raw syscall's errno into an error (nil for success).
func rawErr(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

// closeIfFD closes r when the call that returned it succeeded.
func closeIfFD(r uintptr, errno syscall.Errno) error {
	if errno == 0 {
		unix.Close(int(r))
	}
	return rawErr(errno)
}

// startChild starts and waits for `probe true` with extra clone or unshare
// flags, from a fresh single-threaded child: unshare of a user or mount
// namespace is refused to a multi-threaded process anyway, so only a child can
// tell whether the sandbox (not the Go runtime) stops it.
func startChild(attr *syscall.SysProcAttr) error {
	cmd := exec.Command(os.Args[0], "true")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Wait()
}

// sysCalls are the calls sys-try knows, each made so that success would be
// harmless inside a box.
var sysCalls = map[string]func() error{
	"keyctl": func() error {
		const getKeyringID = 0
		sessionKeyring := int64(-3)
		_, _, e := unix.RawSyscall(unix.SYS_KEYCTL, getKeyringID, uintptr(sessionKeyring), 1)
		return rawErr(e)
	},
	"add_key": func() error {
		const processKeyring = -2
		_, err := unix.AddKey("user", "gosandbox-probe", []byte("x"), processKeyring)
		return err
	},
	"bpf": func() error {
		// BPF_MAP_CREATE of a one-entry array map.
		attr := [16]uint32{2, 4, 4, 1}
		r, _, e := unix.RawSyscall(unix.SYS_BPF, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		return closeIfFD(r, e)
	},
	"io_uring_setup": func() error {
		var params [120]byte
		r, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params)), 0)
		return closeIfFD(r, e)
	},
	"io_setup": func() error {
		// One context of one event: aio contexts count against a limit
		// of the whole host (fs.aio-max-nr).
		var ctx uintptr
		_, _, e := unix.RawSyscall(unix.SYS_IO_SETUP, 1, uintptr(unsafe.Pointer(&ctx)), 0)
		if e == 0 {
			unix.RawSyscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		}
		return rawErr(e)
	},
	"vsock": func() error {
		fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	},
	"mount": func() error {
		dir, err := os.MkdirTemp("", "probe-mnt-")
		if err != nil {
			return err
		}
		defer os.Remove(dir)
		err = unix.Mount("none", dir, "tmpfs", 0, "size=1m")
		if err == nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		return err
	},
	"umount": func() error {
		// The probe's own bind mount: a mount point every box has.
		return unix.Unmount(filepath.Dir(os.Args[0]), unix.MNT_DETACH)
	},
	"setns": func() error {
		fd, err := unix.Open("/proc/self/ns/uts", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Setns(fd, unix.CLONE_NEWUTS)
	},
	"unshare_user": func() error {
		return startChild(&syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWUSER})
	},
	"unshare_mount": func() error {
		return startChild(&syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS})
	},
	"unshare_net": func() error {
		return startChild(&syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNET})
	},
	"clone_user": func() error {
		return startChild(&syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER})
	},
	"userfaultfd": func() error {
		r, _, e := unix.RawSyscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)
		return closeIfFD(r, e)
	},
	"syslog": func() error {
		const sizeBuffer = 10
		_, _, e := unix.RawSyscall(unix.SYS_SYSLOG, sizeBuffer, 0, 0)
		return rawErr(e)
	},
	"kexec_load": func() error {
		// An architecture no kernel has: past the permission check the call
		// fails with EINVAL and loads nothing.
		const noSuchArch = 0x7f00 << 16
		_, _, e := unix.RawSyscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, noSuchArch, 0, 0)
		return rawErr(e)
	},
	"init_module": func() error {
		// No image: past the permission check the call fails and loads
		// nothing.
		params := []byte{0}
		_, _, e := unix.RawSyscall(unix.SYS_INIT_MODULE, 0, 0, uintptr(unsafe.Pointer(&params[0])))
		return rawErr(e)
	},
}

// sys-try CALL...: make each call and print CALL=ok or CALL=ERRNO. Unknown
// names print CALL=unknown.
func sysTry(args []string) int {
	mustBeBoxed()
	if len(args) == 0 {
		names := make([]string, 0, len(sysCalls))
		for n := range sysCalls {
			names = append(names, n)
		}
		fmt.Fprintf(os.Stderr, "sys-try CALL...: %s\n", strings.Join(names, " "))
		return 2
	}
	for _, name := range args {
		call, ok := sysCalls[name]
		if !ok {
			fmt.Printf("%s=unknown\n", name)
			continue
		}
		fmt.Printf("%s=%s\n", name, errName(call()))
	}
	return 0
}

// exec-deep DEPTH ACTION [ARGS...]: copies this program to the bottom of a
// chain of DEPTH directories with 250-byte names below /w and runs ACTION
// from there (execve by a relative path), so that the program's path is
// DEPTH*251 bytes long: the kernel's log of a seccomp kill carries the
// path before the call's number. Prints nothing of its own unless it fails
// (error=...).
func execDeep(args []string) int {
	mustBeBoxed()
	if len(args) < 2 {
		return 2
	}
	depth, err := strconv.Atoi(args[0])
	if err != nil || depth < 1 || depth > 64 {
		return 2
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	name := strings.Repeat("d", 250)
	if err := os.Chdir("/w"); err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	for range depth {
		if err := os.Mkdir(name, 0o755); err != nil && !os.IsExist(err) {
			fmt.Println("error=" + err.Error())
			return 1
		}
		if err := os.Chdir(name); err != nil {
			fmt.Println("error=" + err.Error())
			return 1
		}
	}
	if err := os.WriteFile("probe", self, 0o755); err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	err = unix.Exec("./probe", append([]string{"probe"}, args[1:]...), os.Environ())
	fmt.Println("error=exec: " + err.Error())
	return 1
}

// sys-unknown: call numbers no kernel assigns yet, and clone3 with an invalid
// size (EINVAL where allowed; a filter must say ENOSYS, not EPERM, so libc
// falls back to clone).
func sysUnknown([]string) int {
	mustBeBoxed()
	for _, nr := range []uintptr{1000, 1<<14 + 1, 0x3ffffff0} {
		_, _, e := unix.RawSyscall(nr, 0, 0, 0)
		fmt.Printf("nr%d=%s\n", nr, errName(rawErr(e)))
	}
	_, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	fmt.Printf("clone3=%s\n", errName(rawErr(e)))
	return 0
}

// sys-thread: make the denied call keyctl from a second OS thread, and print
// both thread ids: main_tid=, thread_tid=, thread_keyctl=.
func sysThread([]string) int {
	mustBeBoxed()
	runtime.LockOSThread()
	type outcome struct {
		tid int
		err error
	}
	done := make(chan outcome)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- outcome{unix.Gettid(), sysCalls["keyctl"]()}
	}()
	o := <-done
	fmt.Printf("main_tid=%d\nthread_tid=%d\nthread_keyctl=%s\n", unix.Gettid(), o.tid, errName(o.err))
	return 0
}

// sys-status: print NoNewPrivs= and Seccomp= of the process, and
// thread_seccomp= listing the Seccomp field of every thread.
func sysStatus([]string) int {
	// Make sure there are several threads to look at.
	runtime.LockOSThread()
	ready := make(chan struct{})
	go func() { runtime.LockOSThread(); close(ready); select {} }()
	<-ready
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Printf("status=%s\n", errName(err))
		return 1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "NoNewPrivs" || k == "Seccomp" || k == "Seccomp_filters") {
			fmt.Printf("%s=%s\n", k, strings.TrimSpace(v))
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	var modes []string
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "Seccomp" {
				modes = append(modes, strings.TrimSpace(v))
			}
		}
	}
	fmt.Printf("threads=%d\nthread_seccomp=%s\n", len(modes), strings.Join(modes, ","))
	return 0
}

// sys-int80: call getpid through the i386 gate. Prints int80=trying first, so
// a kill at the call is told apart from a refusal to start; then int80=R,
// R being the pid (the call happened) or a negative errno.
func sysInt80([]string) int {
	mustBeBoxed()
	if !haveInt80 {
		fmt.Println("int80=not-amd64")
		return 1
	}
	fmt.Println("int80=trying")
	const i386Getpid = 20
	// Some machines (paravirtualised guests) fault the gate itself before
	// any filter sees the call: recover that fault and say so, rather than
	// crash like a killed process would.
	debug.SetPanicOnFault(true)
	defer func() {
		if recover() != nil {
			fmt.Println("int80=fault")
			os.Exit(0)
		}
	}()
	r := int64(int32(int80(i386Getpid)))
	fmt.Printf("int80=%d\n", r)
	if r < 0 {
		fmt.Printf("int80_errno=%s\n", unix.ErrnoName(syscall.Errno(-r)))
	}
	return 0
}

// sys-x32: call getpid with the x32 bit set. Prints x32=trying, then
// x32=ok pid=N (the call happened) or x32=ERRNO.
func sysX32([]string) int {
	mustBeBoxed()
	fmt.Println("x32=trying")
	const x32Bit = 0x40000000
	r, _, e := unix.RawSyscall(x32Bit|unix.SYS_GETPID, 0, 0, 0)
	if e != 0 {
		fmt.Printf("x32=%s\n", errName(e))
		return 0
	}
	fmt.Printf("x32=ok pid=%s\n", strconv.FormatUint(uint64(r), 10))
	return 0
}
