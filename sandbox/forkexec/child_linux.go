package forkexec

// The child between clone and exec: raw syscalls only, failures reported as (step, index, errno).

import (
	"syscall"
	"unsafe"
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"

	"gosandbox/sandbox/mount"
)

// The runtime's fork hooks, as syscall/exec_linux.go uses them: block
// every signal and stop stack growth around the fork. The child does not
// call the runtime's child hook (syscall.runtime_AfterForkInChild): it
// would set each Go-handled signal to SIG_DFL and unblock the mask, about
// 65 system calls, and the child's signal step (StepSignals) sets every
// disposition to SIG_DFL anyway before it unblocks; until then every
// signal stays blocked, so no Go handler can run in the child.
//
//go:linkname runtime_BeforeFork syscall.runtime_BeforeFork
func runtime_BeforeFork()

//go:linkname runtime_AfterFork syscall.runtime_AfterFork
func runtime_AfterFork()

// runtime_AfterForkInChild is the runtime's child hook, for the namespace
// holders (netns_linux.go), which exit without a signal step.
//
//go:linkname runtime_AfterForkInChild syscall.runtime_AfterForkInChild
func runtime_AfterForkInChild()

// Constant byte strings the child uses.
var (
	dotPath   = [...]byte{'.', 0}
	slashPath = [...]byte{'/', 0}
	emptyPath = [...]byte{0}
	selfPid   = [...]byte{'0'} // in cgroup.procs: the writer
	selfMntNS = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 't', 'h', 'r', 'e', 'a', 'd', '-', 's', 'e', 'l', 'f', '/', 'n', 's', '/', 'm', 'n', 't', 0}
)

const (
	syncAtStart        = -1           // prepared.syncAt: wait before anything else
	syncAfterPivot     = -2           // prepared.syncAt: wait once pivot_root is done
	atFDCWD            = ^uintptr(99) // AT_FDCWD, -100
	linuxCapVersion3   = 0x20080522
	mountAttrSize      = 32 // sizeof(struct mount_attr)
	closeRangeAll      = ^uintptr(0)
	prCapAmbientClrAll = 4
)

// Labels of the child's trace points (see prepared.trace).
const (
	traceStart int64 = iota + 1
	traceSynced
	traceFiles
	traceRootBound
	traceMounted
	traceExec
	traceSetsid
	tracePivoted
	traceDetached
	traceOp = 1000 // + the plan step's index
)

// capHeader and capData are the argument of capset(2), version 3.
type capHeader struct {
	version uint32
	pid     int32
}

type capData struct {
	effective, permitted, inheritable uint32
}

