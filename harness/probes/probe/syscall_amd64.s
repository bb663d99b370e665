#include "textflag.h"

// func int80(trap uintptr) (r uintptr)
//
// Makes a system call through the i386 gate (int 0x80) from a 64-bit
// process: the foreign-ABI path a filter written for x86_64 numbers must
// block (S4). Only the number is passed; the calls used take no arguments.
TEXT ·int80(SB),NOSPLIT,$0-16
	MOVQ trap+0(FP), AX
	INT $0x80
	MOVQ AX, r+8(FP)
	RET
