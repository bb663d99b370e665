package seccomp

// Program and Default: the policy compiled to BPF for a syscall mode.

import (
	"errors"
	"fmt"
	"sync"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// Program is a compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER).
// It is immutable and safe to share between goroutines and child processes.
type Program struct {
	mode    sandbox.SyscallMode
	filter  []unix.SockFilter
	fprog   unix.SockFprog
	maxNR   uint32 // highest syscall number the policy knows
	denyRet uint32 // what a denied call returns
}

// Fprog returns the filter in the form the kernel takes. The pointer (and the
// instructions it points to) stay valid and unchanged for the life of the
// Program, so a fork child can pass it to seccomp(2) without allocating.
func (p *Program) Fprog() *unix.SockFprog { return &p.fprog }

// Mode is the deny mode the program was compiled for.
func (p *Program) Mode() sandbox.SyscallMode { return p.mode }

// Len is the number of BPF instructions.
func (p *Program) Len() int { return len(p.filter) }

// MaxKnownSyscall is the highest syscall number the policy knows; higher
// numbers fail with ENOSYS.
func (p *Program) MaxKnownSyscall() int { return int(p.maxNR) }

// ErrUnsupportedArch means the policy has no syscall table for this machine.
var ErrUnsupportedArch = errors.New("seccomp: unsupported architecture")

var (
	errnoProgram = sync.OnceValues(func() (*Program, error) { return compile(sandbox.SyscallsErrno) })
	killProgram  = sync.OnceValues(func() (*Program, error) { return compile(sandbox.SyscallsKill) })
)

// Default returns the default policy compiled for mode ("" means
// sandbox.SyscallsErrno). It is compiled once per mode and cached.
func Default(mode sandbox.SyscallMode) (*Program, error) {
	switch mode {
	case "", sandbox.SyscallsErrno:
		return errnoProgram()
	case sandbox.SyscallsKill:
		return killProgram()
	default:
		return nil, fmt.Errorf("seccomp: unknown syscall mode %q", mode)
	}
}

func compile(mode sandbox.SyscallMode) (*Program, error) {
	native, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedArch, err)
	}
	deny := libseccomp.ActionKillProcess
	if mode == sandbox.SyscallsErrno {
		deny = actionErrno(unix.EPERM)
	}
	maxNR := maxSyscall(native)
	body, err := dispatch(groups(deny), native, maxNR)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble %s policy: %w", mode, err)
	}
	insts := append(prologue(native, maxNR), body...)
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble %s policy to BPF: %w", mode, err)
	}
	if len(raw) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: %s policy has %d instructions, the kernel takes %d", mode, len(raw), unix.BPF_MAXINSNS)
	}
	p := &Program{mode: mode, filter: make([]unix.SockFilter, len(raw)), maxNR: maxNR, denyRet: uint32(deny)}
	for i, r := range raw {
		p.filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	p.fprog = unix.SockFprog{Len: uint16(len(p.filter)), Filter: &p.filter[0]}
	return p, nil
}

// seccomp_data offsets (include/uapi/linux/seccomp.h).
const (
	offsetNR   = 0
	offsetArch = 4
)

// x32SyscallBit marks x32-ABI calls on x86_64; they share AUDIT_ARCH_X86_64.
const x32SyscallBit = 0x40000000

// prologue runs before the library's policy and covers what a name-based
// policy cannot say: any other ABI (i386 through int 0x80, x32, arm32
// compat) kills the process in every mode (S4), because its syscall numbers
// mean different calls and would slip past a policy written for the native
// table; and a number above the newest call the policy knows fails with
// ENOSYS (S2), so a newer libc falls back to an older call the policy does
// judge instead of reaching something nobody reviewed.
func prologue(native *arch.Info, maxNR uint32) []bpf.Instruction {
	kill := bpf.RetConstant{Val: uint32(libseccomp.ActionKillProcess)}
	out := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offsetArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(native.ID), SkipTrue: 1},
		kill,
		bpf.LoadAbsolute{Off: offsetNR, Size: 4},
	}
	if native.ID == arch.X86_64.ID {
		// Only [x32 bit, sign bit) reaches the x32 table; other huge
		// numbers (such as -1) are merely unknown.
		out = append(out,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 2},
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 0x80000000, SkipTrue: 1},
			kill,
		)
	}
	return append(out,
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: maxNR, SkipFalse: 1},
		bpf.RetConstant{Val: uint32(actionErrno(unix.ENOSYS))},
	)
}

