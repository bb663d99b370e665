package forkexec

// The box's pid 1 as a 73-byte static program, executed from a sealed memfd.

import "encoding/binary"

// reaperCode is the box's pid 1 once the program runs, as x86-64 machine
// code (assembled from the listing below with GNU as, then checked with
// objdump). It reaps every child; when pid 2, the program (pid 1's first
// child in a fresh pid namespace), ends, it writes the program's 4-byte
// wait status to descriptor 0 and exits. The kernel then kills whatever is
// left in the namespace.
//
//	loop:	mov  rdi, -1            ; wait4(-1, &status, __WALL, NULL)
//		lea  rsi, [rsp-16]
//		mov  edx, 0x40000000
//		xor  r10d, r10d
//		mov  eax, 61
//		syscall
//		cmp  rax, -4            ; EINTR: again
//		je   loop
//		test rax, rax           ; ECHILD (or any error): nothing left
//		js   done
//		cmp  rax, 2             ; not the program: an orphan, reaped
//		jne  loop
//		xor  edi, edi           ; write(0, &status, 4)
//		lea  rsi, [rsp-16]
//		mov  edx, 4
//		mov  eax, 1
//		syscall
//	done:	xor  edi, edi           ; exit_group(0)
//		mov  eax, 231
//		syscall
//		jmp  done
var reaperCode = []byte{
	0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff,
	0x48, 0x8d, 0x74, 0x24, 0xf0,
	0xba, 0x00, 0x00, 0x00, 0x40,
	0x45, 0x31, 0xd2,
	0xb8, 0x3d, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0x48, 0x83, 0xf8, 0xfc,
	0x74, 0xdf,
	0x48, 0x85, 0xc0,
	0x78, 0x19,
	0x48, 0x83, 0xf8, 0x02,
	0x75, 0xd4,
	0x31, 0xff,
	0x48, 0x8d, 0x74, 0x24, 0xf0,
	0xba, 0x04, 0x00, 0x00, 0x00,
	0xb8, 0x01, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0x31, 0xff,
	0xb8, 0xe7, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0xeb, 0xf5,
}

// idleReaperCode is the box's pid 1 when the program is not its child
// (Runner.ReaperApart): it reaps whatever is reparented to it and waits for
// more, until it is killed. SIGCHLD stays blocked (so the kernel's filter
// for a namespace's first process does not drop it) and is taken with
// rt_sigtimedwait; a SIGCHLD that comes between the wait4 and the wait
// stays pending, so none is missed.
//
//		mov  qword [rsp-8], 1<<16 ; the set {SIGCHLD}
//		xor  edi, edi           ; rt_sigprocmask(SIG_BLOCK, &set, NULL, 8)
//		lea  rsi, [rsp-8]
//		xor  edx, edx
//		mov  r10d, 8
//		mov  eax, 14
//		syscall
//	reap:	mov  rdi, -1            ; wait4(-1, NULL, __WALL|WNOHANG, NULL)
//		xor  esi, esi
//		mov  edx, 0x40000001
//		xor  r10d, r10d
//		mov  eax, 61
//		syscall
//		test rax, rax           ; reaped one: look for more
//		jg   reap
//		lea  rdi, [rsp-8]       ; rt_sigtimedwait(&set, NULL, NULL, 8)
//		xor  esi, esi
//		xor  edx, edx
//		mov  r10d, 8
//		mov  eax, 128
//		syscall
//		jmp  reap
var idleReaperCode = []byte{
	0x48, 0xc7, 0x44, 0x24, 0xf8, 0x00, 0x00, 0x01, 0x00,
	0x31, 0xff,
	0x48, 0x8d, 0x74, 0x24, 0xf8,
	0x31, 0xd2,
	0x41, 0xba, 0x08, 0x00, 0x00, 0x00,
	0xb8, 0x0e, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff,
	0x31, 0xf6,
	0xba, 0x01, 0x00, 0x00, 0x40,
	0x45, 0x31, 0xd2,
	0xb8, 0x3d, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0x48, 0x85, 0xc0,
	0x7f, 0xe3,
	0x48, 0x8d, 0x7c, 0x24, 0xf8,
	0x31, 0xf6,
	0x31, 0xd2,
	0x41, 0xba, 0x08, 0x00, 0x00, 0x00,
	0xb8, 0x80, 0x00, 0x00, 0x00,
	0x0f, 0x05,
	0xeb, 0xcb,
}

// reaperImage is reaperCode as a static ELF executable.
func reaperImage() []byte { return elfImage(reaperCode) }

// idleReaperImage is idleReaperCode as a static ELF executable.
func idleReaperImage() []byte { return elfImage(idleReaperCode) }

// elfImage makes code a static ELF executable: the ELF header, one PT_LOAD
// program header mapping the whole file read-execute at 0x400000, and the
// code, which is the entry point.
func elfImage(code []byte) []byte {
	const (
		base     = 0x400000
		ehdrSize = 64
		phdrSize = 56
	)
	entry := uint64(base + ehdrSize + phdrSize)
	img := make([]byte, ehdrSize+phdrSize, ehdrSize+phdrSize+len(code))
	le := binary.LittleEndian
	copy(img, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */})
	le.PutUint16(img[16:], 2)    // ET_EXEC
	le.PutUint16(img[18:], 0x3e) // EM_X86_64
	le.PutUint32(img[20:], 1)    // EV_CURRENT
	le.PutUint64(img[24:], entry)
	le.PutUint64(img[32:], ehdrSize) // program headers right after this one
	le.PutUint16(img[52:], ehdrSize)
	le.PutUint16(img[54:], phdrSize)
	le.PutUint16(img[56:], 1) // one program header
	ph := img[ehdrSize:]
	total := uint64(ehdrSize + phdrSize + len(code))
	le.PutUint32(ph[0:], 1)       // PT_LOAD
	le.PutUint32(ph[4:], 5)       // PF_R | PF_X
	le.PutUint64(ph[8:], 0)       // from the start of the file
	le.PutUint64(ph[16:], base)   // vaddr
	le.PutUint64(ph[24:], base)   // paddr
	le.PutUint64(ph[32:], total)  // filesz
	le.PutUint64(ph[40:], total)  // memsz
	le.PutUint64(ph[48:], 0x1000) // align
	return append(img, code...)
}
