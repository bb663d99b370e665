package main

// Filesystem actions (F1-F11): what the box can see, write and create.

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

func init() {
	register("fs-writable", fsWritable)
	register("fs-exists", fsExists)
	register("fs-realpath", fsRealpath)
	register("fs-proc", fsProc)
	register("fs-mknod", fsMknod)
	register("fs-dev", fsDev)
	register("fs-mark", fsMark)
	register("fs-mark-wait", fsMarkWait)
	register("fs-cat", fsCat)
	register("fs-plant", fsPlant)
	register("fs-tamper", fsTamper)
	register("fs-cgroup", fsCgroup)
	register("fs-swap-links", fsSwapLinks)
	register("fs-deep-file", fsDeepFile)
	register("fs-big-file", fsBigFile)
	register("fs-late-write", fsLateWrite)
}

// fs-deep-file DEPTH SIZE: makes a chain of DEPTH directories with
// 250-byte names below /w (past PATH_MAX from 17 on), moving into each, and
// writes SIZE bytes to a file at its bottom (SIGXFSZ ignored: a write past
// the file-size limit fails instead), then exits 0: the host's look for a
// file at the output limit must reach it. Prints depth=N written=N.
func fsDeepFile(args []string) int {
	mustBeBoxed()
	if len(args) != 2 {
		return 2
	}
	depth, err1 := strconv.Atoi(args[0])
	size, err2 := sandbox.ParseSize(args[1])
	if err1 != nil || err2 != nil || depth < 1 || size > 1<<30 {
		return 2
	}
	signal.Ignore(unix.SIGXFSZ)
	name := strings.Repeat("d", 250)
	if err := os.Chdir("/w"); err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	for i := range depth {
		if err := os.Mkdir(name, 0o755); err != nil {
			fmt.Printf("error=mkdir at depth %d: %v\n", i, err)
			return 1
		}
		if err := os.Chdir(name); err != nil {
			fmt.Printf("error=chdir at depth %d: %v\n", i, err)
			return 1
		}
	}
	f, err := os.Create("file")
	if err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	n, _ := f.Write(make([]byte, size))
	f.Close()
	fmt.Printf("depth=%d written=%d\n", depth, n)
	return 0
}

// fs-big-file DIR SIZE: writes SIZE bytes to DIR/big with SIGXFSZ ignored
// (past the output limit the write fails with EFBIG, or is cut short, and
// the program goes on), then exits 0. Prints dir=DIR written=N. DIR must
// be one of the box's writable directories, or bindDir (a spec's writable
// bind).
func fsBigFile(args []string) int {
	mustBeBoxed()
	if len(args) != 2 || !slices.Contains(append(writableDirs, bindDir), args[0]) {
		return 2
	}
	size, err := sandbox.ParseSize(args[1])
	if err != nil || size > 1<<30 {
		return 2
	}
	signal.Ignore(unix.SIGXFSZ)
	f, err := os.Create(args[0] + "/big")
	if err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	n, _ := f.Write(make([]byte, size))
	f.Close()
	fmt.Printf("dir=%s written=%d\n", args[0], n)
	return 0
}

// fs-late-write DIR DELAY: fills DIR/late to one page short of the file
// size limit (RLIMIT_FSIZE), leaves a process behind that waits for the
// program's end, then DELAY more (a Go duration, spun), and writes the
// last page (SIGXFSZ ignored: the write is cut at the limit), then exits 0
// at once. The host's look for a file at the output limit must come after
// every process of the box is gone, or the file reaches the limit behind
// it. Prints late=armed.
func fsLateWrite(args []string) int {
	mustBeBoxed()
	if len(args) < 2 || !slices.Contains(append(writableDirs, bindDir), args[0]) {
		return 2
	}
	delay, err := time.ParseDuration(args[1])
	if err != nil {
		return 2
	}
	signal.Ignore(unix.SIGXFSZ)
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_FSIZE, &lim) != nil || lim.Cur > 1<<30 || lim.Cur < 8192 {
		fmt.Println("error=no file size limit to write up to")
		return 1
	}
	name := args[0] + "/late"
	if len(args) == 3 && args[2] == "late" {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return 1
		}
		awaitProgramEnd()
		for end := time.Now().Add(delay); time.Now().Before(end); {
		}
		f.WriteAt(make([]byte, 8192), int64(lim.Cur)-4096)
		return 0
	}
	if err := os.WriteFile(name, make([]byte, lim.Cur-4096), 0o666); err != nil {
		fmt.Println("error=" + err.Error())
		return 1
	}
	if !leaveBehind("fs-late-write", args[0], args[1], "late") {
		return 1
	}
	fmt.Println("late=armed")
	return 0
}

