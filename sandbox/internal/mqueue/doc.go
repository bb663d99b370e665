// Package mqueue empties the POSIX message queues of a run's IPC namespace.
//
// A queue's bytes are charged to the host user that made it until the queue
// goes, and a queue left in an IPC namespace goes only when the kernel frees
// the namespace, in the background some time after its last process (one RCU
// grace period and a work item). A runner that gives a host user to run
// after run (pooled containers, slots) must not let the next run start with
// the last one's bytes still charged: it empties the queues itself (U3).
// Not for namespaces that still have processes: their queues are theirs.
package mqueue
