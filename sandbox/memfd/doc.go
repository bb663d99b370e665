// Package memfd makes anonymous in-memory files (memfd_create): a job's stdin
// content, a message body too big for one datagram. The data lives in memory
// (charged to the memory cgroup of whoever writes it) and vanishes with the
// last descriptor; nothing touches the disk and nothing is left behind.
// ReadBounded reads one back without trusting its size, so a memfd another
// process filled never becomes a huge buffer here.
//
// Captures of a program's stdout and stderr do not use it: they are bounded
// pipes (workdir.Capture), stopped as soon as they pass the output limit.
//
// Do not use it for data that must survive the process or be seen by name.
package memfd
