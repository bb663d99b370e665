package forkexec

// NewNetNS: fresh network namespaces with their loopback up, made by a borrowed-memory holder.

import (
	"fmt"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreq is struct ifreq with the flags member of its union.
type ifreq struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

var loopbackReq = func() ifreq {
	var r ifreq
	copy(r.name[:], "lo")
	return r
}()

// loopbackUp sets IFF_UP on lo of the caller's network namespace. Raw
// system calls only, nosplit: it runs in children between fork and exec.
// ifr is the child's own copy.
//
//go:nosplit
//go:norace
func loopbackUp(ifr *ifreq) syscall.Errno {
	fd, _, err1 := syscall.RawSyscall(syscall.SYS_SOCKET, syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err1 != 0 {
		return err1
	}
	if _, _, err1 = syscall.RawSyscall(syscall.SYS_IOCTL, fd, unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(ifr))); err1 == 0 {
		ifr.flags |= unix.IFF_UP
		_, _, err1 = syscall.RawSyscall(syscall.SYS_IOCTL, fd, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(ifr)))
	}
	syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
	return err1
}

// NewNetNS makes a network namespace for one box ahead of time and returns
// a descriptor of it (see Runner.NetNSFD). Its loopback is up (N4), and it
// is owned by a user namespace of its own, not the host's: the kernel sends
// host device events (uevents) to every network namespace owned by the
// initial user namespace, so a box in one could watch the host's hardware
// (N5). A short-lived child makes both namespaces, raises lo, and holds them
// until the descriptor is open.
func NewNetNS() (int, error) {
	if haveVfork {
		return newNetNSShared()
	}
	var ready, hold [2]int
	if err := unix.Pipe2(ready[:], unix.O_CLOEXEC); err != nil {
		return -1, fmt.Errorf("forkexec: netns pipe: %w", err)
	}
	defer closeFD(&ready[0])
	defer closeFD(&ready[1])
	if err := unix.Pipe2(hold[:], unix.O_CLOEXEC); err != nil {
		return -1, fmt.Errorf("forkexec: netns pipe: %w", err)
	}
	defer closeFD(&hold[0])
	defer closeFD(&hold[1])
	ifr := loopbackReq
	syscall.ForkLock.Lock()
	pid, errno := forkNetNSHolder(ready[1], hold[0], &ifr)
	syscall.ForkLock.Unlock()
	if errno != 0 {
		return -1, fmt.Errorf("forkexec: clone network namespace holder: %w", errno)
	}
	closeFD(&ready[1])
	closeFD(&hold[0])
	defer func() {
		closeFD(&hold[1]) // the holder reads EOF and leaves
		reap(pid)
	}()
	var rec [4]byte
	n, err := readFull(ready[0], rec[:])
	if err != nil || n != len(rec) {
		return -1, fmt.Errorf("forkexec: network namespace holder died (%d bytes, %v)", n, err)
	}
	if e := syscall.Errno(*(*uint32)(unsafe.Pointer(&rec[0]))); e != 0 {
		return -1, fmt.Errorf("forkexec: bring the loopback up: %w", e)
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("forkexec: open the new network namespace: %w", err)
	}
	return fd, nil
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// forkNetNSHolder clones the holder: it raises lo, reports the errno on
// ready, and waits for EOF on hold. Raw system calls only in the child.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkNetNSHolder(ready, hold int, ifr *ifreq) (pid int, errno syscall.Errno) {
	var (
		r1   uintptr
		err1 syscall.Errno
		rec  uint32
		buf  [1]byte
	)
	runtime_BeforeFork()
	r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, syscall.CLONE_NEWUSER|syscall.CLONE_NEWNET|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if err1 != 0 || r1 != 0 {
		runtime_AfterFork()
		return int(r1), err1
	}
	runtime_AfterForkInChild()
	syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	// Keep only the two pipes (as 0 and 1): the holder must not keep other
	// runs' descriptors open, however briefly.
	r1, _, _ = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(ready), syscall.F_DUPFD, 3)
	syscall.RawSyscall(syscall.SYS_DUP3, r1, 0, 0)
	r1, _, _ = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(hold), syscall.F_DUPFD, 3)
	syscall.RawSyscall(syscall.SYS_DUP3, r1, 1, 0)
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 2, closeRangeAll, 0)
	rec = uint32(loopbackUp(ifr))
	syscall.RawSyscall(syscall.SYS_WRITE, 0, uintptr(unsafe.Pointer(&rec)), 4)
	for {
		r1, _, err1 = syscall.RawSyscall(syscall.SYS_READ, 1, uintptr(unsafe.Pointer(&buf[0])), 1)
		if err1 != syscall.EINTR {
			break
		}
	}
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
}

