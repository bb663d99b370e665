// Tests of the policy's decision for each syscall (the table uses x86_64 syscall numbers).

package seccomp

import (
	"encoding/binary"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// call is one seccomp_data record for the BPF simulator.
type call struct {
	arch uint32
	nr   uint32
	args [6]uint64
}

// encode lays out seccomp_data the way the kernel does on this (little-endian)
// machine, but stores each 32-bit word big-endian, because the x/net/bpf
// simulator loads words in network order while the filter was built for
// native-order offsets.
func (c call) encode() []byte {
	buf := make([]byte, 64)
	put := func(off int, v uint32) { binary.BigEndian.PutUint32(buf[off:], v) }
	put(0, c.nr)
	put(4, c.arch)
	for i, a := range c.args {
		put(16+8*i, uint32(a))
		put(16+8*i+4, uint32(a>>32))
	}
	return buf
}

func TestPolicyDecisions(t *testing.T) {
	native := uint32(arch.X86_64.ID)
	sys := func(nr uintptr, args ...uint64) call {
		c := call{arch: native, nr: uint32(nr)}
		copy(c.args[:], args)
		return c
	}
	const (
		allow  = uint32(libseccomp.ActionAllow)
		kill   = uint32(libseccomp.ActionKillProcess)
		enosys = uint32(libseccomp.ActionErrno) | uint32(unix.ENOSYS)
		eperm  = uint32(libseccomp.ActionErrno) | uint32(unix.EPERM)
		deny   = 0xdead // placeholder: the mode's deny action
	)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
	cases := []struct {
		name string
		c    call
		want uint32
	}{
		{"getpid", sys(unix.SYS_GETPID), allow},
		{"read", sys(unix.SYS_READ, 0), allow},
		{"execve", sys(unix.SYS_EXECVE), allow},
		{"keyctl", sys(unix.SYS_KEYCTL, 1), deny},
		{"mount", sys(unix.SYS_MOUNT), deny},
		{"setns", sys(unix.SYS_SETNS), deny},
		{"ptrace", sys(unix.SYS_PTRACE), deny},
		{"bpf", sys(unix.SYS_BPF), deny},
		{"io_uring_setup", sys(unix.SYS_IO_URING_SETUP), deny},
		{"open_by_handle_at", sys(unix.SYS_OPEN_BY_HANDLE_AT), deny},
		{"iopl", sys(unix.SYS_IOPL), deny},
		{"fork-like clone", sys(unix.SYS_CLONE, uint64(unix.SIGCHLD)), allow},
		{"thread clone", sys(unix.SYS_CLONE, threadFlags), allow},
		{"clone newuser", sys(unix.SYS_CLONE, unix.CLONE_NEWUSER|uint64(unix.SIGCHLD)), deny},
		{"clone newns", sys(unix.SYS_CLONE, unix.CLONE_NEWNS), deny},
		{"clone parent", sys(unix.SYS_CLONE, unix.CLONE_PARENT|uint64(unix.SIGCHLD)), deny},
		{"clone newnet high bits", sys(unix.SYS_CLONE, 1<<40|unix.CLONE_NEWNET), deny},
		{"clone3", sys(unix.SYS_CLONE3), enosys},
		{"unshare files", sys(unix.SYS_UNSHARE, unix.CLONE_FILES), allow},
		{"unshare uts", sys(unix.SYS_UNSHARE, unix.CLONE_NEWUTS), deny},
		{"unshare time", sys(unix.SYS_UNSHARE, unix.CLONE_NEWTIME), deny},
		{"socket inet", sys(unix.SYS_SOCKET, unix.AF_INET), allow},
		{"socket unix", sys(unix.SYS_SOCKET, unix.AF_UNIX), allow},
		{"socket netlink", sys(unix.SYS_SOCKET, unix.AF_NETLINK), allow},
		{"socket packet", sys(unix.SYS_SOCKET, unix.AF_PACKET), deny},
		{"socket vsock", sys(unix.SYS_SOCKET, unix.AF_VSOCK), deny},
		{"socket vsock high bits", sys(unix.SYS_SOCKET, 1<<32|unix.AF_VSOCK), deny},
		{"socket packet|8", sys(unix.SYS_SOCKET, unix.AF_PACKET|8), allow},
		{"ioctl tcgets", sys(unix.SYS_IOCTL, 0, unix.TCGETS), allow},
		{"ioctl tiocsti", sys(unix.SYS_IOCTL, 0, unix.TIOCSTI), deny},
		{"ioctl tiocsctty", sys(unix.SYS_IOCTL, 0, unix.TIOCSCTTY), deny},
		{"ioctl tiocsti high bits", sys(unix.SYS_IOCTL, 0, 1<<63|unix.TIOCSTI), deny},
		{"personality default", sys(unix.SYS_PERSONALITY, 0), allow},
		{"personality query", sys(unix.SYS_PERSONALITY, 0xffffffff), allow},
		{"personality no-aslr", sys(unix.SYS_PERSONALITY, 0x0040000), deny},
		{"newest known", sys(466), allow},
		{"unknown 1000", sys(1000), enosys},
		{"minus one", sys(0xffffffff), enosys},
		{"x32 getpid", sys(x32SyscallBit | unix.SYS_GETPID), kill},
		{"i386", call{arch: uint32(arch.I386.ID), nr: 20}, kill},
		{"aarch64", call{arch: uint32(arch.AARCH64.ID), nr: 172}, kill},
	}
	for _, mode := range []sandbox.SyscallMode{sandbox.SyscallsErrno, sandbox.SyscallsKill} {
		p, err := Default(mode)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]bpf.RawInstruction, len(p.filter))
		for i, f := range p.filter {
			raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
		}
		insts, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%s: program does not disassemble", mode)
		}
		vm, err := bpf.NewVM(insts)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		denyAction := kill
		if mode == sandbox.SyscallsErrno {
			denyAction = eperm
		}
		for _, tc := range cases {
			want := tc.want
			if want == deny {
				want = denyAction
			}
			got, err := vm.Run(tc.c.encode())
			if err != nil {
				t.Fatalf("%s %s: %v", mode, tc.name, err)
			}
			if uint32(got) != want {
				t.Errorf("%s %s: got %#x, want %#x", mode, tc.name, got, want)
			}
		}
	}
}
