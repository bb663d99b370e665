package forkexec

// rawVfork: clone(CLONE_VM|CLONE_VFORK) in assembly, with no Go code in the child.

// haveVfork says whether this architecture has rawVfork.
const haveVfork = true

// rawVfork is clone(2) for CLONE_VM|CLONE_VFORK starts; see the assembly.
//
//go:noescape
func rawVfork(flags uintptr) (pid uintptr, errno uintptr)
