package sandbox

// The box's uid and gid inside, and the host ids they map to.

import "os"

// The box program runs as BoxUID/BoxGID inside its user namespace, which
// maps exactly that one id to HostBoxUID outside.
const (
	BoxUID = 1000
	BoxGID = 1000
)

// hostBoxIDWhenRoot is the host id a box runs as when the supervisor is root:
// high enough that no distribution allocates it, so a box owns nothing on the
// host and shares no id with a real user.
const hostBoxIDWhenRoot = 1 << 30

// A root supervisor's boxes run as host ids of a range of their own
// (package hostid leases one per box): BoxHostIDCount ids from
// BoxHostIDBase. A file on the host owned by one of them was made by a box.
const (
	BoxHostIDBase  = hostBoxIDWhenRoot
	BoxHostIDCount = 1 << 16
)

// IsBoxHostID reports whether id is in the range root's boxes run as.
func IsBoxHostID(id int) bool { return id >= BoxHostIDBase && id < BoxHostIDBase+BoxHostIDCount }

// HostBoxUID returns the host uid and gid that BoxUID/BoxGID map to. A root
// supervisor maps the box to an unallocated id; an unprivileged one can only
// map its own ids. Host files the box must write (its work directory) are
// chowned to these.
func HostBoxUID() (uid, gid int) {
	if os.Geteuid() == 0 {
		return hostBoxIDWhenRoot, hostBoxIDWhenRoot
	}
	return os.Geteuid(), os.Getegid()
}

// HostIsRoot reports whether the supervisor runs as root, which decides the
// id mapping (setgroups allowed only for root) and whether cgroups and a
// tmpfs work directory are available.
func HostIsRoot() bool { return os.Geteuid() == 0 }