// forkChild clones the child and, in the child, runs the whole setup and
// exec. In the child it makes raw system calls only: no allocation, no
// function that may grow the stack, nothing that takes a lock, because the
// child is a copy of one thread of a multi-threaded runtime. Every loop walks
// data prepared before the fork. It returns in the parent only.
//
//go:noinline
//go:norace
//go:nocheckptr
func forkChild(p *prepared, errFD, syncFD int) (pid int, errno syscall.Errno) {
	var (
		r1, r2    uintptr
		err1      syscall.Errno
		step      Step
		index     int
		i         int
		fd        int
		keep      [5]int // descriptors kept until exec
		nkeep     int
		op        *mount.Op
		attr      [4]uint64 // struct mount_attr
		stfs      unix.Statfs_t
		hdr       capHeader
		data      [2]capData
		rec       errRecord
		sawEACCES bool
		pfd       unix.PollFd
		zeroTime  unix.Timespec
		ntr       int
		dflAction [4]uint64 // struct kernel_sigaction, all zero: SIG_DFL, no flags, empty mask
		emptySet  uint64
	)

	runtime_BeforeFork()
	if p.vfork && p.clearSighand {
		r1, r2 = rawVfork3(&p.vclone3, unsafe.Sizeof(p.vclone3))
		err1 = syscall.Errno(r2)
	} else if p.vfork {
		r1, r2 = rawVfork(p.flags | syscall.CLONE_VM | syscall.CLONE_VFORK | p.shareFiles | uintptr(syscall.SIGCHLD))
		err1 = syscall.Errno(r2)
	} else if p.useClone3 {
		r1, _, err1 = syscall.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&p.clone3)), unsafe.Sizeof(p.clone3), 0)
	} else {
		r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, p.flags|uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	}
	if err1 != 0 || r1 != 0 {
		runtime_AfterFork()
		return int(r1), err1
	}

	// In the child, every signal blocked (runtime_BeforeFork) until
	// StepSignals.
	ntr = traceMark(p, ntr, traceStart)
	if p.cpus != nil {
		step = StepAffinity
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*p.cpus), uintptr(unsafe.Pointer(p.cpus))); err1 != 0 {
			goto fail
		}
	}

	if p.pdeathsig != 0 {
		step = StepPdeathsig
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, p.pdeathsig, 0, 0, 0, 0); err1 != 0 {
			goto fail
		}
		if p.checkPPID {
			r1, _, _ = syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			if r1 != p.ppid {
				// The parent died before the signal was armed.
				syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 1, 0, 0)
			}
		}
	}

	// The run's cgroups (Runner.CgroupProcs) before anything else, so that
	// every later step and the program are accounted there.
	for i = 0; i < len(p.cgroupProcs); i++ {
		step, index = StepJoinCgroup, i
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(p.cgroupProcs[i]), uintptr(unsafe.Pointer(&selfPid[0])), 1); err1 != 0 {
			goto fail
		}
	}
	index = 0
	if p.unshareCg && !p.sync {
		step = StepUnshareCgroup
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWCGROUP, 0, 0); err1 != 0 {
			goto fail
		}
	}

	// A slot (Runner.Slot): every step that needs the host's user namespace
	// first, the slot's user namespace last.
	if p.slot {
		step = StepSetgroups
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); err1 != 0 {
			goto fail
		}
		if !p.slotFresh {
			step = StepEnterMount
			if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.slotMount), syscall.CLONE_NEWNS, 0); err1 != 0 {
				goto fail
			}
		}
		if !p.slotAhead {
			step = StepCopyMount
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWNS, 0, 0); err1 != 0 {
				goto fail
			}
		}
		step = StepStash
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(p.slotStash)), 0, 0); err1 != 0 && !p.slotFresh {
			goto fail
		}
		for i = 0; i < len(p.slotOps); i++ {
			op = &p.slotOps[i]
			index = i
			if step, err1 = mountOp(op, op.BoxTarget, &attr, &stfs); err1 != 0 {
				if op.Optional && (err1 == syscall.ENOENT || err1 == syscall.ENOTDIR) {
					continue
				}
				goto fail
			}
		}
		index = 0
		if p.slotWork > 0 {
			step = StepMoveWork
			if _, _, err1 = syscall.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(p.slotWork), uintptr(unsafe.Pointer(&emptyPath[0])),
				atFDCWD, uintptr(unsafe.Pointer(p.workTarget)), unix.MOVE_MOUNT_F_EMPTY_PATH, 0); err1 != 0 {
				goto fail
			}
		}
		// No kept mount namespace: the plan's tree in the copy, and /w
		// given to the box.
		if p.slotFresh {
			if step, index, err1 = mountTree(p, syncFD, &ntr, &attr, &stfs); err1 != 0 {
				goto fail
			}
			index = 0
			if p.workUID > 0 {
				step = StepChownWork
				if _, _, err1 = syscall.RawSyscall6(syscall.SYS_FCHOWNAT, atFDCWD, uintptr(unsafe.Pointer(p.workTarget)), uintptr(p.workUID), uintptr(p.workGID), 0, 0); err1 != 0 {
					goto fail
				}
			}
		}
		// The child shares the caller's descriptor table (Slot.Held): it
		// leaves the caller a hold on the run's mount namespace and /w,
		// then takes a table of its own before it changes any descriptor.
		if p.holds {
			r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&selfMntNS[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
			if err1 == 0 {
				p.heldMnt = int(r1)
			}
			r1, _, err1 = syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(p.workTarget)), unix.O_PATH|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0, 0, 0)
			if err1 == 0 {
				p.heldWork = int(r1)
			}
			step = StepUnshareFiles
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_FILES, 0, 0); err1 != 0 {
				goto fail
			}
		}
		// The UTS namespace belongs to the host's user namespace.
		if p.hostname != nil {
			step = StepHostname
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(p.hostname)), p.hostLen, 0); err1 != 0 {
				goto fail
			}
		}
		if p.slotIPC > 0 {
			step = StepEnterIPC
			if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.slotIPC), syscall.CLONE_NEWIPC, 0); err1 != 0 {
				goto fail
			}
		}
		step = StepEnterNet
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.slotNet), syscall.CLONE_NEWNET, 0); err1 != 0 {
			goto fail
		}
		step = StepEnterUser
		if _, _, err1 = syscall.RawSyscall(unix.SYS_SETNS, uintptr(p.slotUser), syscall.CLONE_NEWUSER, 0); err1 != 0 {
			goto fail
		}
	}

	// Without a mount plan the child waits for the parent right away;
	// with one it first does the mount steps that need no id map, while
	// the parent writes the maps (see prepared.syncAt).
	if p.sync && p.syncAt == syncAtStart {
		if step, err1 = childSync(p, syncFD); err1 != 0 {
			goto fail
		}
	}

	ntr = traceMark(p, ntr, traceSynced)
	if p.setsid {
		step = StepSetsid
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETSID, 0, 0, 0); err1 != 0 {
			goto fail
		}
	}

	if p.loopback != nil {
		step = StepLoopback
		if err1 = loopbackUp(p.loopback); err1 != 0 {
			goto fail
		}
	}

	ntr = traceMark(p, ntr, traceSetsid)
	// Descriptors. First move the ones we keep (error pipe, exec fd) and any
	// file that a lower slot would overwrite above every slot, then fill the
	// slots, then close everything else.
	step = StepFiles
	fd = p.nextFD
	if errFD < len(p.files) {
		if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(errFD), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
			goto fail
		}
		errFD = int(r1)
		fd = errFD + 1
	}
	if p.sync && syncFD < len(p.files) {
		if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(syncFD), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
			goto fail
		}
		syncFD = int(r1)
		fd = syncFD + 1
	}
	if p.execFD > 0 && p.execFD < len(p.files) {
		if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.execFD), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
			goto fail
		}
		p.execFD = int(r1)
		fd = p.execFD + 1
	}
	if p.reaper && p.reaperStatus < len(p.files) {
		if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.reaperStatus), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
			goto fail
		}
		p.reaperStatus = int(r1)
		fd = p.reaperStatus + 1
	}
	if p.reaper && p.reaperExe >= 0 && p.reaperExe < len(p.files) {
		if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.reaperExe), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
			goto fail
		}
		p.reaperExe = int(r1)
		fd = p.reaperExe + 1
	}
	for i = 0; i < len(p.files); i++ {
		if p.files[i] >= 0 && p.files[i] < i {
			if r1, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(p.files[i]), syscall.F_DUPFD_CLOEXEC, uintptr(fd)); err1 != 0 {
				index = i
				goto fail
			}
			p.files[i] = int(r1)
			fd = int(r1) + 1
		}
	}
	for i = 0; i < len(p.files); i++ {
		index = i
		switch {
		case p.files[i] < 0:
			syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(i), 0, 0)
		case p.files[i] == i:
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(i), syscall.F_SETFD, 0); err1 != 0 {
				goto fail
			}
		default:
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_DUP3, uintptr(p.files[i]), uintptr(i), 0); err1 != 0 {
				goto fail
			}
		}
	}
	index = 0
	// Close everything else except the (at most five) descriptors kept
	// until exec, sorted, with close_range over the gaps.
	step = StepCloseFiles
	nkeep = 0
	keep[nkeep] = errFD
	nkeep++
	if p.sync {
		keep[nkeep] = syncFD
		nkeep++
	}
	if p.execFD > 0 {
		keep[nkeep] = p.execFD
		nkeep++
	}
	if p.reaper {
		keep[nkeep] = p.reaperStatus
		nkeep++
		if p.reaperExe >= 0 {
			keep[nkeep] = p.reaperExe
			nkeep++
		}
	}
	for i = 1; i < nkeep; i++ { // insertion sort
		for fd = i; fd > 0 && keep[fd-1] > keep[fd]; fd-- {
			keep[fd-1], keep[fd] = keep[fd], keep[fd-1]
		}
	}
	if p.closeLoopTo == 0 {
		fd = len(p.files)
		for i = 0; i < nkeep; i++ {
			if keep[i] > fd {
				if _, _, err1 = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(fd), uintptr(keep[i]-1), 0); err1 != 0 {
					goto fail
				}
			}
			fd = keep[i] + 1
		}
		if _, _, err1 = syscall.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(fd), closeRangeAll, 0); err1 != 0 {
			goto fail
		}
	} else {
		// Before Linux 5.9: one close per possible descriptor.
		for fd = len(p.files); fd < p.closeLoopTo; fd++ {
			for i = 0; i < nkeep && keep[i] != fd; i++ {
			}
			if i == nkeep {
				syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
			}
		}
	}

	ntr = traceMark(p, ntr, traceFiles)
	// The mount tree (a Slot with a Mount plan built it above).
	if p.root != nil && !p.slotFresh {
		if step, index, err1 = mountTree(p, syncFD, &ntr, &attr, &stfs); err1 != 0 {
			goto fail
		}
	}

	ntr = traceMark(p, ntr, traceMounted)
	if p.hostname != nil && !p.slot {
		step = StepHostname
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(p.hostname)), p.hostLen, 0); err1 != 0 {
			goto fail
		}
	}

	if p.dir != nil {
		step = StepChdir
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(p.dir)), 0, 0); err1 != 0 {
			goto fail
		}
	}

	// Dispositions the supervisor ignores (SIGHUP under nohup, the signals a
	// container's init ignores) survive fork and exec; the program must start
	// with every signal at its default and none blocked.
	// With CLONE_CLEAR_SIGHAND the kernel did that for every handled
	// signal; only the ones that may be ignored are left.
	step = StepSignals
	if p.clearSighand {
		for i = 0; i < len(p.resetSigs); i++ {
			syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, p.resetSigs[i], uintptr(unsafe.Pointer(&dflAction)), 0, 8, 0, 0)
		}
	} else {
		for i = 1; i <= 64; i++ {
			if i == int(syscall.SIGKILL) || i == int(syscall.SIGSTOP) {
				continue
			}
			syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(i), uintptr(unsafe.Pointer(&dflAction)), 0, 8, 0, 0)
		}
	}
	if _, _, err1 = syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&emptySet)), 0, 8, 0, 0); err1 != 0 {
		goto fail
	}

	step = StepRlimit
	for i = 0; i < len(p.rlimits); i++ {
		index = i
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, uintptr(p.rlimits[i].Resource), uintptr(unsafe.Pointer(&p.rlimits[i].Limit)), 0, 0, 0); err1 != 0 {
			goto fail
		}
	}
	index = 0

	if p.noNewPrivs {
		step = StepNoNewPrivs
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); err1 != 0 {
			goto fail
		}
	}

	// Capabilities and credentials. The bounding set can only be dropped
	// while CAP_SETPCAP is held, setgroups/setresgid/setresuid need
	// CAP_SETGID/CAP_SETUID; the other sets are emptied last.
	if p.dropBounding {
		step = StepDropBounding
		for r2 = 0; r2 <= p.lastCap; r2++ {
			if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_CAPBSET_DROP, r2, 0, 0, 0, 0); err1 != 0 && err1 != syscall.EINVAL {
				index = int(r2)
				goto fail
			}
		}
	}
	if p.gid != -1 {
		if p.setgroups {
			step = StepSetgroups
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); err1 != 0 {
				goto fail
			}
		}
		step = StepSetresgid
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(p.gid), uintptr(p.gid), uintptr(p.gid)); err1 != 0 {
			goto fail
		}
	}
	if p.uid != -1 {
		step = StepSetresuid
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(p.uid), uintptr(p.uid), uintptr(p.uid)); err1 != 0 {
			goto fail
		}
	}
	if p.dropCaps {
		step = StepCapset
		hdr.version = linuxCapVersion3
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err1 != 0 {
			goto fail
		}
		step = StepAmbient
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_CAP_AMBIENT, prCapAmbientClrAll, 0, 0, 0, 0); err1 != 0 && err1 != syscall.EINVAL {
			goto fail
		}
	}

	// Changing credentials cleared the parent-death signal: arm it again,
	// then make sure the parent did not die meanwhile. With a sync pipe the
	// parent holds its end open until our exec, so a hang-up means it died.
	if p.pdeathsig != 0 && (p.uid != -1 || p.gid != -1) {
		step = StepPdeathsig
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, p.pdeathsig, 0, 0, 0, 0); err1 != 0 {
			goto fail
		}
		if p.sync {
			pfd.Fd, pfd.Events, pfd.Revents = int32(syncFD), 0, 0
			r1, _, _ = syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zeroTime)), 0, 0, 0)
			if r1 == 1 && pfd.Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
				syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 1, 0, 0)
			}
		} else if p.checkPPID {
			r1, _, _ = syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
			if r1 != p.ppid {
				syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 1, 0, 0)
			}
		}
	}

	// The program must not be the namespace's pid 1 (Runner.Reaper): this
	// process stays as the reaper, the program goes on as its child. The
	// reaper keeps the parent-death signal armed above; the program needs
	// none, since the namespace dies with its pid 1. The program borrows
	// this process's memory until its exec (vfork) rather than copying its
	// page tables: this process is a copy of the whole supervisor, and a
	// second copy made and torn down per run cost about as much as the
	// floor's whole fork+exec+wait.
	if p.reaper {
		step = StepReaper
		if haveVfork {
			r1, r2 = rawVfork(syscall.CLONE_VM | syscall.CLONE_VFORK | uintptr(syscall.SIGCHLD))
			err1 = syscall.Errno(r2)
		} else {
			r1, _, err1 = syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		}
		if err1 != 0 {
			goto fail
		}
		if r1 != 0 {
			// The program runs (or failed and reported): become the
			// reaper program, or stay the reaper where that fails.
			becomeReaper(p.reaperExe, p.reaperStatus, r1, p.closeLoopTo)
		}
	}

	if p.fprog != nil {
		step = StepSeccomp
		if _, _, err1 = syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(p.fprog)), 0, 0, 0); err1 != 0 {
			goto fail
		}
	}

	ntr = traceMark(p, ntr, traceExec)
	step = StepExecve
	if p.vfork {
		p.execing = 1 // see prepared.execing
	}
	// ETXTBSY: another thread of the supervisor forked while the program
	// file was still open for writing (a concurrent run's copy-in); that
	// child holds the writer until its own exec, so try again shortly.
	for tries := 0; ; tries++ {
		switch {
		case p.execFD > 0:
			_, _, err1 = syscall.RawSyscall6(unix.SYS_EXECVEAT, uintptr(p.execFD), uintptr(unsafe.Pointer(&emptyPath[0])), uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])), unix.AT_EMPTY_PATH, 0)
		case p.argv0 != nil:
			_, _, err1 = syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(p.argv0)), uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
		default:
			// Like execvp: a missing entry moves on, EACCES is remembered,
			// anything else is the answer.
			err1 = syscall.ENOENT
			for i = 0; i < len(p.search); i++ {
				_, _, err1 = syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(p.search[i])), uintptr(unsafe.Pointer(&p.argv[0])), uintptr(unsafe.Pointer(&p.envv[0])))
				if err1 == syscall.EACCES {
					sawEACCES = true
					continue
				}
				if err1 == syscall.ENOENT || err1 == syscall.ENOTDIR || err1 == syscall.ESTALE ||
					err1 == syscall.ENODEV || err1 == syscall.ETIMEDOUT {
					continue
				}
				break
			}
			if sawEACCES && (err1 == syscall.ENOENT || err1 == syscall.ENOTDIR) {
				err1 = syscall.EACCES
			}
		}
		if err1 != syscall.ETXTBSY || tries >= execBusyTries {
			break
		}
		syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&execBusyPause)), 0, 0)
	}

