// Package vm runs the conformance suites and a quick bench on other kernels:
// it fetches Debian kernel packages through a private apt configuration,
// builds an initramfs of static binaries (the suites, the probe, the
// gosandbox CLI and a small /init from ./guestinit), boots each kernel under
// qemu-system-x86_64 (software emulation unless KVM is usable) in cgroup v2
// and, where the kernel has it, cgroup v1 mode, and reads the results back
// from a serial port into out/matrix/<kernel>-<cgroup>/, with a summary in
// out/matrix/matrix.json.
//
// Use it for the kernel matrix (`gosandbox matrix`, `make matrix`). Do not
// use it to run untrusted code: the guest is a test bench with no sandboxing
// of its own beyond what the suites exercise. Real distributions (their own
// userland, systemd, distribution kernels without an initramfs of ours) are
// covered by vagrant/ instead.
package vm