// leaveBehind starts this probe with args as a process left behind, and
// waits until it is ready (awaitProgramEnd); it says why on stdout when
// it cannot. The left process's stdin is a pipe only this program holds.
func leaveBehind(args ...string) bool {
	cmd := exec.Command(os.Args[0], args...)
	in, err1 := cmd.StdinPipe()
	ready, err2 := cmd.StdoutPipe()
	if err1 != nil || err2 != nil || cmd.Start() != nil {
		fmt.Println("error=cannot leave a process behind")
		return false
	}
	if n, _ := ready.Read(make([]byte, 1)); n != 1 {
		fmt.Println("error=the process left behind did not start")
		return false
	}
	leftStdin = append(leftStdin, in) // closed by the program's end
	return true
}

// leftStdin keeps the pipes to processes left behind open until the
// program ends.
var leftStdin []io.WriteCloser

// awaitProgramEnd, in a process started by leaveBehind, says it is ready
// and returns once the program that left it has ended.
func awaitProgramEnd() {
	os.Stdout.Write([]byte("r"))
	os.Stdin.Read(make([]byte, 1)) // EOF: the program is gone
}

// bindDir is where specs put a writable bind that fs-big-file may fill.
const bindDir = "/out"

// fs-swap-links TARGET: makes directories /w/d/0..199 and leaves three
// processes swapping them for symlinks to TARGET (a host path) and back,
// then exits: the host's look at /w after the run (for a file at the
// output limit) must never follow one into the host. Prints started=N.
// With a second argument "swap" it is one of the swapping processes.
func fsSwapLinks(args []string) int {
	mustBeBoxed()
	const dirs, swappers = 200, 3
	if len(args) == 3 && args[1] == "swap" {
		k, _ := strconv.Atoi(args[2])
		aside := fmt.Sprintf("/w/aside%d", k)
		for {
			for i := k; i < dirs; i += swappers {
				p := fmt.Sprintf("/w/d/%d", i)
				if os.Rename(p, aside) != nil {
					continue
				}
				// The link stays a while: the host's look must find it.
				os.Symlink(args[0], p)
				time.Sleep(20 * time.Microsecond)
				os.Remove(p)
				os.Rename(aside, p)
			}
		}
	}
	if len(args) != 1 {
		return 2
	}
	for i := range dirs {
		if err := os.MkdirAll(fmt.Sprintf("/w/d/%d", i), 0o755); err != nil {
			fmt.Printf("error=%s\n", errText(err))
			return 1
		}
	}
	started := 0
	for k := range swappers {
		cmd := exec.Command(os.Args[0], "fs-swap-links", args[0], "swap", strconv.Itoa(k))
		if cmd.Start() == nil {
			started++
		}
	}
	fmt.Printf("started=%d\n", started)
	time.Sleep(50 * time.Millisecond)
	return 0
}

// fs-writable DIR...: tries to create a file in each directory (and removes
// it). Prints w:DIR=ok|ERRNO.
func fsWritable(args []string) int {
	mustBeBoxed()
	for _, dir := range args {
		p := filepath.Join(dir, fmt.Sprintf(".gosandbox-probe-%d", os.Getpid()))
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err == nil {
			unix.Close(fd)
			unix.Unlink(p)
		}
		fmt.Printf("w:%s=%s\n", dir, errText(err))
	}
	return 0
}

