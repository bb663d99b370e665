// Package group runs a sandbox.Group: several programs, each in its own box
// of one sandbox.Runner, started together under one wall clock, with pipes
// between their standard streams (an interactor and a solution, a
// pipeline).
//
// Every pipe is relayed by the supervisor: the writer's box gets the write
// end of one kernel pipe, the reader's box the read end of another, and a
// goroutine copies between the two (keeping the first Group.Transcript
// bytes when asked). The supervisor keeps its copy of each box's end until
// that box's run is over, then closes it, so the other side learns of the
// end exactly when the box is gone: a reader gets EOF once the writer's box
// has ended and everything it wrote was read, a writer gets EPIPE once the
// reader's box has ended. A full pipe blocks only its relay goroutine,
// never the supervisor or another box; and every program ends at the
// group's wall limit at the latest, after which nothing is left to wait
// for.
//
// On a Runner that implements sandbox.Reserver (a pool) the group first
// reserves all its boxes, then starts every program; on others (one-shot)
// it starts them straight away.
//
// Do not use it for a single program: call the Runner.
package group
