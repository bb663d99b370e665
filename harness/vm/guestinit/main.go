// Command guestinit is /init of the kernel-matrix VMs (see package
// gosandbox/harness/vm). It moves the initramfs onto a tmpfs (pivot_root,
// which the sandbox needs, does not work on the initial rootfs), mounts the
// pseudo file systems, sets up cgroup v1 or v2 as the plan on the kernel
// command line says, runs the suites and the bench, sends the results over
// the second serial port and powers the VM off.
//
// Called as "true", "false" or "cat" it is those programs instead: the
// initramfs has no other userland, and the suites' boxes run /usr/bin/true
// and /bin/cat.
//
// It is built static (CGO_ENABLED=0) and never runs on a host: as PID 1
// outside a VM it would mount over the host's /sys/fs/cgroup.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/harness/probes"
	"gosandbox/harness/vm"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "true":
		os.Exit(0)
	case "false":
		os.Exit(1)
	case "cat":
		os.Exit(cat(os.Args[1:]))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit: refusing to run: not PID 1 (this is the kernel-matrix VM's /init)")
		os.Exit(2)
	}
	start := time.Now()
	fmt.Println("guestinit: started")
	out := openResults()
	err := run(out, start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "guestinit: %v\n", err)
		out.Fact("error", err.Error())
	}
	out.Fact("guest_seconds", fmt.Sprintf("%.1f", time.Since(start).Seconds()))
	out.Done()
	unix.Sync()
	// -no-reboot turns the restart into qemu's exit; a power-off needs ACPI.
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}

