//go:build linux && !amd64

package forkexec

// No rawVfork on this architecture.

import "syscall"

// haveVfork says whether this architecture has rawVfork: not this one, so
// Runner.Vfork is ignored.
const haveVfork = false

func rawVfork(flags uintptr) (pid uintptr, errno uintptr) { return 0, uintptr(syscall.ENOSYS) }

func rawVfork3(args *cloneArgs, size uintptr) (pid uintptr, errno uintptr) {
	return 0, uintptr(syscall.ENOSYS)
}

func rawCloneIdleReaper(flags, exe, pdeathsig uintptr) (pid uintptr, errno uintptr) {
	return 0, uintptr(syscall.ENOSYS)
}

func rawCloneHolder(flags, hold, pdeathsig uintptr) (pid uintptr, errno uintptr) {
	return 0, uintptr(syscall.ENOSYS)
}
