package container

// cgroupEntry: how a run's program enters its container's cgroup, one named mode for host and init.

// cgroupEntry is how a program gets into its container's cgroup, the one
// choice host and init must agree on. The host picks it when it builds the
// container (Container.entry; a run may fall back to entryHostMoves,
// Container.runEntry) and tells the init in the conf and, for one run, the
// exec; the init reads the same mode back from them (initServer.entry).
// docs/protocol.md describes the ways on the wire.
type cgroupEntry uint8

const (
	// entryNone: no cgroup; the program stays in the init's cgroup
	// namespace.
	entryNone cgroupEntry = iota
	// entryBorn: cgroup v2, the child is cloned into the group's directory
	// (CLONE_INTO_CGROUP) with a cgroup namespace rooted there. The init
	// accepts it, but the host never picks it: see Builder.build.
	entryBorn
	// entryJoinsItself: the child writes "0" into the group's cgroup.procs
	// files, which the init holds, as its first step, then roots a cgroup
	// namespace there; the init then reports the program's pid, and the
	// host answers nothing.
	entryJoinsItself
	// entryHostMoves: the round trip. The child waits while the init
	// reports its pid; the host writes it into the group and answers
	// proceed, and the child then roots a cgroup namespace there.
	entryHostMoves
)

// roundTrip reports whether the program waits, before its exec, for the
// host to answer its started message.
func (e cgroupEntry) roundTrip() bool { return e == entryHostMoves }
