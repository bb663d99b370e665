package main

// reuse-held: what a run can leave behind with no process left. A
// descriptor sent over a unix socket that is itself in flight (a garbage
// cycle) keeps its file open after every process of the box has died,
// until the kernel's unix garbage collector runs. A file held so keeps its
// memory charged to the box's cgroup and its file system busy: the reset
// of a reused box must neither hand that charge to the next run nor trip
// over the busy mount (U4, U5).

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

func init() {
	register("reuse-held", reuseHeld)
	register("reuse-deep", reuseDeep)
	register("reuse-awkward", reuseAwkward)
	register("reuse-sysv", reuseSysV)
	register("reuse-mq", reuseMQ)
}

// reuse-held PATH SIZE: writes SIZE bytes (a size with an optional KiB or
// MiB suffix) to PATH (a memfd for "memfd"), keeps it open only through a socket cycle in
// flight, and exits (prints written=N, held=ok or held=ERRNO).
func reuseHeld(args []string) int {
	mustBeBoxed()
	if len(args) != 2 {
		fmt.Println("usage: reuse-held PATH SIZE")
		return 2
	}
	size, err := sandbox.ParseSize(args[1])
	if err != nil {
		fmt.Printf("error=%v\n", err)
		return 2
	}
	var f *os.File
	if args[0] == "memfd" {
		fd, merr := unix.MemfdCreate("held", unix.MFD_CLOEXEC)
		f, err = os.NewFile(uintptr(fd), "memfd"), merr
	} else {
		f, err = os.OpenFile(args[0], os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	}
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*13 + 7)
	}
	written := int64(0)
	for written < size {
		n := min(int64(len(chunk)), size-written)
		if _, err := f.Write(chunk[:n]); err != nil {
			fmt.Printf("write=%s\n", errText(err))
			break
		}
		written += n
	}
	fmt.Printf("written=%d\n", written)
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	// The file and both ends go in flight on one end: a cycle only the
	// garbage collector can free.
	err = unix.Sendmsg(sv[0], []byte{'x'}, unix.UnixRights(int(f.Fd()), sv[0], sv[1]), nil, unix.MSG_DONTWAIT)
	fmt.Printf("held=%s\n", errText(err))
	// Exit without closing: the kernel closes them, and their release,
	// held by the messages in flight, starts no collection.
	os.Exit(0)
	return 0
}

// reuse-deep DIR N: makes a chain of N nested directories below DIR, each
// opened relative to its parent (no path grows), and prints depth=N or
// where it stopped.
func reuseDeep(args []string) int {
	mustBeBoxed()
	if len(args) != 2 {
		fmt.Println("usage: reuse-deep DIR N")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		fmt.Println("error=N must be a positive number")
		return 2
	}
	fd, err := unix.Open(args[0], unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		fmt.Printf("error=%s\n", errText(err))
		return 1
	}
	depth := 0
	for ; depth < n; depth++ {
		if err := unix.Mkdirat(fd, "d", 0o755); err != nil {
			fmt.Printf("mkdir=%s\n", errText(err))
			break
		}
		sub, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			fmt.Printf("open=%s\n", errText(err))
			break
		}
		unix.Close(fd)
		fd = sub
	}
	fmt.Printf("depth=%d\n", depth)
	return 0
}

