package seccomp

// The filter's dispatch tree: allowed calls found in a few comparisons.

import (
	"fmt"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// Why a dispatch tree: installing a filter costs the kernel, besides the JIT,
// one emulation of the filter per syscall number and ABI (the action cache,
// which learns which calls the filter allows whatever their arguments). The
// chained policy compares the number against every listed call in turn, so
// that emulation walked some hundred instructions per number and made the
// install several times dearer than the JIT: a cost every program start
// pays. The dispatch tree below decides every call whose answer does not
// depend on its arguments in a handful of comparisons, and sends only the
// few calls with argument tests into the chained policy, which keeps the
// exact semantics of assemble for them.

// callClass is what the policy does with one syscall number: a constant
// return, or "look at the arguments" (toBody).
type callClass struct {
	toBody bool
	ret    uint32
}

// classify maps each syscall number in [0, maxNR] to its class: the action
// of the first group naming it when that group has no argument tests, the
// argument-testing body when it has, allow when no group names it.
func classify(groups []libseccomp.SyscallGroup, a *arch.Info, maxNR uint32) ([]callClass, map[string]bool) {
	classes := make([]callClass, maxNR+1)
	decided := make([]bool, maxNR+1)
	bodyNames := map[string]bool{}
	for _, g := range groups {
		g = keepKnown(g, a)
		for _, n := range g.Names {
			nr := a.SyscallNames[n]
			if nr >= 0 && nr <= int(maxNR) && !decided[nr] {
				decided[nr] = true
				classes[nr] = callClass{ret: uint32(g.Action)}
			}
		}
		for _, n := range g.NamesWithCondtions {
			nr := a.SyscallNames[n.Name]
			if nr >= 0 && nr <= int(maxNR) && !decided[nr] {
				decided[nr] = true
				classes[nr] = callClass{toBody: true}
				bodyNames[n.Name] = true
			}
		}
	}
	for nr := range classes {
		if !decided[nr] {
			classes[nr] = callClass{ret: uint32(libseccomp.ActionAllow)}
		}
	}
	return classes, bodyNames
}

// onlyNames keeps the calls of g that are in names.
func onlyNames(g libseccomp.SyscallGroup, names map[string]bool) libseccomp.SyscallGroup {
	var plain []string
	for _, n := range g.Names {
		if names[n] {
			plain = append(plain, n)
		}
	}
	var withArgs []libseccomp.NameWithConditions
	for _, n := range g.NamesWithCondtions {
		if names[n.Name] {
			withArgs = append(withArgs, n)
		}
	}
	g.Names, g.NamesWithCondtions = plain, withArgs
	return g
}

// run is a range of syscall numbers with one class.
type run struct {
	lo    uint32
	class callClass
}

// dispatch returns the instructions that follow the prologue (which leaves
// the syscall number, at most maxNR, in the accumulator): a binary search
// over the runs of equal class ending in shared returns, then the chained
// policy for the calls that test arguments.
func dispatch(groups []libseccomp.SyscallGroup, a *arch.Info, maxNR uint32) ([]bpf.Instruction, error) {
	classes, bodyNames := classify(groups, a, maxNR)
	var body []bpf.Instruction
	if len(bodyNames) > 0 {
		var bodyGroups []libseccomp.SyscallGroup
		for _, g := range groups {
			bodyGroups = append(bodyGroups, onlyNames(keepKnown(g, a), bodyNames))
		}
		var err error
		if body, err = assemble(bodyGroups, a); err != nil {
			return nil, err
		}
	}

	var runs []run
	for nr, c := range classes {
		if len(runs) == 0 || runs[len(runs)-1].class != c {
			runs = append(runs, run{lo: uint32(nr), class: c})
		}
	}
	// The shared exits, one per distinct class, after the tree.
	var exits []callClass
	exitOf := map[callClass]int{}
	for _, r := range runs {
		if _, ok := exitOf[r.class]; !ok {
			exitOf[r.class] = len(exits)
			exits = append(exits, r.class)
		}
	}

	// The tree: node i splits runs[lo:hi] at runs[mid].lo (A >= that goes
	// right). Nodes are laid out in pre-order, exits right after them.
	type node struct {
		val         uint32
		left, right int // node index, or -1-exit for a leaf
	}
	var nodes []node
	var build func(lo, hi int) int
	build = func(lo, hi int) int {
		if hi-lo == 1 {
			return -1 - exitOf[runs[lo].class]
		}
		mid := (lo + hi) / 2
		i := len(nodes)
		nodes = append(nodes, node{val: runs[mid].lo})
		l := build(lo, mid)
		r := build(mid, hi)
		nodes[i].left, nodes[i].right = l, r
		return i
	}
	root := build(0, len(runs))

	var out []bpf.Instruction
	treeLen := len(nodes)
	if root < 0 {
		treeLen = 1 // a single run: one jump to its exit
	}
	// target turns a node or exit reference into an instruction index.
	target := func(ref int) int {
		if ref >= 0 {
			return ref
		}
		return treeLen + (-1 - ref)
	}
	skip := func(from, ref int) (uint8, error) {
		d := target(ref) - from - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("dispatch tree jump of %d instructions does not fit a BPF jump offset (0-255)", d)
		}
		return uint8(d), nil
	}
	if root < 0 {
		out = append(out, bpf.Jump{Skip: uint32(target(root) - 1)})
	}
	for i, n := range nodes {
		st, err := skip(i, n.right)
		if err != nil {
			return nil, err
		}
		sf, err := skip(i, n.left)
		if err != nil {
			return nil, err
		}
		out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: n.val, SkipTrue: st, SkipFalse: sf})
	}
	bodyAt := treeLen + len(exits)
	for i, e := range exits {
		if e.toBody {
			out = append(out, bpf.Jump{Skip: uint32(bodyAt - (treeLen + i) - 1)})
		} else {
			out = append(out, bpf.RetConstant{Val: e.ret})
		}
	}
	return append(out, body...), nil
}
