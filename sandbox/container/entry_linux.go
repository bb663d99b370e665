package container

// How a run's program enters its container's cgroup: the host's choice, and what it means for the protocol.

import "gosandbox/sandbox/boxcfg"

// A container's programs enter its cgroup in one of boxcfg's ways, the
// choice host and init must agree on. The host picks it when it builds the
// container (Container.entry: boxcfg.EntryJoinsItself through cgroup.procs
// or tasks files the init holds, boxcfg.EntryHostMoves where it cannot, or
// boxcfg.EntryNone without cgroups; a run may fall back to EntryHostMoves,
// Container.runEntry) and tells the init in the conf and, for one run, the
// exec; the init reads the same way back from them (initServer.entry).
// boxcfg.EntryBorn is accepted by the init, but the host never picks it:
// clone3 checks the init's own rights on the group, which it lacks (see
// Builder.build). docs/protocol.md describes the ways on the wire. With
// EntryNone the program stays in the init's cgroup namespace.

// roundTrip reports whether the program waits, before its exec, for the
// host to answer its started message.
func roundTrip(e boxcfg.CgroupEntry) bool { return e == boxcfg.EntryHostMoves }
