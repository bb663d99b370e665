// Package verdict turns what a supervisor observed about one run into a
// sandbox.Result: the wait status and rusage of the program, the cgroup's
// accounting when there is one, the limits, and what the supervisor itself
// did (killed the box for CPU, wall time or output, or failed to start it).
//
// It holds the rules every runner must agree on, so that the one-shot runner
// and pooled containers report the same status for the same event: a limit
// status wins over the signal that enforced it, but only when the limit was
// really reached (a CPU total at or over the limit, a file or stream at the
// output limit, the supervisor's own kill), never on a signal alone, since a
// program may raise SIGXCPU or SIGXFSZ itself; a program that cannot be
// started is an exec-error and not an internal-error.
//
// It starts nothing and reads nothing from the system; callers gather the
// facts. Do not use it to decide when to kill: that is the supervisor's job.
package verdict