fail:
	if p.vfork {
		p.execing = 0
	}
	rec.step, rec.index, rec.errno = uint32(step), uint32(index), uint32(err1)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(errFD), uintptr(unsafe.Pointer(&rec)), unsafe.Sizeof(rec))
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 127, 0, 0)
	}
}

// mountTree builds the Mount plan's tree: mounts private first so nothing
// propagates either way, then the skeleton bound onto itself as the new
// root, the plan's steps (waiting for the parent at p.syncAt), pivot_root,
// and the root read-only. It returns the failed step, its index and the
// errno. Nosplit, raw system calls only: it runs in the child; attr and
// stfs are the caller's scratch.
//
//go:nosplit
//go:norace
//go:nocheckptr
func mountTree(p *prepared, syncFD int, ntr *int, attr *[4]uint64, stfs *unix.Statfs_t) (step Step, index int, err1 syscall.Errno) {
	var (
		i      int
		op     *mount.Op
		target *byte
		mflags uintptr
	)
	step = StepMountPrivate
	if _, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, uintptr(unsafe.Pointer(&emptyPath[0])), uintptr(unsafe.Pointer(&slashPath[0])), 0, syscall.MS_REC|syscall.MS_PRIVATE, 0, 0); err1 != 0 {
		return step, index, err1
	}
	step = StepBindRoot
	if _, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, uintptr(unsafe.Pointer(p.root)), uintptr(unsafe.Pointer(p.root)), 0, syscall.MS_BIND|syscall.MS_REC, 0, 0); err1 != 0 {
		return step, index, err1
	}
	*ntr = traceMark(p, *ntr, traceRootBound)
	for i = 0; i <= len(p.plan); i++ {
		if i == p.syncAt && p.sync {
			if step, err1 = childSync(p, syncFD); err1 != 0 {
				return step, index, err1
			}
			*ntr = traceMark(p, *ntr, traceSynced)
		}
		// pivot_root before the tail: the steps from p.tail on name
		// paths inside the new root (mount.Plan.Tail).
		if i == p.tail {
			index = 0
			step = StepPivotRoot
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(p.root)), 0, 0); err1 != 0 {
				return step, index, err1
			}
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(&dotPath[0])), uintptr(unsafe.Pointer(&dotPath[0])), 0); err1 != 0 {
				return step, index, err1
			}
			*ntr = traceMark(p, *ntr, tracePivoted)
			step = StepDetachOldRoot
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_UMOUNT2, uintptr(unsafe.Pointer(&dotPath[0])), syscall.MNT_DETACH, 0); err1 != 0 {
				return step, index, err1
			}
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_CHDIR, uintptr(unsafe.Pointer(&slashPath[0])), 0, 0); err1 != 0 {
				return step, index, err1
			}
			*ntr = traceMark(p, *ntr, traceDetached)
			if p.sync && p.syncAt == syncAfterPivot {
				if step, err1 = childSync(p, syncFD); err1 != 0 {
					return step, index, err1
				}
				*ntr = traceMark(p, *ntr, traceSynced)
			}
		}
		if i == len(p.plan) {
			break
		}
		op = &p.plan[i]
		index = i
		target = op.Target
		if i >= p.tail {
			target = op.BoxTarget
		}
		step, err1 = mountOp(op, target, attr, stfs)
		if err1 != 0 {
			if op.Optional && (err1 == syscall.ENOENT || err1 == syscall.ENOTDIR) {
				continue
			}
			return step, index, err1
		}
		*ntr = traceMark(p, *ntr, traceOp+int64(i))
	}
	step = StepRootReadOnly
	attr[0], attr[1], attr[2], attr[3] = mount.RootAttr, 0, 0, 0
	_, _, err1 = syscall.RawSyscall6(unix.SYS_MOUNT_SETATTR, atFDCWD, uintptr(unsafe.Pointer(&slashPath[0])), 0, uintptr(unsafe.Pointer(&attr[0])), mountAttrSize, 0)
	if err1 == syscall.ENOSYS {
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_STATFS, uintptr(unsafe.Pointer(&slashPath[0])), uintptr(unsafe.Pointer(stfs)), 0); err1 == 0 {
			mflags = remountFlags(uint64(stfs.Flags), mount.RootAttr)
			_, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, 0, uintptr(unsafe.Pointer(&slashPath[0])), 0, mflags, 0, 0)
		}
	}
	if err1 != 0 {
		return step, index, err1
	}
	return 0, 0, 0
}

