package main

// Process actions (P1-P7): what processes the box sees and can reach, what it
// leaves behind, and exactly what it was started with.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	register("ps-pids", psPids)
	register("ps-signal", psSignal)
	register("ps-ptrace", psPtrace)
	register("ps-leave", psLeave)
	register("ps-linger", psLinger)
	register("ps-env", psEnv)
	register("ps-argv", psArgv)
	register("ps-fds", psFds)
	register("ps-signals", psSignals)
	register("ps-clone-parent", psCloneParent)
}

// ps-clone-parent MARKER: makes a lingering process (ps-linger MARKER plain)
// with clone(CLONE_PARENT), so that its parent is the program's parent, not
// the program, and exits. Where the program's parent is the supervisor
// (a box whose pid 1 is not the program's parent), the supervisor must not
// wait for the box's pid 1 forever: pid 1 cannot finish dying while a
// process of its namespace is an unreaped zombie of the supervisor.
// Prints "sibling=PID" or "sibling=ERRNO".
func psCloneParent(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage=ps-clone-parent MARKER")
		return 2
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	// syscall.ForkExec, not os/exec: no pidfd is asked for, so the start is
	// a plain clone(2), whose flags the filter sees (clone3 fails ENOSYS).
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"probe", "ps-linger", args[0], "plain"}, &syscall.ProcAttr{
		Files: []uintptr{0, 1, 2, w.Fd()},
		Sys:   &syscall.SysProcAttr{Cloneflags: unix.CLONE_PARENT},
	})
	w.Close()
	if err != nil {
		fmt.Printf("sibling=%s\n", errText(err))
		return 0
	}
	r.Read(make([]byte, 1)) // in place
	fmt.Printf("sibling=%d\nppid=%d\n", pid, os.Getppid())
	return 0
}

// psSignals prints the signal masks the program started with, from
// /proc/self/status: "SigIgn=<hex>", "SigBlk=<hex>".
func psSignals([]string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println("error=" + errText(err))
		return 1
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, key := range []string{"SigIgn", "SigBlk"} {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				fmt.Printf("%s=%s\n", key, strings.TrimSpace(v))
			}
		}
	}
	return 0
}

// errText is "ok" for nil, the errno's name (ESRCH) or the error's text.
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			return name
		}
		return fmt.Sprintf("errno%d", int(errno))
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func listPids() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, n)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// ps-pids: every pid in /proc with its command line.
// Prints self=, count=, pids=1,2 and cmdline.PID=... per process.
func psPids([]string) int {
	pids, err := listPids()
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	fmt.Printf("self=%d\ncount=%d\n", os.Getpid(), len(pids))
	strs := make([]string, len(pids))
	for i, p := range pids {
		strs[i] = strconv.Itoa(p)
	}
	fmt.Printf("pids=%s\n", strings.Join(strs, ","))
	for _, p := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		fmt.Printf("cmdline.%d=%s\n", p, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return 0
}

// ps-signal PID: kill(PID, 0), kill(PID, SIGKILL) and kill(-1, SIGKILL).
// Prints probe=, kill=, killall=.
func psSignal(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage=ps-signal PID")
		return 2
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		fmt.Println("usage=ps-signal PID")
		return 2
	}
	fmt.Printf("probe=%s\n", errText(unix.Kill(pid, 0)))
	fmt.Printf("kill=%s\n", errText(unix.Kill(pid, unix.SIGKILL)))
	// kill(-1) reaches every process the caller may signal but itself.
	signal.Ignore(unix.SIGTERM)
	fmt.Printf("killall=%s\n", errText(unix.Kill(-1, unix.SIGKILL)))
	return 0
}

// ps-ptrace PID: PTRACE_ATTACH to a process outside (PID) and to a child of
// the probe. Prints attach.outside=, attach.child=.
func psPtrace(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage=ps-ptrace PID")
		return 2
	}
	pid, _ := strconv.Atoi(args[0])
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	attach := func(target int) string {
		err := unix.PtraceAttach(target)
		if err == nil {
			var ws unix.WaitStatus
			unix.Wait4(target, &ws, unix.WALL, nil)
			unix.PtraceDetach(target)
		}
		return errText(err)
	}
	if pid > 0 {
		fmt.Printf("attach.outside=%s\n", attach(pid))
	}
	child := exec.Command("/proc/self/exe", "ps-linger", "ptrace-target", "plain")
	if err := child.Start(); err != nil {
		fmt.Printf("attach.child=start: %s\n", errText(err))
		return 1
	}
	fmt.Printf("attach.child=%s\n", attach(child.Process.Pid))
	child.Process.Kill()
	child.Wait()
	return 0
}

