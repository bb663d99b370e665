package main

// Host resource actions (H1-H4): per-user kernel counters, core dumps,
// descriptors handed in, the terminal. The counter actions use up a shared
// kernel resource and so act only inside a pid namespace.

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register("h1-inotify", h1Inotify)
	register("h1-sigqueue", h1Sigqueue)
	register("hold-stdin", holdStdin)
	register("core-crash", coreCrash)
	register("core-crash-child", coreCrashChild)
	register("fd-escape", fdEscape)
	register("tty-steal", ttySteal)
}

// holdCap bounds how long an action waits for the host to close its stdin.
const holdCap = 60 * time.Second

// waitStdinClosed blocks until stdin reaches EOF (the host is done looking)
// or holdCap passes.
func waitStdinClosed() {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(holdCap):
		fmt.Println("hold=gave-up")
	}
}

// h1-inotify TARGET: creates inotify instances until TARGET or the first
// refusal, prints inotify=N and stop=target|ERRNO, then held=1, and keeps
// them until stdin is closed.
func h1Inotify(args []string) int {
	mustBeBoxed()
	if len(args) < 1 {
		return 2
	}
	target, err := strconv.Atoi(args[0])
	if err != nil || target < 0 {
		return 2
	}
	var fds []int
	stop := "target"
	for len(fds) < target {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			stop = errText(err)
			break
		}
		fds = append(fds, fd)
	}
	fmt.Printf("inotify=%d\nstop=%s\nheld=1\n", len(fds), stop)
	waitStdinClosed()
	return 0
}

// rtSignal is the real-time signal h1-sigqueue queues; blocked on the
// queueing thread, so the Go runtime never sees it.
const rtSignal = 36

// h1-sigqueue CAP: queues real-time signals to its own (blocked) thread until
// the kernel refuses or CAP is reached. Prints SIGPENDING=SOFT/HARD,
// queued=N and stop=cap|ERRNO. The pending signals go with the process.
func h1Sigqueue(args []string) int {
	mustBeBoxed()
	if len(args) < 1 {
		return 2
	}
	limit, err := strconv.Atoi(args[0])
	if err != nil || limit < 0 {
		return 2
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &rl); err == nil {
		fmt.Printf("SIGPENDING=%s/%s\n", rlimitText(rl.Cur), rlimitText(rl.Max))
	}
	runtime.LockOSThread()
	set := uint64(1) << (rtSignal - 1)
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0); e != 0 {
		fmt.Printf("error=sigprocmask %s\n", errText(e))
		return 1
	}
	pid, tid := unix.Getpid(), unix.Gettid()
	info := unix.Siginfo{Signo: rtSignal, Code: -1} // SI_QUEUE: counted against RLIMIT_SIGPENDING
	n, stop := 0, "cap"
	for n < limit {
		_, _, e := unix.RawSyscall6(unix.SYS_RT_TGSIGQUEUEINFO, uintptr(pid), uintptr(tid), rtSignal, uintptr(unsafe.Pointer(&info)), 0, 0)
		if e != 0 {
			stop = errText(e)
			break
		}
		n++
	}
	fmt.Printf("queued=%d\nstop=%s\n", n, stop)
	os.Stdout.Sync()
	// Exit without unblocking: the queued signals die with the process.
	unix.Exit(0)
	return 0
}

// hold-stdin MARKER: prints ready=MARKER and waits for stdin to close, so
// the host can look at the box process while it lives.
func holdStdin(args []string) int {
	fmt.Printf("ready=%v\n", args)
	waitStdinClosed()
	return 0
}

// kernelSigaction is struct sigaction as the rt_sigaction system call takes
// it; all zero is SIG_DFL.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// defaultAction gives sig its default action behind the Go runtime's back,
// as a C program has it: the runtime ignores SIGXCPU and SIGXFSZ and turns
// faults into panics.
func defaultAction(sig syscall.Signal) error {
	var sa kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}

