package forkexec

// rawVfork: clone(CLONE_VM|CLONE_VFORK) in assembly, with no Go code in the child.

// haveVfork says whether this architecture has rawVfork.
const haveVfork = true

// rawVfork is clone(2) for CLONE_VM|CLONE_VFORK starts; see the assembly.
//
//go:noescape
func rawVfork(flags uintptr) (pid uintptr, errno uintptr)

// rawVfork3 is clone3(2) for CLONE_VM|CLONE_VFORK starts without a stack;
// see the assembly.
//
//go:noescape
func rawVfork3(args *cloneArgs, size uintptr) (pid uintptr, errno uintptr)

// rawCloneIdleReaper starts the box's pid 1 of Runner.ReaperApart; see the
// assembly.
//
//go:noescape
func rawCloneIdleReaper(flags, exe, pdeathsig uintptr) (pid uintptr, errno uintptr)

// idleReaperStack is the stack pointer of rawCloneIdleReaper's child, which
// never writes to it.
var idleReaperStack [256]byte

// rawCloneHolder starts a namespace holder with CLONE_VM; see the assembly.
//
//go:noescape
func rawCloneHolder(flags, hold, pdeathsig uintptr) (pid uintptr, errno uintptr)

// holderBuf is where rawCloneHolder's child reads into; it only ever sees
// EOF.
var holderBuf [8]byte
