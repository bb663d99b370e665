// Package rlimit turns the neutral sandbox.Limits into the setrlimit(2) values
// a sandboxed child applies to itself just before exec.
//
// Resource limits are per process (CPU, file size, stack, descriptors) and are
// inherited across fork and exec, so they are the backstop that works without
// cgroups. They are not a box-wide cap: a program that forks gets a fresh CPU
// allowance per process, so the supervisor still enforces the box total from
// cgroup or rusage figures. Do not use this package to express box-wide memory
// or process caps when cgroups are available; the cgroup package does that.
package rlimit