func maxSyscall(a *arch.Info) uint32 {
	highest := 0
	for nr := range a.SyscallNumbers {
		highest = max(highest, nr)
	}
	return uint32(highest)
}

// chainSentinel ends every piece but the last; assemble turns it into a jump
// to the next piece. The policy itself never returns SECCOMP_RET_TRACE.
const chainSentinel = libseccomp.ActionTrace

// assemble compiles each group as a policy of its own with the library and
// chains the pieces: where a piece would return its default action, control
// falls through to the next piece, which starts by loading the syscall number
// again. Compiling the groups as one library policy is wrong: after a
// syscall's argument tests fail, the library compares the following syscall
// numbers against the last argument word it loaded (the accumulator is never
// reloaded), so personality(ADDR_NO_RANDOMIZE) would slip past a later deny
// group. For the same reason a group with argument tests names one syscall.
func assemble(groups []libseccomp.SyscallGroup, native *arch.Info) ([]bpf.Instruction, error) {
	var out []bpf.Instruction
	for i, g := range groups {
		g = keepKnown(g, native)
		if len(g.Names)+len(g.NamesWithCondtions) == 0 {
			continue
		}
		if err := checkOneConditionalName(g); err != nil {
			return nil, err
		}
		pol := libseccomp.Policy{DefaultAction: chainSentinel, Syscalls: []libseccomp.SyscallGroup{g}}
		piece, err := pol.Assemble()
		if err != nil {
			return nil, fmt.Errorf("group %d: %w", i, err)
		}
		out = append(out, chain(piece)...)
	}
	// Whatever no group matched is allowed.
	return append(out, bpf.RetConstant{Val: uint32(libseccomp.ActionAllow)}), nil
}

// chain rewrites a piece so that returning its default action continues at
// the instruction after the piece instead.
func chain(piece []bpf.Instruction) []bpf.Instruction {
	isSentinel := func(in bpf.Instruction) bool {
		r, ok := in.(bpf.RetConstant)
		return ok && r.Val == uint32(chainSentinel)
	}
	// The final instruction is the default return; jumps aimed at it now land
	// on the first instruction of the next piece.
	if n := len(piece); n > 0 && isSentinel(piece[n-1]) {
		piece = piece[:n-1]
	}
	for i, in := range piece {
		// Copies of the default return that the library inserted for long
		// jumps.
		if isSentinel(in) {
			piece[i] = bpf.Jump{Skip: uint32(len(piece) - 1 - i)}
		}
	}
	return piece
}

func checkOneConditionalName(g libseccomp.SyscallGroup) error {
	if len(g.NamesWithCondtions) == 0 {
		return nil
	}
	name := g.NamesWithCondtions[0].Name
	for _, n := range g.NamesWithCondtions {
		if n.Name != name {
			return fmt.Errorf("group tests the arguments of both %s and %s; split it", name, n.Name)
		}
	}
	if len(g.Names) > 0 {
		return fmt.Errorf("group tests the arguments of %s and also lists %v; split it", name, g.Names)
	}
	return nil
}

// keepKnown drops names the architecture does not have (iopl on arm64,
// say), which the library would reject.
func keepKnown(g libseccomp.SyscallGroup, a *arch.Info) libseccomp.SyscallGroup {
	var names []string
	for _, n := range g.Names {
		if _, ok := a.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	var withArgs []libseccomp.NameWithConditions
	for _, n := range g.NamesWithCondtions {
		if _, ok := a.SyscallNames[n.Name]; ok {
			withArgs = append(withArgs, n)
		}
	}
	g.Names, g.NamesWithCondtions = names, withArgs
	return g
}
