// Package tty keeps a box from leaving its mark on a terminal it was handed
// as a standard stream (property H4): the supervisor saves the modes of
// every stream that is a terminal before the run and puts them back after,
// whatever the program did (raw mode, echo off, a changed window size).
// Taking the terminal as the box's controlling terminal is refused by the
// seccomp policy (TIOCSCTTY), and the box runs in a session of its own.
package tty
