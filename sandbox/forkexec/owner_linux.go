package forkexec

// AsOwner: runs a function as the id that owns a box's user namespace.

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// secbitNoSetuidFixup keeps the capability sets when the effective uid
// changes (SECBIT_NO_SETUID_FIXUP).
const secbitNoSetuidFixup = 1 << 2

// AsOwner runs fn on a thread of its own whose real and effective uid and
// gid are uid and gid, with its capabilities kept. A user namespace created
// by fn (clone with CLONE_NEWUSER) is owned by uid: the kernel charges the
// per-user counters of everything inside it (inotify instances, queued
// signals, message queue bytes, locked memory, user namespaces) to uid in
// the parent namespace, not to the caller (property H1).
//
// Only this thread changes, and only for fn: raw setresuid affects the
// calling thread alone, and the goroutine stays locked to it meanwhile, so
// no other Go code runs with these ids. New runtime threads come from the
// runtime's template thread while this one is locked. If the ids cannot be
// restored the thread stays locked, so it ends with the goroutine, and the
// error says so. A uid <= 0, or a caller that is not root (it may only
// own namespaces as itself), runs fn as is.
func AsOwner(uid, gid int, fn func() error) error {
	return asOwner(uid, gid, false, fn)
}

// asOwner is AsOwner; rootFiles keeps the thread's file-system ids root's,
// so that a child cloned meanwhile reaches the host paths it mounts (bind
// sources below directories only root may traverse) until it takes the
// box's ids. Only for children that set all their ids before exec: an exec
// whose file-system gid is not its effective one counts as set-group-ID and
// drops ambient capabilities.
func asOwner(uid, gid int, rootFiles bool, fn func() error) (err error) {
	if uid <= 0 || unix.Geteuid() != 0 {
		return fn()
	}
	runtime.LockOSThread()
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	bits, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_GET_SECUREBITS, 0, 0)
	if e != 0 {
		restored = true
		return fmt.Errorf("forkexec: read securebits: %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_SECUREBITS, bits|secbitNoSetuidFixup, 0); e != 0 {
		restored = true
		return fmt.Errorf("forkexec: keep capabilities across the id change: %w", e)
	}
	restore := func() error {
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, 0, 0, ^uintptr(0)); e != 0 {
			return fmt.Errorf("forkexec: restore uid: %w", e)
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, 0, 0, ^uintptr(0)); e != 0 {
			return fmt.Errorf("forkexec: restore gid: %w", e)
		}
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_SECUREBITS, bits, 0); e != 0 {
			return fmt.Errorf("forkexec: restore securebits: %w", e)
		}
		return nil
	}
	// Real and effective ids both: a child that execs with a real id other
	// than its effective one is treated as set-user-ID, which clears its
	// ambient capabilities. The saved ids stay root's, the way back.
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(gid), uintptr(gid), ^uintptr(0)); e != 0 {
		if rerr := restore(); rerr != nil {
			return rerr
		}
		restored = true
		return fmt.Errorf("forkexec: take owner gid %d: %w", gid, e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), ^uintptr(0)); e != 0 {
		if rerr := restore(); rerr != nil {
			return rerr
		}
		restored = true
		return fmt.Errorf("forkexec: take owner uid %d: %w", uid, e)
	}
	if rootFiles {
		// setfsuid reports the previous value, never an error.
		syscall.RawSyscall(syscall.SYS_SETFSUID, 0, 0, 0)
		syscall.RawSyscall(syscall.SYS_SETFSGID, 0, 0, 0)
	}
	err = fn()
	if rerr := restore(); rerr != nil {
		return rerr // the thread stays locked and dies with the goroutine
	}
	restored = true
	return err
}
