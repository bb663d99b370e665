// Package workdir is the host side of a box's work directory /w: a fresh
// directory per run (a size- and inode-capped tmpfs when the supervisor is
// root, so files the program writes are charged to the box's memory cgroup),
// owned by the box's host id, filled with the run's copy-in files before the
// program starts, read back safely afterwards, and removed without a trace.
//
// Copy-out treats the directory as hostile: the program may have planted
// symlinks, FIFOs, devices, hard links to host files or huge sparse files.
// Nothing is followed, nothing blocks, nothing large is read; each refusal
// comes back as a reason.
//
// The package also holds Capture, a bounded pipe reader for callers that
// collect a program's stdout or stderr in memory (batch jobs), and the way a
// supervisor learns that a capture overflowed (Watch, Watches).
//
// It does not build the box's mount tree (sandbox/mount binds the directory
// at /w) and is not meant for pooled containers, whose /w lives inside the
// container and is reset there.
package workdir
