// Package nsenter runs a function on an OS thread that has entered one of
// a process's per-thread namespaces (IPC, network, ...), and brings the
// thread back: the way to open a file or mount that belongs to a namespace
// no process of ours lives in (a slot's stocked namespaces), without
// moving the rest of the process.
package nsenter
