package boxcfg

// CgroupEntry: how a box's program gets into its cgroup, the one choice every runner makes.

import (
	"golang.org/x/sys/unix"

	"gosandbox/sandbox/forkexec"
)

// CgroupEntry is how a box's program gets into its cgroup before it runs a
// single instruction of its own. Every runner picks one of these per run
// (one-shot and slots on the host, a pooled container's host and init
// together, see sandbox/container) and CgroupWay.Set turns it into the
// child's steps, so the ways cannot drift apart. In every way but
// EntryNone the program's cgroup namespace is rooted at its group.
type CgroupEntry uint8

const (
	// EntryNone: no cgroup to enter; the runner decides the program's
	// cgroup namespace (one-shot and slots: a new one at clone time; a
	// pooled container's program stays in its init's).
	EntryNone CgroupEntry = iota
	// EntryBorn: cgroup v2, the child is cloned into the group's directory
	// (CLONE_INTO_CGROUP) with a cgroup namespace made at clone time. The
	// kernel takes no global lock for it.
	EntryBorn
	// EntryJoinsItself: the child writes itself into the group's files as
	// its first step (on v1 each hierarchy's tasks file: a thread that
	// moves itself skips the kernel's global threadgroup lock), then
	// unshares a cgroup namespace. No supervisor thread enters the group.
	EntryJoinsItself
	// EntryHostMoves: the child waits while the supervisor moves it into
	// the group (forkexec.Runner.SyncFunc), then unshares a cgroup
	// namespace. A round trip, for what the child cannot do itself.
	EntryHostMoves
)

// String names the entry as docs/protocol.md and the comments do.
func (e CgroupEntry) String() string {
	switch e {
	case EntryNone:
		return "none"
	case EntryBorn:
		return "born in it"
	case EntryJoinsItself:
		return "joins itself"
	case EntryHostMoves:
		return "host moves it"
	}
	return "unknown"
}

// CgroupWay is what an entry needs: the group's directory for EntryBorn,
// the files the child writes itself into for EntryJoinsItself, and the
// supervisor's move for EntryHostMoves.
type CgroupWay struct {
	Entry   CgroupEntry
	DirFD   int
	JoinFDs []int
	Move    func(pid int) error
}

// Set makes fe's child enter its cgroup the way w says.
func (w CgroupWay) Set(fe *forkexec.Runner) {
	switch w.Entry {
	case EntryBorn:
		fe.CgroupFD = w.DirFD
		fe.CloneFlags |= unix.CLONE_NEWCGROUP
	case EntryJoinsItself:
		fe.CgroupProcs = w.JoinFDs
		fe.UnshareCgroupAfterSync = true
	case EntryHostMoves:
		fe.SyncFunc = w.Move
		fe.UnshareCgroupAfterSync = true
	}
}