// core-crash: prints CORE=SOFT/HARD, runs core-crash-child in /w and prints
// how it ended (child_signal=, cored=true|false), then every entry of /w
// (w=NAME).
func coreCrash([]string) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err == nil {
		fmt.Printf("CORE=%s/%s\n", rlimitText(rl.Cur), rlimitText(rl.Max))
	}
	cmd := exec.Command("/proc/self/exe", "core-crash-child")
	cmd.Dir = "/w"
	if _, err := os.Stat("/w"); err != nil {
		cmd.Dir = "" // a backend without /w: the working directory
	}
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		fmt.Printf("child_signal=%s\n", unix.SignalName(ws.Signal()))
	}
	fmt.Printf("cored=%t\n", ws.CoreDump())
	dir := cmd.Dir
	if dir == "" {
		dir = "."
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Printf("w=%s\n", e.Name())
	}
	return 0
}

// core-crash-child: dies of a real segmentation fault with the default
// action, which dumps core where the kernel lets it.
func coreCrashChild([]string) int {
	if err := defaultAction(unix.SIGSEGV); err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	var p *int
	*p = 1 // faults: the kernel kills with SIGSEGV
	return 0
}

// fd-escape FD NAME: what a handed descriptor reaches. Prints started=1,
// fd_type=, then open:NAME (openat(FD, NAME)), parent (openat(FD, "..")),
// fchdir, and after fchdir cwd_open:NAME and cwd_entries=N.
func fdEscape(args []string) int {
	fmt.Println("started=1")
	if len(args) < 2 {
		return 2
	}
	fd, err := strconv.Atoi(args[0])
	if err != nil {
		return 2
	}
	name := args[1]
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		fmt.Printf("fd_type=%s\n", errText(err))
		return 0
	}
	kinds := map[uint32]string{unix.S_IFDIR: "dir", unix.S_IFREG: "reg", unix.S_IFIFO: "fifo", unix.S_IFSOCK: "sock", unix.S_IFCHR: "chr", unix.S_IFLNK: "lnk", unix.S_IFBLK: "blk"}
	fmt.Printf("fd_type=%s\n", kinds[st.Mode&unix.S_IFMT])
	if f, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		b := make([]byte, 256)
		k, _ := unix.Read(f, b)
		unix.Close(f)
		fmt.Printf("open:%s=ok\ncontent=%q\n", name, b[:max(k, 0)])
	} else {
		fmt.Printf("open:%s=%s\n", name, errText(err))
	}
	if p, err := unix.Openat(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(p)
		fmt.Println("parent=ok")
	} else {
		fmt.Printf("parent=%s\n", errText(err))
	}
	if err := unix.Fchdir(fd); err != nil {
		fmt.Printf("fchdir=%s\n", errText(err))
		return 0
	}
	fmt.Println("fchdir=ok")
	if b, err := os.ReadFile(name); err == nil {
		fmt.Printf("cwd_open:%s=ok\ncontent=%q\n", name, b)
	} else {
		fmt.Printf("cwd_open:%s=%s\n", name, errText(err))
	}
	if entries, err := os.ReadDir("../.."); err == nil {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		fmt.Printf("cwd_entries=%d\n", len(names))
	}
	return 0
}

// tty-steal: with a terminal on stdin, tries to make it the controlling
// terminal of a new session (setsid=, sctty=) and clears ECHO and ICANON
// on it (modes=ok|ERRNO).
func ttySteal([]string) int {
	_, err := unix.IoctlGetTermios(0, unix.TCGETS)
	fmt.Printf("isatty=%t\n", err == nil)
	if _, err := unix.Setsid(); err != nil {
		fmt.Printf("setsid=%s\n", errText(err))
	} else {
		fmt.Println("setsid=ok")
	}
	fmt.Printf("sctty=%s\n", errText(unix.IoctlSetInt(0, unix.TIOCSCTTY, 0)))
	t, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		fmt.Printf("modes=%s\n", errText(err))
		return 0
	}
	t.Lflag &^= unix.ECHO | unix.ICANON
	fmt.Printf("modes=%s\n", errText(unix.IoctlSetTermios(0, unix.TCSETS, t)))
	return 0
}
