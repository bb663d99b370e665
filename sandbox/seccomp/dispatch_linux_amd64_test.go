package seccomp

// Tests that the dispatching filter decides as the chained policy does.

import (
	"math/rand"
	"testing"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// TestDispatchMatchesTheChainedPolicy runs the installed program (dispatch
// tree first) and the plain chained policy side by side in the BPF
// simulator, for every syscall number the policy knows and a few past it,
// with arguments that hit every argument test and random ones: they must
// always agree.
func TestDispatchMatchesTheChainedPolicy(t *testing.T) {
	native, err := arch.GetInfo("")
	if err != nil {
		t.Skip(err)
	}
	argSets := [][6]uint64{{}}
	for _, v := range append(append([]uint64(nil), allowedPersonalities...),
		unix.CLONE_NEWUSER|uint64(unix.SIGCHLD), unix.CLONE_NEWNET|1<<40, uint64(unix.SIGCHLD), unix.CLONE_NEWTIME, unix.CLONE_FILES,
		unix.AF_PACKET, unix.AF_VSOCK, 1<<32|unix.AF_VSOCK, unix.AF_INET, unix.AF_PACKET|8, 0x0040000) {
		argSets = append(argSets, [6]uint64{v})
	}
	for _, v := range []uint64{unix.TIOCSTI, unix.TIOCLINUX, unix.TCGETS, 1<<63 | unix.TIOCSTI, unix.TIOCSTI | 8} {
		argSets = append(argSets, [6]uint64{0, v})
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 16; i++ {
		var a [6]uint64
		for j := range a {
			a[j] = rng.Uint64() >> uint(rng.Intn(64))
		}
		argSets = append(argSets, a)
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
		got, err := bpf.NewVM(insts)
		if err != nil {
			t.Fatal(err)
		}
		deny := libseccomp.Action(p.denyRet)
		chained, err := assemble(groups(deny), native)
		if err != nil {
			t.Fatal(err)
		}
		want, err := bpf.NewVM(append(prologue(native, p.maxNR), chained...))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d instructions, the chained policy alone %d", mode, p.Len(), len(prologue(native, p.maxNR))+len(chained))
		nrs := []uint32{0xffffffff, x32SyscallBit, x32SyscallBit | 1, 0x7fffffff}
		for nr := uint32(0); nr <= p.maxNR+3; nr++ {
			nrs = append(nrs, nr)
		}
		for _, nr := range nrs {
			for _, args := range argSets {
				c := call{arch: uint32(native.ID), nr: nr, args: args}
				g, err1 := got.Run(c.encode())
				w, err2 := want.Run(c.encode())
				if err1 != nil || err2 != nil || g != w {
					t.Fatalf("%s: nr %d args %#x: dispatched %#x (%v), chained %#x (%v)", mode, nr, args, g, err1, w, err2)
				}
			}
		}
	}
}