// reuse-awkward DIR: fills DIR with entries a wipe may trip on: a
// directory the box made read-only and one it made inaccessible (each with
// content), a FIFO, a bound unix socket, names with a newline and with
// bytes that are not UTF-8, a symlink to /, a hard link, and a sticky
// directory. Prints made_NAME=ok or the error for each.
func reuseAwkward(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage: reuse-awkward DIR")
		return 2
	}
	dir := args[0]
	report := func(what string, err error) { fmt.Printf("made_%s=%s\n", what, errText(err)) }
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"ro", 0o555}, {"none", 0o000}, {"sticky", 0o777 | os.ModeSticky}} {
		p := dir + "/" + d.name
		err := os.MkdirAll(p+"/sub", 0o755)
		if err == nil {
			err = os.WriteFile(p+"/sub/f", []byte("x"), 0o400)
		}
		if err == nil {
			err = os.Chmod(p+"/sub", d.mode)
		}
		if err == nil {
			err = os.Chmod(p, d.mode)
		}
		report(d.name, err)
	}
	report("fifo", unix.Mkfifo(dir+"/fifo", 0o600))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		err = unix.Bind(sock, &unix.SockaddrUnix{Name: dir + "/sock"})
	}
	report("socket", err)
	report("newline", os.WriteFile(dir+"/new\nline", []byte("x"), 0o000))
	report("bytes", os.WriteFile(dir+"/\xff\xfe", []byte("x"), 0o600))
	report("symlink", os.Symlink("/", dir+"/link"))
	err = os.WriteFile(dir+"/orig", []byte("x"), 0o600)
	if err == nil {
		err = os.Link(dir+"/orig", dir+"/hard")
	}
	report("hardlink", err)
	return 0
}

// reuse-sysv SIZE: leaves a SysV shared memory segment of SIZE, touched,
// and a message queue filled up, both without IPC_RMID, and exits: they
// live as long as the run's IPC namespace, which the kernel frees some time
// after the run's last process is gone. Prints shm=ok and msg=N (messages
// queued) or the errors.
func reuseSysV(args []string) int {
	mustBeBoxed()
	if len(args) != 1 {
		fmt.Println("usage: reuse-sysv SIZE")
		return 2
	}
	size, err := sandbox.ParseSize(args[0])
	if err != nil || size <= 0 {
		fmt.Println("error=want a size")
		return 2
	}
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, int(size), unix.IPC_CREAT|0o600)
	if err == nil {
		var mem []byte
		if mem, err = unix.SysvShmAttach(id, 0, 0); err == nil {
			for i := 0; i < len(mem); i += 4096 {
				mem[i] = 1
			}
			err = unix.SysvShmDetach(mem)
		}
	}
	fmt.Printf("shm=%s\n", errText(err))
	q, err := msgget(unix.IPC_PRIVATE, unix.IPC_CREAT|0o600)
	if err != nil {
		fmt.Printf("msg=%s\n", errText(err))
		return 0
	}
	// struct msgbuf: a long type, then the text.
	msg := make([]byte, 8+1024)
	msg[0] = 1
	n := 0
	for ; n < 1<<16; n++ {
		_, _, e := unix.RawSyscall6(unix.SYS_MSGSND, uintptr(q), uintptr(unsafe.Pointer(&msg[0])), 1024, unix.IPC_NOWAIT, 0, 0)
		if e != 0 {
			break
		}
	}
	fmt.Printf("msg=%d\n", n)
	return 0
}

// reuse-mq fill|try: POSIX message queues are charged to the box's host
// uid (RLIMIT_MSGQUEUE) until the queue goes, which for a queue left in the
// run's IPC namespace is when the kernel frees that namespace. fill makes
// queues of 8 messages of 1 KiB until the limit stops it and exits leaving
// them (prints made=N, stop=ERRNO); try makes one such queue (prints
// mq=ok or mq=ERRNO).
func reuseMQ(args []string) int {
	mustBeBoxed()
	if len(args) != 1 || args[0] != "fill" && args[0] != "try" {
		fmt.Println("usage: reuse-mq fill|try")
		return 2
	}
	open := func(name string) error {
		p, err := unix.BytePtrFromString(name)
		if err != nil {
			return err
		}
		attr := [8]int64{0, 8, 1024}
		r, _, e := unix.RawSyscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDONLY, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
		if e != 0 {
			return e
		}
		unix.Close(int(r))
		return nil
	}
	if args[0] == "try" {
		fmt.Printf("mq=%s\n", errText(open("try")))
		return 0
	}
	n := 0
	for ; n < 1000; n++ {
		if err := open("fill-" + strconv.Itoa(n)); err != nil {
			fmt.Printf("stop=%s\n", errText(err))
			break
		}
	}
	fmt.Printf("made=%d\n", n)
	return 0
}
