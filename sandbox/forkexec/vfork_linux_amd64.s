#include "textflag.h"

// func rawVfork(flags uintptr) (pid uintptr, errno uintptr)
//
// clone(flags, 0, 0, 0, 0) for flags holding CLONE_VM|CLONE_VFORK: the child
// runs on the caller's stack while the caller is suspended. The child will
// call functions, and each call overwrites the stack slot below the caller's
// frame that holds our return address. So the address is taken off the stack
// into R12 (a register: each task has its own copy) before the system call
// and put back afterwards, by the child and, once the child has exec'd or
// exited, by the parent.
TEXT ·rawVfork(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ	flags+0(FP), DI
	XORQ	SI, SI		// new stack: none, share ours
	XORQ	DX, DX		// parent_tid
	XORQ	R10, R10	// child_tid
	XORQ	R8, R8		// tls
	MOVQ	$56, AX		// SYS_clone on amd64
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JCC	failed		// unsigned >=: -4095..-1 is an errno
	MOVQ	AX, pid+8(FP)
	MOVQ	$0, errno+16(FP)
	RET
failed:
	NEGQ	AX
	MOVQ	AX, errno+16(FP)
	MOVQ	$0, pid+8(FP)
	RET

// func rawCloneIdleReaper(flags, exe, pdeathsig uintptr) (pid uintptr, errno uintptr)
//
// clone(flags, stack) for the box's pid 1 of Runner.ReaperApart: flags hold
// CLONE_VM without CLONE_VFORK, so the caller goes on at once while the
// child, which shares its memory until its exec, runs the code below on
// registers alone (its stack pointer names idleReaperStack, which nothing
// writes: it calls nothing and every signal is blocked). The child arms its
// parent-death signal, makes exe its descriptor 0 (close-on-exec), closes
// every other descriptor and executes exe; if that fails it exits with 127.
TEXT ·rawCloneIdleReaper(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	exe+8(FP), R12
	MOVQ	pdeathsig+16(FP), R13
	MOVQ	flags+0(FP), DI
	LEAQ	·idleReaperStack+256(SB), SI
	XORQ	DX, DX		// parent_tid
	XORQ	R10, R10	// child_tid
	XORQ	R8, R8		// tls
	MOVQ	$56, AX		// SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JCC	cfailed
	MOVQ	AX, pid+24(FP)
	MOVQ	$0, errno+32(FP)
	RET
cfailed:
	NEGQ	AX
	MOVQ	AX, errno+32(FP)
	MOVQ	$0, pid+24(FP)
	RET
child:
	MOVQ	$157, AX	// prctl(PR_SET_PDEATHSIG, pdeathsig)
	MOVQ	$1, DI
	MOVQ	R13, SI
	SYSCALL
	MOVQ	$292, AX	// dup3(exe, 0, O_CLOEXEC)
	MOVQ	R12, DI
	XORQ	SI, SI
	MOVQ	$0x80000, DX
	SYSCALL
	MOVQ	$436, AX	// close_range(1, ~0U, 0)
	MOVQ	$1, DI
	MOVQ	$0xffffffff, SI
	XORQ	DX, DX
	SYSCALL
	MOVQ	$322, AX	// execveat(0, "", argv, envp, AT_EMPTY_PATH)
	XORQ	DI, DI
	LEAQ	·emptyPath(SB), SI
	LEAQ	·reaperArgv(SB), DX
	LEAQ	·reaperEnvp(SB), R10
	MOVQ	$0x1000, R8
	SYSCALL
exit:
	MOVQ	$231, AX	// exit_group(127)
	MOVQ	$127, DI
	SYSCALL
	JMP	exit

// func rawCloneHolder(flags, hold, pdeathsig uintptr) (pid uintptr, errno uintptr)
//
// clone(flags, stack) for a namespace holder (NewUserNS): flags hold
// CLONE_VM without CLONE_VFORK, so no page tables are copied and the caller
// goes on at once. The child runs the code below on registers alone (see
// rawCloneIdleReaper): it arms its parent-death signal, keeps only hold (as
// descriptor 0), reads it until EOF and exits.
TEXT ·rawCloneHolder(SB),NOSPLIT|NOFRAME,$0-40
	MOVQ	hold+8(FP), R12
	MOVQ	pdeathsig+16(FP), R13
	MOVQ	flags+0(FP), DI
	LEAQ	·idleReaperStack+256(SB), SI
	XORQ	DX, DX		// parent_tid
	XORQ	R10, R10	// child_tid
	XORQ	R8, R8		// tls
	MOVQ	$56, AX		// SYS_clone
	SYSCALL
	CMPQ	AX, $0
	JEQ	hchild
	CMPQ	AX, $0xfffffffffffff001
	JCC	hfailed
	MOVQ	AX, pid+24(FP)
	MOVQ	$0, errno+32(FP)
	RET
hfailed:
	NEGQ	AX
	MOVQ	AX, errno+32(FP)
	MOVQ	$0, pid+24(FP)
	RET
hchild:
	MOVQ	$157, AX	// prctl(PR_SET_PDEATHSIG, pdeathsig)
	MOVQ	$1, DI
	MOVQ	R13, SI
	SYSCALL
	MOVQ	$292, AX	// dup3(hold, 0, 0)
	MOVQ	R12, DI
	XORQ	SI, SI
	XORQ	DX, DX
	SYSCALL
	MOVQ	$436, AX	// close_range(1, ~0U, 0)
	MOVQ	$1, DI
	MOVQ	$0xffffffff, SI
	XORQ	DX, DX
	SYSCALL
hread:
	XORQ	AX, AX		// read(0, holderBuf, 1)
	XORQ	DI, DI
	LEAQ	·holderBuf(SB), SI
	MOVQ	$1, DX
	SYSCALL
	CMPQ	AX, $-4		// EINTR: again
	JEQ	hread
hexit:
	MOVQ	$231, AX	// exit_group(0)
	XORQ	DI, DI
	SYSCALL
	JMP	hexit

// func rawVfork3(args *cloneArgs, size uintptr) (pid uintptr, errno uintptr)
//
// clone3(args, size) for args.flags holding CLONE_VM|CLONE_VFORK and no
// stack: rawVfork through clone3, for the flags only clone3 takes
// (CLONE_CLEAR_SIGHAND). The return address is kept in R12 across the call
// as in rawVfork.
TEXT ·rawVfork3(SB),NOSPLIT|NOFRAME,$0-32
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	$435, AX	// SYS_clone3 on amd64
	POPQ	R12
	SYSCALL
	PUSHQ	R12
	CMPQ	AX, $0xfffffffffffff001
	JCC	failed3
	MOVQ	AX, pid+16(FP)
	MOVQ	$0, errno+24(FP)
	RET
failed3:
	NEGQ	AX
	MOVQ	AX, errno+24(FP)
	MOVQ	$0, pid+16(FP)
	RET
