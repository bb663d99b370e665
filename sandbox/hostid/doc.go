// Package hostid hands out the host user and group id a box runs as, one
// distinct id per live box.
//
// The kernel keeps several per-user counters keyed by host uid: inotify
// instances and watches, queued signals (RLIMIT_SIGPENDING), POSIX message
// queue bytes, pipe buffer pages, locked memory, user namespaces. A box
// whose user namespace is owned by root charges root's counters, and boxes
// that share one host id share one budget, so a single box could starve the
// host or its neighbours (property H1). With a lease per box, each box's
// namespace is owned by, and its processes run as, an id nobody else uses:
// it can use up its own share and nothing else.
//
// Leases are unique across every gosandbox process on the host: each holds
// an open-file-description lock on one byte of a shared lock file, which the
// kernel drops when the holder dies, so a killed supervisor leaks nothing.
//
// An unprivileged supervisor can only map its own ids: it gets them, unlocked.
package hostid
