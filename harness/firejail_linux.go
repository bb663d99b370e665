package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// The firejail backend runs the program under firejail (Debian's most common
// application sandbox) through its command line, with the strictest flags its
// manual documents for untrusted programs and no profile: private home, /dev
// and /tmp, no network, its seccomp filter, every capability dropped,
// no_new_privs, the rlimits it has options for. Limits firejail cannot express
// come from prlimit(1) around it and the wall timer; what neither can express
// is listed in Features.Unsupported.
//
// Started by root (as the harness is), firejail ignores --noroot and runs the
// program as host uid 0 with no capabilities and no user namespace. Started
// by any other user, it refuses users without a passwd entry or outside
// /etc/firejail/firejail.users, so the per-run host uids bwrap uses are not
// possible without changing the host's configuration.
func init() {
	register("firejail", openFirejail)
}

// firejailMountPoint is where the run's work directory appears in the box.
// firejail binds only onto a path that exists on the host (a missing one is an
// error it prints before running the program anyway), so Open creates this
// empty directory on the host once and leaves it: other harness processes may
// be running boxes bound onto it.
const firejailMountPoint = sandbox.WorkDir

type firejailBackend struct {
	firejail, prlimit string
	// etcFiles are the few host files under /etc that dynamically linked
	// programs and the alternatives system need (--private-etc keeps only
	// them).
	etcFiles []string
}

func openFirejail(Options) (Backend, error) {
	fj, err := exec.LookPath("firejail")
	if err != nil {
		return nil, fmt.Errorf("%w: firejail: firejail is not installed (apt-get install firejail): %v", ErrUnavailable, err)
	}
	pl, err := exec.LookPath("prlimit")
	if err != nil {
		return nil, fmt.Errorf("%w: firejail: prlimit (util-linux) is not installed: %v", ErrUnavailable, err)
	}
	b := &firejailBackend{firejail: fj, prlimit: pl}
	for _, p := range []string{"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"} {
		if _, err := os.Stat("/etc/" + p); err == nil {
			b.etcFiles = append(b.etcFiles, p)
		}
	}
	if sandbox.HostIsRoot() {
		if err := os.Mkdir(firejailMountPoint, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: firejail: mount point for the work directory: %v", ErrUnavailable, err)
		}
	}
	if fi, err := os.Stat(firejailMountPoint); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%w: firejail: binds only onto existing paths and %s is not a directory on this host (root creates it): %v",
			ErrUnavailable, firejailMountPoint, err)
	}
	// One trial run, so that a host where firejail refuses the user or the
	// flags fails here with firejail's own message rather than in every spec.
	// firejail reports its own refusals with exit status 1 and a message;
	// the trial program exits 42 to be told apart.
	cmd := exec.Command(fj, append(b.strictArgs(), "--", "/bin/sh", "-c", "exit 42")...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 42 {
		return nil, fmt.Errorf("%w: firejail: trial run failed: %v: %s", ErrUnavailable, err, strings.TrimSpace(string(out)))
	}
	return b, nil
}

func (*firejailBackend) Name() string { return "firejail" }

func (*firejailBackend) Features() Features {
	return Features{
		Isolated: true,
		Seccomp:  true, // firejail's own default filter, not the spec's
		Unsupported: map[string]string{
			"Limits.Memory":  "firejail has no memory limit (no cgroup support since 0.9.72): memory is not capped (RLIMIT_AS only when Limits.AddressSpace asks), no memory-limit status, peak from rusage",
			"Limits.CPU":     "firejail has no cgroup: RLIMIT_CPU counts each process in whole seconds, children are not summed",
			"Limits.Tmpfs":   "firejail's private /tmp and /dev/shm are tmpfs mounts without a size option",
			"Limits.Procs":   "started by root, firejail runs the program as host uid 0, which RLIMIT_NPROC (--rlimit-nproc) never applies to: no process cap",
			"R2":             "rusage of firejail: CPU of box processes is lost unless each was waited for, and children are not summed",
			"R4":             "the hard RLIMIT_CPU kill is reported as SIGKILL: without accounting it cannot be told from any other kill",
			"R7":             "no cgroup: no peak memory of the box",
			"R12":            "firejail 0.9.72 has --cpu (affinity) but no quota; the spec's CPU set is not passed",
			"B2":             "firejail reports a failed exec as exit status 127, with bash's message on the program's stderr",
			"Limits.CPUSet":  "not passed to firejail",
			"Syscalls":       "firejail installs its own default seccomp filter (--seccomp); the spec's policy is not passed",
			"Result.Signal":  "firejail reports a signalled program as exit status 128+N; the backend maps that back, so a program exiting 129..192 looks signalled",
			"exec-error":     "firejail reports a failed exec as exit status 127, with bash's message on the program's stderr",
			"Result.Procs":   "no process accounting",
			"Result.OOM":     "no cgroup, no OOM kill report",
			"Accounting.CPU": "rusage of firejail: CPU of box processes that were never waited for is lost",
		},
	}
}