// ps-leave MARKER: leaves behind a daemon (double fork and setsid), a stopped
// child and a child that ignores SIGTERM, each with MARKER in its command
// line, and exits without waiting for them. Prints left=N.
func psLeave(args []string) int {
	if len(args) != 1 {
		fmt.Println("usage=ps-leave MARKER")
		return 2
	}
	marker := args[0]
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	kinds := []string{"daemon-parent", "stopped", "stubborn"}
	for _, kind := range kinds {
		cmd := exec.Command("/proc/self/exe", "ps-linger", marker, kind)
		cmd.ExtraFiles = []*os.File{w}
		if err := cmd.Start(); err != nil {
			fmt.Printf("start.%s=%s\n", kind, errText(err))
			return 1
		}
		fmt.Printf("started.%s=%d\n", kind, cmd.Process.Pid)
		if kind == "daemon-parent" {
			cmd.Wait() // the daemon is orphaned once its parent is gone
		}
	}
	w.Close()
	// One byte from each lingering process once it is in place.
	buf := make([]byte, 8)
	got := 0
	for got < len(kinds) {
		n, err := r.Read(buf)
		got += n
		if err != nil {
			break
		}
	}
	fmt.Printf("left=%d\n", got)
	return 0
}

// ps-linger MARKER KIND: stays alive. KIND daemon-parent starts a daemon in a
// new session and exits; daemon, stopped (stops itself), stubborn (ignores
// SIGTERM, SIGHUP, SIGINT) and plain sleep forever. A byte on descriptor 3,
// when open, says the process is in place.
func psLinger(args []string) int {
	if len(args) != 2 {
		fmt.Println("usage=ps-linger MARKER KIND")
		return 2
	}
	marker, kind := args[0], args[1]
	ready := func() {
		f := os.NewFile(3, "ready")
		f.Write([]byte{1})
		f.Close()
	}
	switch kind {
	case "daemon-parent":
		cmd := exec.Command("/proc/self/exe", "ps-linger", marker, "daemon")
		cmd.ExtraFiles = []*os.File{os.NewFile(3, "ready")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			fmt.Printf("start.daemon=%s\n", errText(err))
			return 1
		}
		fmt.Printf("started.daemon=%d\n", cmd.Process.Pid)
		return 0
	case "daemon", "plain":
		ready()
	case "stopped":
		ready()
		unix.Kill(os.Getpid(), unix.SIGSTOP)
	case "stubborn":
		signal.Ignore(unix.SIGTERM, unix.SIGHUP, unix.SIGINT)
		ready()
	default:
		fmt.Printf("usage=unknown kind %q\n", kind)
		return 2
	}
	for {
		time.Sleep(time.Hour)
	}
}

// ps-env: the environment, one env=K=V line per entry, in order.
func psEnv([]string) int {
	for _, e := range os.Environ() {
		fmt.Printf("env=%s\n", e)
	}
	return 0
}

// ps-argv: argc=, arg0=, one arg=QUOTED line per argument after the action,
// and cwd= (from getcwd, not $PWD).
func psArgv(args []string) int {
	fmt.Printf("argc=%d\narg0=%s\n", len(os.Args), strconv.Quote(os.Args[0]))
	for _, a := range args {
		fmt.Printf("arg=%s\n", strconv.Quote(a))
	}
	cwd, err := unix.Getwd()
	if err != nil {
		cwd = "error " + errText(err)
	}
	fmt.Printf("cwd=%s\n", cwd)
	return 0
}

// ps-fds: the descriptors the probe inherited, listed with raw system calls
// so that the listing opens nothing but its own directory descriptor, which
// it leaves out. A descriptor that survived execve has no close-on-exec flag;
// those with the flag were opened by the Go runtime after the start (it keeps
// cgroup CPU files open) and are listed apart. Prints fds=0,1,2,
// runtime=LIST and fd.N=TARGET.
func psFds([]string) int {
	dirfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dirfd, buf)
		if err != nil {
			fmt.Printf("error=%s\n", errText(err))
			return 1
		}
		if n == 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
	var inherited, runtimeFds []int
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd == dirfd {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err == nil && flags&unix.FD_CLOEXEC != 0 {
			runtimeFds = append(runtimeFds, fd)
		} else {
			inherited = append(inherited, fd)
		}
	}
	unix.Close(dirfd)
	list := func(fds []int) string {
		sort.Ints(fds)
		strs := make([]string, len(fds))
		for i, fd := range fds {
			strs[i] = strconv.Itoa(fd)
		}
		return strings.Join(strs, ",")
	}
	fmt.Printf("fds=%s\nruntime=%s\n", list(inherited), list(runtimeFds))
	for _, fd := range append(inherited, runtimeFds...) {
		target, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		fmt.Printf("fd.%d=%s\n", fd, target)
	}
	return 0
}
