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
