// Package vm runs the conformance suites and a quick bench on other kernels:
// it fetches Debian kernel packages through a private apt configuration,
// builds an initramfs of static binaries (the suites, the probe, the
// gosandbox CLI and a small /init from ./guestinit), boots each kernel under
// qemu-system-x86_64 (software emulation unless KVM is usable) in cgroup v2
// and, where the kernel has it, cgroup v1 mode, and reads the results back
// from a serial port into out/matrix/<kernel>-<cgroup>/, with a summary in
// out/matrix/matrix.json.
//
// Emulation runs programs many times slower than the host, so a CPU or wall
// limit that is room for a program (the 2 s default CPU limit of a spec
// that touches 100 MiB) would end it by slowness alone. A calibration loop
// (page faults on fresh memory, plain integer work, starts of a static
// program; CPU time, fastest of five) runs on the host before the VMs and
// in each guest at boot; the largest guest/host ratio, doubled and rounded
// up to a power of two (at most MaxTimeScale), is the column's time scale.
// The suites get it as GOSANDBOX_TIME_SCALE and multiply such room by it
// (never a limit whose enforcement they check against a figure);
// matrix.json records host_calibration and each column's calibration and
// time_scale.
//
// Use it for the kernel matrix (`gosandbox matrix`, `make matrix`). Do not
// use it to run untrusted code: the guest is a test bench with no sandboxing
// of its own beyond what the suites exercise. Real distributions (their own
// userland, systemd, distribution kernels without an initramfs of ours) are
// covered by vagrant/ instead.
package vm