// mountOp takes one step of a mount plan at target. Nosplit, raw system
// calls only: it runs in the child. attr and stfs are the caller's scratch.
//
//go:nosplit
//go:norace
//go:nocheckptr
func mountOp(op *mount.Op, target *byte, attr *[4]uint64, stfs *unix.Statfs_t) (Step, syscall.Errno) {
	var (
		err1   syscall.Errno
		step   Step
		mflags uintptr
	)
	switch op.Kind {
	case mount.OpBind:
		step = StepBind
		_, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, uintptr(unsafe.Pointer(op.Source)), uintptr(unsafe.Pointer(target)), 0, syscall.MS_BIND|syscall.MS_REC, 0, 0)
	case mount.OpMaskFile:
		step = StepMaskFile
		_, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, uintptr(unsafe.Pointer(op.Source)), uintptr(unsafe.Pointer(target)), 0, op.Flags, 0, 0)
	case mount.OpTmpfs, mount.OpMaskDir, mount.OpProc:
		step = StepTmpfs
		if op.Kind == mount.OpMaskDir {
			step = StepMaskDir
		} else if op.Kind == mount.OpProc {
			step = StepProc
		}
		_, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, uintptr(unsafe.Pointer(op.Source)), uintptr(unsafe.Pointer(target)), uintptr(unsafe.Pointer(op.FSType)), op.Flags, uintptr(unsafe.Pointer(op.Data)), 0)
	case mount.OpSetAttr:
		step = StepSetAttr
		attr[0], attr[1], attr[2], attr[3] = op.Attr, 0, 0, 0
		if op.Recursive {
			mflags = unix.AT_RECURSIVE
		}
		_, _, err1 = syscall.RawSyscall6(unix.SYS_MOUNT_SETATTR, atFDCWD, uintptr(unsafe.Pointer(target)), mflags, uintptr(unsafe.Pointer(&attr[0])), mountAttrSize, 0)
		if err1 == syscall.ENOSYS {
			// Before Linux 5.12: remount keeping the locked flags.
			if _, _, err1 = syscall.RawSyscall(syscall.SYS_STATFS, uintptr(unsafe.Pointer(target)), uintptr(unsafe.Pointer(stfs)), 0); err1 == 0 {
				mflags = remountFlags(uint64(stfs.Flags), op.Attr)
				_, _, err1 = syscall.RawSyscall6(syscall.SYS_MOUNT, 0, uintptr(unsafe.Pointer(target)), 0, mflags, 0, 0)
			}
		}
	default:
		err1 = syscall.EINVAL
	}
	return step, err1
}