// netnsResult is what the vfork holder leaves in the caller's memory.
type netnsResult struct {
	fd    int32
	errno uint32
	ipcFD int32 // NewRunNamespacesAhead only
	// NewRunNamespacesAhead only: the mount copy, or why it failed.
	mntFD             int32
	mntErrno, mntStep uint32
}

// newNetNSShared is NewNetNS with a child that borrows the caller's memory
// and descriptor table (CLONE_VM, CLONE_VFORK, CLONE_FILES): it raises lo,
// opens its own network namespace (the descriptor lands in the caller's
// table) and exits, so no copy of the caller's page tables is made and
// torn down per namespace, which costs more than the namespace itself in
// a large process.
func newNetNSShared() (int, error) {
	res := netnsResult{fd: -1}
	ifr := loopbackReq
	syscall.ForkLock.Lock()
	pid, errno := vforkNetNS(&res, &ifr)
	syscall.ForkLock.Unlock()
	if errno != 0 {
		return -1, fmt.Errorf("forkexec: clone network namespace holder: %w", errno)
	}
	reap(pid)
	if res.errno != 0 {
		if res.fd >= 0 {
			unix.Close(int(res.fd))
		}
		return -1, fmt.Errorf("forkexec: make a network namespace: %w", syscall.Errno(res.errno))
	}
	return int(res.fd), nil
}

// netnsPath is /proc/thread-self/ns/net for the vfork holder.
var netnsPath = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 't', 'h', 'r', 'e', 'a', 'd', '-', 's', 'e', 'l', 'f', '/', 'n', 's', '/', 'n', 'e', 't', 0}

// vforkNetNS starts the holder. The child runs on the caller's stack while
// the caller is suspended, makes raw system calls only and exits; signals
// stay blocked in it (runtime_BeforeFork), and it runs no runtime code.
//
//go:noinline
//go:norace
//go:nocheckptr
func vforkNetNS(res *netnsResult, ifr *ifreq) (pid int, errno syscall.Errno) {
	var (
		r1, r2 uintptr
		err1   syscall.Errno
	)
	runtime_BeforeFork()
	r1, r2 = rawVfork(syscall.CLONE_VM | syscall.CLONE_VFORK | syscall.CLONE_FILES |
		syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | uintptr(syscall.SIGCHLD))
	if r2 != 0 || r1 != 0 {
		runtime_AfterFork()
		return int(r1), syscall.Errno(r2)
	}
	// In the child.
	if err1 = loopbackUp(ifr); err1 == 0 {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&netnsPath[0])),
			syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		if err1 == 0 {
			res.fd = int32(r1)
		}
	}
	res.errno = uint32(err1)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
	}
}

// NewUserNS makes a user namespace with the given id maps, owned by ownerUID
// and ownerGID (see AsOwner; <= 0: by the caller), and returns a descriptor
// of it. Nothing runs in it: a short-lived child makes it and waits while
// the maps are written. setgroups stays allowed in it (the maps are written
// by root), so a process that enters it can still drop its groups there.
func NewUserNS(ownerUID, ownerGID int, uidMap, gidMap []IDMap) (int, error) {
	var hold [2]int
	if err := unix.Pipe2(hold[:], unix.O_CLOEXEC); err != nil {
		return -1, fmt.Errorf("forkexec: user namespace pipe: %w", err)
	}
	defer closeFD(&hold[0])
	defer closeFD(&hold[1])
	var (
		pid   int
		errno syscall.Errno
	)
	clone := func() error {
		syscall.ForkLock.Lock()
		pid, errno = forkUserNSHolder(hold[0])
		syscall.ForkLock.Unlock()
		return nil
	}
	if err := asOwner(ownerUID, ownerGID, false, clone); err != nil {
		if errno == 0 && pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
		}
		return -1, err
	}
	if errno != 0 {
		return -1, fmt.Errorf("forkexec: clone user namespace holder: %w", errno)
	}
	closeFD(&hold[0])
	defer func() {
		closeFD(&hold[1]) // the holder reads EOF and leaves
		reap(pid)
	}()
	proc := "/proc/" + strconv.Itoa(pid) + "/"
	if err := writeProcFile(proc+"gid_map", formatIDMap(gidMap)); err != nil {
		return -1, fmt.Errorf("forkexec: write gid_map: %w", err)
	}
	if err := writeProcFile(proc+"uid_map", formatIDMap(uidMap)); err != nil {
		return -1, fmt.Errorf("forkexec: write uid_map: %w", err)
	}
	fd, err := unix.Open(proc+"ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("forkexec: open the new user namespace: %w", err)
	}
	return fd, nil
}

