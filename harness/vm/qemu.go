package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ErrNoQemu is returned when qemu-system-x86_64 is not installed.
var ErrNoQemu = errors.New("vm: qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)")

// ErrTimeout is returned when a VM outlives its timeout and is killed.
var ErrTimeout = errors.New("vm: the VM timed out")

// Boot describes one VM run.
type Boot struct {
	Kernel    string        // vmlinuz
	Initramfs string        // gzipped newc cpio
	Append    []string      // extra kernel parameters (the guest plan)
	MemoryMiB int           // default 1536
	CPUs      int           // default 2
	Timeout   time.Duration // the VM is killed after it; default 15m
	Console   string        // file receiving ttyS0 (kernel and suite output)
	Results   string        // file receiving ttyS1 (the framed results)
	// Accel is "tcg" (software emulation, the default: it runs anywhere)
	// or "kvm" (needs a usable /dev/kvm; nested KVM may refuse the host
	// CPU model, as it does on the lab's machines).
	Accel string
}

// QemuPath finds qemu-system-x86_64.
func QemuPath() (string, error) {
	p, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return "", ErrNoQemu
	}
	return p, nil
}

// KVMUsable reports whether /dev/kvm can be opened for reading and writing.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Accelerator resolves Boot.Accel to the accelerator qemu will use.
func Accelerator(accel string) string {
	if accel == "" {
		return "tcg"
	}
	return accel
}

// Args are qemu's arguments for b.
func (b Boot) Args() []string {
	mem, cpus := b.MemoryMiB, b.CPUs
	if mem <= 0 {
		mem = 1536
	}
	if cpus <= 0 {
		cpus = 2
	}
	appendLine := append([]string{"console=" + ConsolePort, "panic=-1", "oops=panic", "loglevel=4", "rdinit=/init"}, b.Append...)
	args := []string{
		"-machine", "q35", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nographic", "-no-reboot", "-nodefaults", "-monitor", "none",
		"-kernel", b.Kernel, "-initrd", b.Initramfs,
		"-append", strings.Join(appendLine, " "),
		"-serial", "file:" + b.Console,
		"-serial", "file:" + b.Results,
		"-device", "virtio-rng-pci",
	}
	switch Accelerator(b.Accel) {
	case "kvm":
		args = append(args, "-accel", "kvm", "-cpu", "host")
	default:
		// max exposes every feature TCG emulates (x86-64-v2 and more), which
		// Go's runtime and newer kernels expect.
		args = append(args, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	return args
}

// Run boots the VM and waits until it powers off, crashes (panic=-1 and
// -no-reboot end qemu) or times out.
func (b Boot) Run(ctx context.Context) error {
	qemu, err := QemuPath()
	if err != nil {
		return err
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, b.Args()...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w after %s", ErrTimeout, timeout)
	}
	if err != nil {
		return fmt.Errorf("vm: qemu: %v: %s", err, strings.TrimSpace(string(out)))
	}
	// qemu exits 0 when something else stops it with a signal.
	if i := strings.Index(string(out), "terminating on signal"); i >= 0 {
		return fmt.Errorf("vm: qemu was stopped from outside: %s", strings.TrimSpace(string(out[i:])))
	}
	return nil
}