// traceMark records mark and the monotonic time as the ntr-th entry of
// p.trace, when a benchmark asked for a trace, and returns the next index.
// Nosplit, raw system calls only: it runs in the child.
//
//go:nosplit
//go:norace
func traceMark(p *prepared, ntr int, mark int64) int {
	if p.trace == nil || ntr >= len(p.trace)/2 {
		return ntr
	}
	var ts unix.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0)
	p.trace[2*ntr], p.trace[2*ntr+1] = mark, ts.Sec*1e9+ts.Nsec
	return ntr + 1
}

// childSync is the child's half of the one round trip: the parent writes
// the id maps and places the child in its cgroup, then writes a byte; EOF
// means the parent gave up or died, and the child leaves quietly. Nosplit,
// raw system calls only: it runs in the child.
//
//go:nosplit
//go:norace
func childSync(p *prepared, syncFD int) (Step, syscall.Errno) {
	var (
		buf  [1]byte
		n    uintptr
		err1 syscall.Errno
	)
	for {
		n, _, err1 = syscall.RawSyscall(syscall.SYS_READ, uintptr(syncFD), uintptr(unsafe.Pointer(&buf[0])), 1)
		if err1 != syscall.EINTR {
			break
		}
	}
	if err1 != 0 {
		return StepSync, err1
	}
	if n != 1 {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 1, 0, 0)
	}
	if p.unshareCg {
		if _, _, err1 = syscall.RawSyscall(syscall.SYS_UNSHARE, syscall.CLONE_NEWCGROUP, 0, 0); err1 != 0 {
			return StepUnshareCgroup, err1
		}
	}
	return 0, 0
}