// forkUserNSHolder clones the user namespace holder, which waits for EOF on
// hold and exits. Raw system calls only in the child.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkUserNSHolder(hold int) (pid int, errno syscall.Errno) {
	var (
		r1   uintptr
		err1 syscall.Errno
		buf  [1]byte
	)
	runtime_BeforeFork()
	if haveVfork {
		// No copy of the caller's page tables (which costs about as much
		// as a whole fork+exec+wait of a small program here): the child
		// shares the memory and runs a few instructions of its own.
		r1, r2 := rawCloneHolder(syscall.CLONE_NEWUSER|syscall.CLONE_VM|uintptr(syscall.SIGCHLD), uintptr(hold), uintptr(syscall.SIGKILL))
		runtime_AfterFork()
		return int(r1), syscall.Errno(r2)
	}
	r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, syscall.CLONE_NEWUSER|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if err1 != 0 || r1 != 0 {
		runtime_AfterFork()
		return int(r1), err1
	}
	runtime_AfterForkInChild()
	syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	// Keep only the pipe (as 0): no other descriptor of the caller stays
	// open in here, however briefly.
	r1, _, _ = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(hold), syscall.F_DUPFD, 3)
	syscall.RawSyscall(syscall.SYS_DUP3, r1, 0, 0)
	syscall.RawSyscall(unix.SYS_CLOSE_RANGE, 1, closeRangeAll, 0)
	for {
		_, _, err1 = syscall.RawSyscall(syscall.SYS_READ, 0, uintptr(unsafe.Pointer(&buf[0])), 1)
		if err1 != syscall.EINTR {
			break
		}
	}
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 0, 0, 0)
	}
}

// NewNetNSIn makes a network namespace owned by the user namespace userNS
// (an open descriptor; the caller needs CAP_SYS_ADMIN there) with its
// loopback up, and returns a descriptor of it: the stock of a slot
// (Runner.Slot), whose programs then hold no capability over it. Like
// NewNetNS, a child borrowing the caller's memory and descriptor table
// makes it, so no page tables are copied; where that start is missing
// (architectures other than amd64) it fails with ENOSYS.
func NewNetNSIn(userNS int) (int, error) {
	ns, err := newNetNSIn(userNS, false, nil)
	return ns.Net, err
}

// MountsAhead asks NewRunNamespacesAhead for the run's copy of a slot's
// mount namespace.
type MountsAhead struct {
	// MountNS is the slot's mount namespace.
	MountNS int
}

// RunNamespaces are the namespaces of one slot run, made ahead.
type RunNamespaces struct {
	Net, IPC int
	// Mount is the run's private copy of the slot's mount namespace, for
	// Slot.MountMadeAhead; -1 when none was asked for or it could not be
	// made (MountErr).
	Mount    int
	MountErr error
}

// NewRunNamespacesAhead is NewNetNSIn that also makes what else a slot's
// run takes from its stock (Slot.IPCNS, Slot.MountMadeAhead): a fresh IPC
// namespace, owned by the caller's user namespace (as one a clone with
// CLONE_NEWIPC from the caller would be), so its cost (its message queue
// file system and sysctl tables) is paid ahead of the run rather than in
// the child's clone; and, with m set, the run's copy of the slot's
// mount namespace m.MountNS. The same child makes all: the mount copy
// first, from the caller's user namespace (which then owns it, as it owns
// the copy a Slot child makes for itself), so entering the slot's
// namespace and copying it are no part of the run's start. Nothing is
// mounted in the copy: whatever the run mounts is made after the run
// before it ended (U7: a tmpfs's birth time would tell when the stock was
// refilled, that is, when the run before started). The copy goes to one
// run only: nothing else enters it, and its descriptor is the caller's
// alone. A failure of the mount part alone leaves Mount -1 and says why
// in MountErr; the other namespaces are good.
func NewRunNamespacesAhead(userNS int, m *MountsAhead) (RunNamespaces, error) {
	if m == nil {
		return newNetNSIn(userNS, true, nil)
	}
	return newNetNSIn(userNS, true, &aheadPrep{mntNS: m.MountNS})
}

// aheadPrep is what the holder child makes besides the network and IPC
// namespaces: a copy of mntNS.
type aheadPrep struct {
	mntNS int
}

func newNetNSIn(userNS int, ipc bool, ahead *aheadPrep) (RunNamespaces, error) {
	none := RunNamespaces{Net: -1, IPC: -1, Mount: -1}
	if !haveVfork {
		return none, fmt.Errorf("forkexec: network namespace in a user namespace: %w", unix.ENOSYS)
	}
	res := netnsResult{fd: -1, ipcFD: -1, mntFD: -1}
	ifr := loopbackReq
	syscall.ForkLock.Lock()
	pid, errno := vforkNetNSIn(&res, &ifr, userNS, ipc, ahead)
	syscall.ForkLock.Unlock()
	if errno != 0 {
		return none, fmt.Errorf("forkexec: clone network namespace holder: %w", errno)
	}
	reap(pid)
	if res.errno != 0 {
		for _, fd := range []int32{res.fd, res.ipcFD, res.mntFD} {
			if fd >= 0 {
				unix.Close(int(fd))
			}
		}
		return none, fmt.Errorf("forkexec: make a network namespace in a user namespace: %w", syscall.Errno(res.errno))
	}
	ns := RunNamespaces{Net: int(res.fd), IPC: int(res.ipcFD), Mount: int(res.mntFD)}
	if ahead != nil && res.mntErrno != 0 {
		if ns.Mount >= 0 {
			unix.Close(ns.Mount)
			ns.Mount = -1
		}
		ns.MountErr = fmt.Errorf("forkexec: mount namespace made ahead: %s: %w", Step(res.mntStep), syscall.Errno(res.mntErrno))
	}
	return ns, nil
}

