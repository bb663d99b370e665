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

// reaperImage is reaperCode as a static ELF executable: the ELF header,
// one PT_LOAD program header mapping the whole file read-execute at
// 0x400000, and the code, which is the entry point.
func reaperImage() []byte {
	const (
		base     = 0x400000
		ehdrSize = 64
		phdrSize = 56
	)
	entry := uint64(base + ehdrSize + phdrSize)
	img := make([]byte, ehdrSize+phdrSize, ehdrSize+phdrSize+len(reaperCode))
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
	total := uint64(ehdrSize + phdrSize + len(reaperCode))
	le.PutUint32(ph[0:], 1)       // PT_LOAD
	le.PutUint32(ph[4:], 5)       // PF_R | PF_X
	le.PutUint64(ph[8:], 0)       // from the start of the file
	le.PutUint64(ph[16:], base)   // vaddr
	le.PutUint64(ph[24:], base)   // paddr
	le.PutUint64(ph[32:], total)  // filesz
	le.PutUint64(ph[40:], total)  // memsz
	le.PutUint64(ph[48:], 0x1000) // align
	return append(img, reaperCode...)
}
