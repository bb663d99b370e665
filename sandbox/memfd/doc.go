// Package memfd makes anonymous in-memory files (memfd_create): a job's stdin
// content, a bounded capture of its stdout and stderr, a message body too big
// for one datagram. The data lives in memory (charged to the memory cgroup of
// whoever writes it) and vanishes with the last descriptor; nothing touches
// the disk and nothing is left behind.
//
// Writes to a memfd obey RLIMIT_FSIZE like any regular file, which is what
// bounds a captured stream: a program writing past its output limit gets
// SIGXFSZ instead of filling the host's memory.
//
// Do not use it for data that must survive the process or be seen by name.
package memfd
