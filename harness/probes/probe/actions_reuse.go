package main

// Actions for the Pooled reuse properties (U1-U5): reuse-plant leaves every
// kind of trace a run can leave in its box, reuse-check looks for any of them
// in the next run. A token names the traces of one spec, so that checks of
// different specs never see each other's.

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	register("reuse-plant", reusePlant)
	register("reuse-daemon", reuseDaemon)
	register("reuse-check", reuseCheck)
}

// writableDirs are the paths a box may write; U2 wants each wiped between runs.
var writableDirs = []string{"/w", "/tmp", "/dev/shm"}

// ipcKey derives a SysV IPC key from the token.
func ipcKey(token string) int {
	h := fnv.New32a()
	h.Write([]byte(token))
	return int(h.Sum32()&0x3fffffff) + 1
}

// SysV message queues have no wrapper in x/sys/unix.
func msgget(key, flags int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_MSGGET, uintptr(key), uintptr(flags), 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func semget(key, n, flags int) (int, error) {
	r, _, e := unix.RawSyscall(unix.SYS_SEMGET, uintptr(key), uintptr(n), uintptr(flags))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func mqOpen(name string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	// A one-message queue: the default size would not fit a box's small
	// RLIMIT_MSGQUEUE. Fields: flags, maxmsg, msgsize, curmsgs, reserved.
	attr := [8]int64{0, 1, 64}
	r, _, e := unix.RawSyscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags), 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// reuse-plant TOKEN: leave traces and print what was planted:
// daemon (SIGTERM-ignoring, in its own session), stopped daemon, a file in
// each writable dir, a SysV shm segment, message queue and semaphore set, a
// POSIX message queue, and the hostname "planted-TOKEN".
func reusePlant(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		return 2
	}
	token := args[0]
	for _, mode := range []string{"run", "stop"} {
		cmd := exec.Command(os.Args[0], "reuse-daemon", token, mode)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err := cmd.Start()
		if err == nil {
			fmt.Printf("daemon_%s=%d\n", mode, cmd.Process.Pid)
			cmd.Process.Release()
		} else {
			fmt.Printf("daemon_%s=%s\n", mode, errName(err))
		}
	}
	for _, dir := range writableDirs {
		err := os.WriteFile(dir+"/u-"+token, []byte(token), 0o644)
		fmt.Printf("file_%s=%s\n", dir, errName(err))
	}
	key := ipcKey(token)
	_, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|0o600)
	fmt.Printf("shm=%s\n", errName(err))
	_, err = msgget(key, unix.IPC_CREAT|0o600)
	fmt.Printf("msg=%s\n", errName(err))
	_, err = semget(key, 1, unix.IPC_CREAT|0o600)
	fmt.Printf("sem=%s\n", errName(err))
	fd, err := mqOpen("u-"+token, unix.O_CREAT|unix.O_RDONLY)
	if err == nil {
		unix.Close(fd)
	}
	fmt.Printf("mqueue=%s\n", errName(err))
	err = unix.Sethostname([]byte("planted-" + token))
	fmt.Printf("hostname=%s\n", errName(err))
	// Let the daemons settle (the stopped one stop) before the run ends.
	time.Sleep(100 * time.Millisecond)
	return 0
}

// reuse-daemon TOKEN run|stop: outlive the run: ignore the polite signals and
// sleep, or stop itself. It gives up after two minutes.
func reuseDaemon(args []string) int {
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	if len(args) == 2 && args[1] == "stop" {
		unix.Kill(os.Getpid(), unix.SIGSTOP)
	}
	time.Sleep(2 * time.Minute)
	return 0
}

// reuse-check TOKEN: look for every trace reuse-plant leaves (of this token,
// and any SysV IPC object at all), print leak=WHAT for each found, then
// hostname=NAME and checked=N.
func reuseCheck(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		return 2
	}
	token := args[0]
	checked := 0
	leak := func(format string, a ...any) { fmt.Printf("leak="+format+"\n", a...) }

	checked++
	entries, err := os.ReadDir("/proc")
	if err != nil {
		fmt.Printf("proc=%s\n", errName(err))
		return 1
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == self {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmdline), token) {
			leak("process pid=%s cmdline=%q", e.Name(), strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	for _, dir := range writableDirs {
		checked++
		if _, err := os.Stat(dir + "/u-" + token); err == nil {
			leak("file %s/u-%s", dir, token)
		}
		// Anything else left there (fill files of an earlier spec) is a trace
		// too; a fresh box starts with these directories empty.
		if names, err := os.ReadDir(dir); err == nil && len(names) > 0 {
			var list []string
			for _, n := range names {
				list = append(list, n.Name())
			}
			leak("entries in %s: %s", dir, strings.Join(list, ","))
		}
	}
	for _, kind := range []string{"shm", "msg", "sem"} {
		checked++
		b, err := os.ReadFile("/proc/sysvipc/" + kind)
		if err != nil {
			fmt.Printf("sysvipc_%s=%s\n", kind, errName(err))
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 1 {
			leak("sysv %s objects=%d (key %d is ours)", kind, len(lines)-1, ipcKey(token))
		}
	}
	checked++
	if fd, err := mqOpen("u-"+token, unix.O_RDONLY); err == nil {
		unix.Close(fd)
		leak("mqueue u-%s", token)
	}
	checked++
	host, _ := os.Hostname()
	fmt.Printf("hostname=%s\n", host)
	if strings.HasPrefix(host, "planted-") {
		leak("hostname %s", host)
	}
	fmt.Printf("checked=%d\n", checked)
	return 0
}