func run(out vm.FrameWriter, start time.Time) error {
	if err := switchRoot(); err != nil {
		return fmt.Errorf("move the root to tmpfs: %w", err)
	}
	if err := mountBasics(); err != nil {
		return err
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	plan, err := vm.PlanFromCmdline(string(cmdline))
	if err != nil {
		return err
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	out.Fact("kernel", unix.ByteSliceToString(uts.Release[:]))
	out.Fact("cmdline", strings.TrimSpace(string(cmdline)))
	out.Fact("boot_seconds", readUptime())
	out.Fact("cgroup", plan.Cgroup)
	if cg, err := os.ReadFile("/proc/cgroups"); err == nil {
		out.File("proc-cgroups.txt", cg)
	}
	controllers, problems := setupCgroups(plan.Cgroup)
	out.Fact("cgroup_controllers", strings.Join(controllers, ","))
	for i, p := range problems {
		out.Fact(fmt.Sprintf("cgroup_problem_%d", i), p)
	}
	if plan.Cgroup == vm.CgroupV1 && len(controllers) == 0 {
		return fmt.Errorf("cgroup v1: no controller could be mounted: %s", strings.Join(problems, "; "))
	}

	// Emulation runs programs several times slower than the host: the
	// suites give programs that much more room (vm.TimeScaleEnv).
	cal := vm.Calibrate("/usr/bin/true")
	scale := vm.TimeScale(cal, plan.HostCalibration)
	out.Fact("calibration_faults_ns", fmt.Sprint(int64(cal.Faults)))
	out.Fact("calibration_compute_ns", fmt.Sprint(int64(cal.Compute)))
	out.Fact("calibration_spawn_ns", fmt.Sprint(int64(cal.Spawn)))
	out.Fact("time_scale", fmt.Sprint(scale))
	fmt.Printf("guestinit: calibration %+v against the host's %+v: time scale %d\n", cal, plan.HostCalibration, scale)

	// GOSANDBOX_CLI: a prebuilt CLI for specs that would build one (there is
	// no Go toolchain in the guest).
	env := []string{"PATH=/usr/bin:/bin", "HOME=/root", "TMPDIR=/tmp", probes.PrebuiltEnv + "=" + vm.GuestProbe, "GOSANDBOX_CLI=" + vm.GuestCLI,
		fmt.Sprintf("%s=%d", vm.TimeScaleEnv, scale)}
	timeout := plan.SuiteTimeout
	if timeout == "" {
		timeout = "10m"
	}
	for _, b := range plan.Backends {
		dir := "/tmp/results-" + b
		args := []string{"--backend=" + b, "--report-dir=" + dir, "-ginkgo.no-color", "-ginkgo.timeout=" + timeout, "-test.timeout=0"}
		if plan.LabelFilter != "" {
			args = append(args, "-ginkgo.label-filter="+plan.LabelFilter)
		}
		t0 := time.Now()
		code := runLogged(env, vm.GuestSuite, args...)
		out.Fact("suite_"+b+"_exit", fmt.Sprint(code))
		out.Fact("suite_"+b+"_seconds", fmt.Sprintf("%.1f", time.Since(t0).Seconds()))
		sendDir(out, dir)
	}
	if plan.BenchArgs != nil {
		args := append([]string{"bench", "--out", "/tmp/bench"}, plan.BenchArgs...)
		t0 := time.Now()
		code := runLogged(env, vm.GuestCLI, args...)
		out.Fact("bench_exit", fmt.Sprint(code))
		out.Fact("bench_seconds", fmt.Sprintf("%.1f", time.Since(t0).Seconds()))
		sendDir(out, "/tmp/bench")
	}
	return nil
}

// switchRoot copies the initramfs into a tmpfs and makes that the root, as
// switch_root does: the initial rootfs cannot be pivoted away from.
func switchRoot() error {
	const newRoot = "/newroot"
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "newroot" {
			continue
		}
		if err := copyTree("/"+e.Name(), filepath.Join(newRoot, e.Name())); err != nil {
			return err
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(newRoot, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// copyTree copies a directory tree of regular files, directories and
// symlinks (all an initramfs of ours holds), keeping modes.
func copyTree(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case st.IsDir():
		if err := os.Mkdir(dst, st.Mode().Perm()); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		return os.Chmod(dst, st.Mode().Perm()|st.Mode()&(os.ModeSticky))
	case !st.Mode().IsRegular():
		return nil // /dev/console and the like: devtmpfs brings its own
	default:
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			return err
		}
		os.Remove(src) // free the rootfs copy as we go
		return os.Chmod(dst, st.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky))
	}
}

func mountBasics() error {
	mounts := []struct{ src, target, fstype, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"tmpfs", "/dev/shm", "tmpfs", "mode=1777"},
		{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666"},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.target, m.fstype, unix.MS_NOSUID, m.data); err != nil && m.fstype != "devpts" {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// setupCgroups mounts the cgroup hierarchy of the mode and returns the
// controllers available, with a note for each that could not be mounted.
func setupCgroups(mode string) (controllers, problems []string) {
	const root = "/sys/fs/cgroup"
	switch mode {
	case vm.CgroupV2:
		if err := unix.Mount("cgroup2", root, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "nsdelegate"); err != nil {
			return nil, []string{fmt.Sprintf("mount cgroup2: %v", err)}
		}
		b, _ := os.ReadFile(root + "/cgroup.controllers")
		return strings.Fields(string(b)), nil
	case vm.CgroupV1:
		if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
			return nil, []string{fmt.Sprintf("mount tmpfs on %s: %v", root, err)}
		}
		for _, name := range v1Controllers() {
			dir := filepath.Join(root, name)
			os.Mkdir(dir, 0o755)
			if err := unix.Mount("cgroup", dir, "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, name); err != nil {
				problems = append(problems, fmt.Sprintf("v1 controller %s: mount: %v", name, err))
				os.Remove(dir)
				continue
			}
			controllers = append(controllers, name)
		}
		return controllers, problems
	default:
		return nil, []string{fmt.Sprintf("unknown cgroup mode %q", mode)}
	}
}

// v1Controllers lists the enabled controllers of /proc/cgroups.
func v1Controllers() []string {
	b, err := os.ReadFile("/proc/cgroups")
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") && f[3] == "1" {
			names = append(names, f[0])
		}
	}
	sort.Strings(names)
	return names
}

// runLogged runs a program with its output on the console and returns its
// exit status (-1 when it could not start).
func runLogged(env []string, prog string, args ...string) int {
	fmt.Printf("guestinit: running %s %s\n", prog, strings.Join(args, " "))
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	cmd.Dir = "/tmp"
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	fmt.Printf("guestinit: %s: %v\n", prog, err)
	return -1
}

// sendDir sends every regular file of dir, gzipped, as NAME.gz.
func sendDir(out vm.FrameWriter, dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		out.Fact("missing_"+filepath.Base(dir), err.Error())
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		if err := out.File(e.Name()+".gz", b.Bytes()); err != nil {
			fmt.Printf("guestinit: send %s: %v\n", e.Name(), err)
		}
	}
}

// openResults opens the results port in raw mode; without it the results
// go to the console, where the host parser finds them too.
func openResults() vm.FrameWriter {
	os.MkdirAll("/dev", 0o755)
	// /dev is not mounted yet: make the node ourselves, then devtmpfs hides it.
	unix.Mknod("/ttyS1", unix.S_IFCHR|0o600, int(unix.Mkdev(4, 65)))
	// O_NONBLOCK: a serial port's open otherwise waits for a carrier that
	// never comes; CLOCAL then makes the port ignore it, and blocking writes
	// are restored so that nothing is dropped.
	fd, err := unix.Open("/ttyS1", unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	os.Remove("/ttyS1")
	if err != nil {
		return vm.FrameWriter{W: os.Stdout}
	}
	if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		t.Cflag |= unix.CLOCAL
		unix.IoctlSetTermios(fd, unix.TCSETS, t)
	}
	unix.SetNonblock(fd, false)
	return vm.FrameWriter{W: os.NewFile(uintptr(fd), "/dev/ttyS1")}
}

func readUptime() string {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// cat copies its files (or stdin) to stdout, as cat(1) does without options.
func cat(files []string) int {
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, name := range files {
		var err error
		if name == "-" {
			_, err = io.Copy(os.Stdout, os.Stdin)
		} else {
			var f *os.File
			if f, err = os.Open(name); err == nil {
				_, err = io.Copy(os.Stdout, f)
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "cat: %v\n", err)
			status = 1
		}
	}
	return status
}