// remountFlags is mount.RemountFlags for the child: it must not grow the
// stack, so it is a small leaf marked nosplit.
//
//go:nosplit
func remountFlags(cur, attr uint64) uintptr {
	f := uint64(syscall.MS_REMOUNT | syscall.MS_BIND)
	f |= cur & (syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOEXEC |
		syscall.MS_SYNCHRONOUS | syscall.MS_MANDLOCK | syscall.MS_NOATIME | syscall.MS_NODIRATIME)
	if cur&unix.ST_RELATIME != 0 {
		f |= syscall.MS_RELATIME
	}
	if attr&unix.MOUNT_ATTR_RDONLY != 0 {
		f |= syscall.MS_RDONLY
	}
	if attr&unix.MOUNT_ATTR_NOSUID != 0 {
		f |= syscall.MS_NOSUID
	}
	if attr&unix.MOUNT_ATTR_NODEV != 0 {
		f |= syscall.MS_NODEV
	}
	if attr&unix.MOUNT_ATTR_NOEXEC != 0 {
		f |= syscall.MS_NOEXEC
	}
	return uintptr(f)
}

// execBusyTries and execBusyPause bound the retries of an exec that found
// its file busy (ETXTBSY): up to about 200 ms in all.
const execBusyTries = 200

var execBusyPause = syscall.Timespec{Nsec: 1_000_000}