// fs-exists PATH...: lstat of each path. Prints e:PATH=ok|ERRNO.
func fsExists(args []string) int {
	for _, p := range args {
		var st unix.Stat_t
		fmt.Printf("e:%s=%s\n", p, errText(unix.Lstat(p, &st)))
	}
	return 0
}

// fs-realpath PATH...: prints real:PATH=the path with every symlink
// resolved, or the error.
func fsRealpath(args []string) int {
	for _, p := range args {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = errText(err)
		}
		fmt.Printf("real:%s=%s\n", p, real)
	}
	return 0
}

// fs-proc: sensitive /proc paths. Reads are tried on paths that leak kernel
// memory or logs (read:PATH=N bytes read, or ERRNO), opens for writing
// (nothing is written) on paths that change the kernel (open:PATH=ok|ERRNO).
func fsProc([]string) int {
	mustBeBoxed()
	for _, p := range []string{"/proc/kcore", "/proc/kmsg", "/proc/kallsyms", "/proc/timer_list", "/proc/sched_debug", "/proc/keys"} {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Printf("read:%s=%s\n", p, errText(err))
			continue
		}
		buf := make([]byte, 4096)
		n, err := unix.Read(fd, buf)
		unix.Close(fd)
		if err != nil {
			fmt.Printf("read:%s=%s\n", p, errText(err))
			continue
		}
		// kallsyms shows zero addresses to the unprivileged: that is masked.
		if p == "/proc/kallsyms" && n > 0 && strings.HasPrefix(string(buf[:n]), "0000000000000000") {
			n = 0
		}
		fmt.Printf("read:%s=%d\n", p, n)
	}
	for _, p := range []string{
		"/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches",
		"/proc/sys/kernel/modprobe", "/proc/sys/fs/suid_dumpable", "/proc/sys/net/ipv4/ip_forward",
	} {
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		fmt.Printf("open:%s=%s\n", p, errText(err))
	}
	return 0
}

// fs-mknod PATH...: mknod of a /dev/null twin at each path. Prints
// mknod:PATH=ok|ERRNO, and when it worked, opendev:PATH=ok|ERRNO.
func fsMknod(args []string) int {
	mustBeBoxed()
	for _, p := range args {
		err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
		fmt.Printf("mknod:%s=%s\n", p, errText(err))
		if err == nil {
			fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			fmt.Printf("opendev:%s=%s\n", p, errText(err))
			unix.Unlink(p)
		}
	}
	return 0
}

// fs-dev: everything under /dev. Prints dev:PATH=char MAJ:MIN | block MAJ:MIN
// | dir | link TARGET | file | other.
func fsDev([]string) int {
	err := filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			fmt.Printf("dev:%s=error %s\n", p, errText(err))
			return nil
		}
		if p == "/dev" {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			fmt.Printf("dev:%s=error %s\n", p, errText(err))
			return nil
		}
		kind := "other"
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			kind = fmt.Sprintf("char %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case unix.S_IFBLK:
			kind = fmt.Sprintf("block %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		case unix.S_IFDIR:
			kind = "dir"
		case unix.S_IFLNK:
			t, _ := os.Readlink(p)
			kind = "link " + t
		case unix.S_IFREG:
			kind = "file"
		}
		fmt.Printf("dev:%s=%s\n", p, kind)
		return nil
	})
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	return 0
}

// fs-mark PATH...: creates each file with a line of content. Prints
// mark:PATH=ok|ERRNO.
func fsMark(args []string) int {
	for _, p := range args {
		fmt.Printf("mark:%s=%s\n", p, errText(os.WriteFile(p, []byte("gosandbox mark\n"), 0o644)))
	}
	return 0
}

// fs-mark-wait PATH...: like fs-mark, then prints ready and waits until its
// standard input ends.
func fsMarkWait(args []string) int {
	fsMark(args)
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString(0)
	return 0
}