func (*firejailBackend) Close() error { return nil }

func (b *firejailBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if err := spec.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	if err := workdir.CheckCopyIn(spec.CopyIn); err != nil {
		return sandbox.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, fmt.Errorf("firejail: %w", err)
	}
	lim := spec.Limits.WithDefaults()
	if err := checkBindSources(spec.Binds); err != nil {
		return failed("firejail", err), nil
	}
	if err := checkFirejailBindTargets(spec.Binds); err != nil {
		return failed("firejail", err), nil
	}

	d, err := workdir.New(workdir.Options{Size: lim.Tmpfs})
	if err != nil {
		return failed("firejail", err), nil
	}
	wd := &hostWorkDir{path: d.Path(), dir: d}
	defer wd.Close()
	if err := d.CopyIn(spec.CopyIn); err != nil {
		return failed("firejail", err), nil
	}
	// The program runs as host uid 0 without CAP_DAC_OVERRIDE: only what
	// root owns is writable to it.
	if err := chownTree(wd.path, 0, 0); err != nil {
		return failed("firejail", err), nil
	}

	files, closeFiles, err := stdioFiles(spec)
	if err != nil {
		return failed("firejail", err), nil
	}
	defer closeFiles()
	argv := b.prlimitArgs(lim)
	argv = append(argv, b.firejailArgs(spec, lim, wd.path, len(files))...)

	// firejail hands its own environment to the program (adding its own
	// variables).
	env := sandbox.EnvWithDefaultPath(spec.Env)
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			// If this process dies, firejail dies, and its sandbox (which
			// firejail starts with a parent-death signal) with it.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	start := time.Now()
	// --keep-fd keeps only the named descriptors, but a descriptor this
	// process was careless with should not even reach firejail.
	closeOnExecExcept(files)
	pid, err := syscall.ForkExec(b.prlimit, argv, attr)
	if err != nil {
		facts := verdict.Facts{Limits: lim, Syscalls: spec.Syscalls, Wall: time.Since(start),
			StartErr: fmt.Errorf("start %s: %w", b.prlimit, err)}
		return finish("firejail", facts, wd, spec, lim), nil
	}
	// prlimit execs firejail in the same process. Killed, firejail takes its
	// sandbox (the box's pid 1) down by the parent-death signal, which
	// empties the pid namespace; the kill holds a pidfd of that pid 1 first,
	// so that Run returns only once the box is gone.
	var boxInit []int
	facts := waitProgram(ctx, pid, start, lim.Wall, func(p int) {
		boxInit = childPidfds(p)
		unix.Kill(p, unix.SIGKILL)
	})
	facts.Limits, facts.Syscalls = lim, spec.Syscalls
	for _, fd := range boxInit {
		waitPidfd(fd, boxTeardownWait)
		unix.Close(fd)
	}
	facts.Status = unwrapBwrapStatus(facts.Status) // firejail also reports signal N as 128+N
	facts.OutputExceeded = outputFull(spec, lim)
	return finish("firejail", facts, wd, spec, lim), nil
}

// checkFirejailBindTargets refuses binds firejail would drop: it binds only
// onto a path that already exists on the host, and not from under /tmp (which
// its private /tmp hides first); otherwise it prints "invalid bind command,
// directory missing" and runs the program without the bind.
func checkFirejailBindTargets(binds []sandbox.Bind) error {
	for i, bd := range binds {
		target := path.Clean(bd.Target)
		if _, ok := under(filepath.Clean(bd.Source), "/tmp"); ok {
			return fmt.Errorf("bind[%d] %s:%s: firejail cannot bind from under /tmp (its private /tmp hides the source first)", i, bd.Source, bd.Target)
		}
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("bind[%d] %s:%s: firejail binds only onto a path that exists on the host: %w", i, bd.Source, bd.Target, err)
		}
		if strings.Contains(bd.Source, ",") || strings.Contains(target, ",") {
			return fmt.Errorf("bind[%d] %s:%s: firejail's --bind cannot name a path with a comma", i, bd.Source, bd.Target)
		}
	}
	return nil
}

// childPidfds opens pidfds of the children of pid (firejail's sandbox
// process), while pid is still alive so that they cannot have been reaped.
func childPidfds(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var fds []int
	for _, f := range strings.Fields(string(data)) {
		child, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if fd, err := unix.PidfdOpen(child, 0); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// waitPidfd waits until the process of pidfd has exited, at most for limit.
func waitPidfd(fd int, limit time.Duration) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds())+1)
		if n > 0 || (err != nil && err != unix.EINTR) {
			return
		}
	}
}