// nsDirPath is /proc/thread-self/ns, and netName and mntName names in it,
// for the vfork holder: once it entered a slot's mount namespace, /proc
// there is no proc.
var (
	nsDirPath = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 't', 'h', 'r', 'e', 'a', 'd', '-', 's', 'e', 'l', 'f', '/', 'n', 's', 0}
	netName   = [...]byte{'n', 'e', 't', 0}
	mntName   = [...]byte{'m', 'n', 't', 0}
)

// ipcnsPath is /proc/thread-self/ns/ipc for the vfork holder.
var ipcnsPath = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 't', 'h', 'r', 'e', 'a', 'd', '-', 's', 'e', 'l', 'f', '/', 'n', 's', '/', 'i', 'p', 'c', 0}

// vforkNetNSIn is vforkNetNS entering userNS first: the child has no
// CLONE_FS, so it may; CLONE_FILES puts the descriptors it opens in the
// caller's table. With ipc it first makes an IPC namespace, while it is
// still in the caller's user namespace.
//
//go:noinline
//go:norace
//go:nocheckptr
func vforkNetNSIn(res *netnsResult, ifr *ifreq, userNS int, ipc bool, ahead *aheadPrep) (pid int, errno syscall.Errno) {
	var (
		r1, r2 uintptr
		err1   syscall.Errno
		nsDir  = -1
	)
	runtime_BeforeFork()
	r1, r2 = rawVfork(syscall.CLONE_VM | syscall.CLONE_VFORK | syscall.CLONE_FILES | uintptr(syscall.SIGCHLD))
	if r2 != 0 || r1 != 0 {
		runtime_AfterFork()
		return int(r1), syscall.Errno(r2)
	}
	// In the child.
	if ipc {
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWIPC, 0, 0); err1 == 0 {
			r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&ipcnsPath[0])),
				syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
			if err1 == 0 {
				res.ipcFD = int32(r1)
			}
		}
		if err1 != 0 {
			res.errno = uint32(err1)
			for {
				syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
			}
		}
	}
	// The mount copy before the user namespace: made from the caller's,
	// it belongs to the caller's, as the run child's own copy would.
	if ahead != nil {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&nsDirPath[0])),
			unix.O_PATH|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0, 0, 0)
		if err1 != 0 {
			res.errno = uint32(err1)
			for {
				syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
			}
		}
		nsDir = int(r1)
		mountAhead(res, ahead, nsDir)
	}
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(userNS), syscall.CLONE_NEWUSER, 0); err1 == 0 {
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWNET, 0, 0); err1 == 0 {
			if err1 = loopbackUp(ifr); err1 == 0 {
				if nsDir >= 0 {
					r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(nsDir), uintptr(unsafe.Pointer(&netName[0])),
						syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
				} else {
					r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&netnsPath[0])),
						syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
				}
				if err1 == 0 {
					res.fd = int32(r1)
				}
			}
		}
	}
	if nsDir >= 0 {
		syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(nsDir), 0, 0)
	}
	res.errno = uint32(err1)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
	}
}

// mountAhead makes the holder's private copy of the slot's mount namespace
// and opens it (res.mntFD) through nsDir, the holder's
// /proc/thread-self/ns; a failure goes to res.mntErrno and leaves no
// descriptor. Nosplit, raw system calls only: it runs in the vfork holder.
//
//go:nosplit
//go:norace
//go:nocheckptr
func mountAhead(res *netnsResult, ahead *aheadPrep, nsDir int) {
	var (
		r1   uintptr
		err1 syscall.Errno
		step Step
	)
	step = StepEnterMount
	if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(ahead.mntNS), syscall.CLONE_NEWNS, 0); err1 != 0 {
		goto fail
	}
	step = StepCopyMount
	if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWNS, 0, 0); err1 != 0 {
		goto fail
	}
	step = StepOpenMount
	r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(nsDir), uintptr(unsafe.Pointer(&mntName[0])),
		syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if err1 != 0 {
		goto fail
	}
	res.mntFD = int32(r1)
	return
fail:
	res.mntErrno, res.mntStep = uint32(err1), uint32(step)
}