// fs-cat PATH: the file's content on stdout.
func fsCat(args []string) int {
	for _, p := range args {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Printf("error=%s\n", errText(err))
			return 1
		}
		os.Stdout.Write(b)
	}
	return 0
}

// fs-plant: plants in the working directory what a copy-out must refuse:
// link (symlink to /etc/shadow), escape (symlink to /), fifo, sock (a
// listening unix socket's file), hard (second name of orig.txt), sparse (a
// 1 TiB hole, or EFBIG under a file size limit), dir; and ok.txt, which may
// be copied out. Prints plant:NAME=ok|ERRNO.
func fsPlant([]string) int {
	signal.Ignore(unix.SIGXFSZ)
	report := func(name string, err error) { fmt.Printf("plant:%s=%s\n", name, errText(err)) }
	report("ok.txt", os.WriteFile("ok.txt", []byte("copy me\n"), 0o644))
	report("link", os.Symlink("/etc/shadow", "link"))
	report("escape", os.Symlink("/", "escape"))
	report("fifo", unix.Mkfifo("fifo", 0o644))
	if l, err := net.Listen("unix", "sock"); err == nil {
		// Leave the socket file behind when the process ends.
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		report("sock", nil)
	} else {
		report("sock", err)
	}
	err := os.WriteFile("orig.txt", []byte("two names\n"), 0o644)
	if err == nil {
		err = os.Link("orig.txt", "hard")
	}
	report("hard", err)
	f, err := os.Create("sparse")
	if err == nil {
		err = f.Truncate(1 << 40)
		f.Close()
	}
	report("sparse", err)
	report("dir", os.Mkdir("dir", 0o755))
	return 0
}

// fs-tamper PATH: reads PATH (read=QUOTED), then tries to change it every
// way there is. Prints tamper.OP=ok|ERRNO; ok means it was changed.
func fsTamper(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage=fs-tamper PATH")
		return 2
	}
	p := args[0]
	b, err := os.ReadFile(p)
	if err != nil {
		fmt.Printf("read=error %s\n", errText(err))
		return 1
	}
	fmt.Printf("read=%s\n", strconv.Quote(string(b)))
	try := func(op string, err error) { fmt.Printf("tamper.%s=%s\n", op, errText(err)) }
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte("tampered\n"))
		unix.Close(fd)
	}
	try("append", err)
	try("truncate", unix.Truncate(p, 0))
	try("chmod", unix.Chmod(p, 0o777))
	try("utimes", unix.UtimesNano(p, []unix.Timespec{{Sec: 1}, {Sec: 1}}))
	try("create", os.WriteFile(filepath.Join(filepath.Dir(p), "planted"), []byte("x"), 0o644))
	try("link", unix.Link(p, p+".link"))
	try("rename", unix.Rename(p, p+".moved"))
	try("unlink", unix.Unlink(p))
	return 0
}

// fs-cgroup: the box's view of cgroups. Prints cgroup=LINE for each line of
// /proc/self/cgroup, cgroupfs=absent|present, and mkdir:DIR=ok|ERRNO for
// /sys/fs/cgroup and each directory right under it (removed again if made).
func fsCgroup([]string) int {
	mustBeBoxed()
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			fmt.Printf("cgroup=%s\n", line)
		}
	} else {
		fmt.Printf("cgroup=error %s\n", errText(err))
	}
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil || len(entries) == 0 {
		fmt.Printf("cgroupfs=absent\n")
		return 0
	}
	fmt.Printf("cgroupfs=present\n")
	dirs := []string{"/sys/fs/cgroup"}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, fmt.Sprintf("gosandbox-probe-%d", os.Getpid()))
		err := unix.Mkdir(p, 0o755)
		if err == nil {
			unix.Rmdir(p)
		}
		fmt.Printf("mkdir:%s=%s\n", d, errText(err))
	}
	return 0
}