// firejailRlimitOptions are the rlimits firejail has options for; it sets
// soft and hard limits alike. The others (and RLIMIT_CPU, whose hard limit
// is a backstop above the soft one) are set by prlimit around firejail.
var firejailRlimitOptions = map[int]string{
	unix.RLIMIT_FSIZE: "--rlimit-fsize", unix.RLIMIT_NOFILE: "--rlimit-nofile",
	unix.RLIMIT_NPROC: "--rlimit-nproc", unix.RLIMIT_AS: "--rlimit-as",
	unix.RLIMIT_SIGPENDING: "--rlimit-sigpending",
}

// runRlimits are the run's rlimits, as the bwrap backend sets them.
func runRlimits(lim sandbox.Limits) []rlimit.RLimit {
	rls := rlimit.FromLimits(lim, true)
	if lim.Procs > 0 {
		rls = append(rls, rlimit.RLimit{Resource: unix.RLIMIT_NPROC, Limit: unix.Rlimit{Cur: uint64(lim.Procs), Max: uint64(lim.Procs)}})
	}
	return withCPUBackstop(rls)
}

// prlimitArgs are prlimit(1)'s arguments up to and including the firejail
// binary: the rlimits firejail has no option for, set on firejail and
// inherited by the box.
func (b *firejailBackend) prlimitArgs(lim sandbox.Limits) []string {
	names := map[int]string{
		unix.RLIMIT_CPU: "cpu", unix.RLIMIT_STACK: "stack", unix.RLIMIT_CORE: "core",
		unix.RLIMIT_MEMLOCK: "memlock", unix.RLIMIT_MSGQUEUE: "msgq",
	}
	args := []string{b.prlimit}
	for _, rl := range runRlimits(lim) {
		if name, ok := names[rl.Resource]; ok {
			args = append(args, "--"+name+"="+rlimitText(rl.Limit.Cur)+":"+rlimitText(rl.Limit.Max))
		}
	}
	return append(args, "--", b.firejail)
}

// strictArgs are the options of every run: no profile, and the strictest
// documented flags for an untrusted program.
func (b *firejailBackend) strictArgs() []string {
	a := []string{
		"--noprofile", "--quiet",
		"--private", "--private-dev", "--private-tmp",
		"--private-etc=" + strings.Join(b.etcFiles, ","),
		"--net=none", "--ipc-namespace",
		"--seccomp", "--caps.drop=all", "--nonewprivs", "--noroot",
		"--restrict-namespaces", "--protocol=unix,inet,inet6",
		// The program's status, not that of whichever process ends last,
		// and the box ends with the program: daemons are killed.
		"--deterministic-exit-code", "--deterministic-shutdown",
	}
	if len(b.etcFiles) == 0 {
		a[5] = "--private-etc=none"
	}
	return a
}

// firejailArgs are firejail's options and the program: the strict flags, the
// hostname, the rlimits firejail has options for, the work directory bound at
// /w (the other runs' work directories hidden), the declared binds, a
// read-only root, and the working directory.
func (b *firejailBackend) firejailArgs(spec sandbox.Spec, lim sandbox.Limits, work string, nfiles int) []string {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	a := append(b.strictArgs(), "--hostname="+hostname)
	for _, rl := range runRlimits(lim) {
		if opt, ok := firejailRlimitOptions[rl.Resource]; ok && rl.Limit.Cur != unix.RLIM_INFINITY {
			v := rl.Limit.Cur
			if rl.Resource == unix.RLIMIT_NPROC {
				v += 2 // firejail's monitor and the box's pid 1
			}
			a = append(a, opt+"="+strconv.FormatUint(v, 10))
		}
	}
	if nfiles > 3 {
		keep := make([]string, 0, nfiles-3)
		for fd := 3; fd < nfiles; fd++ {
			keep = append(keep, strconv.Itoa(fd))
		}
		a = append(a, "--keep-fd="+strings.Join(keep, ","))
	}
	a = append(a,
		"--bind="+work+","+sandbox.WorkDir,
		"--blacklist="+filepath.Dir(work),
	)
	for _, bd := range spec.Binds {
		a = append(a, "--bind="+bd.Source+","+path.Clean(bd.Target))
	}
	// A read-only root: the program is host uid 0, and without
	// CAP_DAC_OVERRIDE root still writes every file it owns.
	a = append(a, "--read-only=/", "--read-write="+sandbox.WorkDir)
	for _, bd := range spec.Binds {
		if bd.Writable {
			a = append(a, "--read-write="+path.Clean(bd.Target))
		} else {
			a = append(a, "--read-only="+path.Clean(bd.Target))
		}
	}
	a = append(a, "--private-cwd="+filepath.Clean(dir), "--")
	return append(a, spec.Args...)
}
