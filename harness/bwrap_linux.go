package harness

import (
	"context"
	"encoding/json"
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
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/verdict"
)

// The bwrap backend runs the program under Debian's bubblewrap through its
// command line: an external peer the suites and the benchmarks can hold the
// gosandbox runners against. Limits bubblewrap cannot express come from
// prlimit(1) around it and the wall timer; what neither can express is listed
// in Features.Unsupported.
func init() {
	register("bwrap", openBwrap)
}

type bwrapBackend struct {
	bwrap, prlimit string
	// usrLinks are the merged-/usr symlinks of the host (/bin -> usr/bin),
	// recreated in the box.
	usrLinks map[string]string
	// etcFiles are the few host files under /etc that dynamically linked
	// programs and the alternatives system need, bound read-only.
	etcFiles []string
}

func openBwrap(Options) (Backend, error) {
	bw, err := exec.LookPath("bwrap")
	if err != nil {
		return nil, fmt.Errorf("%w: bwrap: bubblewrap is not installed (apt-get install bubblewrap): %v", ErrUnavailable, err)
	}
	pl, err := exec.LookPath("prlimit")
	if err != nil {
		return nil, fmt.Errorf("%w: bwrap: prlimit (util-linux) is not installed: %v", ErrUnavailable, err)
	}
	b := &bwrapBackend{bwrap: bw, prlimit: pl, usrLinks: map[string]string{}}
	for _, name := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		if target, err := os.Readlink("/" + name); err == nil {
			b.usrLinks["/"+name] = target
		}
	}
	for _, p := range []string{"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime"} {
		if _, err := os.Stat(p); err == nil {
			b.etcFiles = append(b.etcFiles, p)
		}
	}
	// One trial run, so that a host without unprivileged user namespaces
	// fails here with bubblewrap's own message rather than in every spec.
	trial := []string{"--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr"}
	for link, target := range b.usrLinks {
		trial = append(trial, "--symlink", target, link)
	}
	lease, err := hostIDs()
	if err != nil {
		return nil, fmt.Errorf("%w: bwrap: %v", ErrUnavailable, err)
	}
	defer lease.Release()
	cmd := exec.Command(bw, append(trial, "--", "/usr/bin/true")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: credential(lease.UID, lease.GID)}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: bwrap: trial run failed: %v: %s", ErrUnavailable, err, strings.TrimSpace(string(out)))
	}
	return b, nil
}

func (*bwrapBackend) Name() string { return "bwrap" }

func (*bwrapBackend) Features() Features {
	return Features{
		Isolated: true,
		Unsupported: map[string]string{
			"Limits.Memory":  "bwrap has no cgroup: memory is not capped (RLIMIT_AS only when Limits.AddressSpace asks), no memory-limit status, peak from rusage",
			"Limits.CPU":     "bwrap has no cgroup: RLIMIT_CPU counts each process in whole seconds, children are not summed",
			"R2":             "rusage of bwrap: the box's CPU is lost when bwrap's pid 1 is not waited for, and children are not summed",
			"R4":             "the hard RLIMIT_CPU kill is reported as SIGKILL: without accounting it cannot be told from any other kill",
			"R7":             "no cgroup: no peak memory of the box",
			"R12":            "not passed to bwrap",
			"B2":             "bwrap reports a failed execvp as exit status 1 with its message on the program's stderr",
			"Limits.CPUSet":  "not passed to bwrap",
			"Syscalls":       "no seccomp filter is passed to bwrap",
			"Result.Signal":  "bwrap reports a signalled program as exit status 128+N; the backend maps that back, so a program exiting 129..192 looks signalled",
			"exec-error":     "bwrap reports a failed execvp as exit status 1 with its message on the program's stderr",
			"Result.Procs":   "no process accounting",
			"Result.OOM":     "no cgroup, no OOM kill report",
			"Accounting.CPU": "rusage of bwrap: CPU of box processes that were never waited for is lost",
		},
	}
}

func (*bwrapBackend) Close() error { return nil }

func (b *bwrapBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	lim, wd, res, err := peerWorkDir(ctx, "bwrap", spec)
	if res != nil || err != nil {
		return *res, err
	}
	defer wd.Close()
	lease, err := hostIDs()
	if err != nil {
		return failed("bwrap", err), nil
	}
	defer lease.Release() // runs after the wait for the box, deferred below
	uid, gid := lease.UID, lease.GID
	if err := chownTree(wd.path, uid, gid); err != nil {
		return failed("bwrap", err), nil
	}

	files, closeFiles, err := stdioFiles(spec)
	if err != nil {
		return failed("bwrap", err), nil
	}
	defer closeFiles()
	// bwrap reports the box's pid 1 (as a host pid) on this pipe, so that
	// Run can wait for the box to be gone: bwrap itself exits as soon as it
	// learns the program's status, while the rest of the box may still be
	// dying.
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return failed("bwrap", err), nil
	}
	defer statusR.Close()
	files = append(files, statusW.Fd())
	argv := append(b.prlimitArgs(lim), "--json-status-fd", strconv.Itoa(len(files)-1))
	argv = append(argv, b.bwrapArgs(spec, lim, wd.path)...)

	// bwrap hands its own environment to the program; it adds PWD.
	env := sandbox.EnvWithDefaultPath(spec.Env)
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: credential(uid, gid),
			// If this process dies, bwrap dies, and --die-with-parent takes
			// the box down with it.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	start := time.Now()
	// bwrap hands every inherited descriptor to the box, so none may be
	// inherited but the chosen ones. Marking the others close-on-exec keeps
	// any descriptor this process was careless with (or was itself given)
	// out of the box. (Descriptors the Go runtime and standard library
	// create are close-on-exec from the start, so the scan does not race
	// with them.)
	closeOnExecExcept(files)
	pid, err := syscall.ForkExec(b.prlimit, argv, attr)
	statusW.Close()
	boxGone := watchBoxInit(statusR)
	if err != nil {
		facts := verdict.Facts{Limits: lim, Syscalls: spec.Syscalls, Wall: time.Since(start)}
		if errors.Is(err, unix.E2BIG) {
			facts.StartErr = execFailure{err}
		} else {
			facts.StartErr = fmt.Errorf("start %s: %w", b.prlimit, err)
		}
		return finish("bwrap", facts, wd, spec, lim), nil
	}
	// prlimit execs bwrap in the same process; killing it makes the box's
	// init die (--die-with-parent), which empties the pid namespace.
	facts := waitProgram(ctx, pid, start, lim.Wall, func(p int) { unix.Kill(p, unix.SIGKILL) })
	facts.Limits, facts.Syscalls = lim, spec.Syscalls
	boxGone()
	facts.Status = unwrapBwrapStatus(facts.Status)
	facts.OutputExceeded = outputFull(spec, lim)
	return finish("bwrap", facts, wd, spec, lim), nil
}

// boxTeardownWait bounds the wait for a box's pid 1 to be gone after bwrap
// exited; the kernel empties the pid namespace promptly, so reaching it means
// something is stuck, and Run returns rather than hang.
const boxTeardownWait = 10 * time.Second

// watchBoxInit reads bwrap's JSON status stream and holds a pidfd of the
// box's pid 1 as soon as bwrap names it. The returned function waits until
// that process has exited, which the kernel allows only once every other
// process of its pid namespace is gone.
func watchBoxInit(status *os.File) (wait func()) {
	pidfd := make(chan int, 1)
	go func() {
		fd := -1
		defer func() { pidfd <- fd }()
		dec := json.NewDecoder(status)
		for {
			var msg struct {
				ChildPID int `json:"child-pid"`
			}
			if err := dec.Decode(&msg); err != nil {
				return
			}
			if msg.ChildPID > 0 && fd < 0 {
				if f, err := unix.PidfdOpen(msg.ChildPID, 0); err == nil {
					fd = f
				}
			}
		}
	}()
	return func() {
		fd := <-pidfd // the stream ends when bwrap exits
		if fd < 0 {
			return
		}
		defer unix.Close(fd)
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(boxTeardownWait)
		for time.Now().Before(deadline) {
			n, err := unix.Poll(pfd, int(time.Until(deadline).Milliseconds())+1)
			if n > 0 || (err != nil && err != unix.EINTR) {
				return
			}
		}
	}
}

// unwrapBwrapStatus turns bwrap's exit status 128+N for a program killed by
// signal N back into a signalled wait status.
func unwrapBwrapStatus(ws syscall.WaitStatus) syscall.WaitStatus {
	if ws.Exited() {
		if code := ws.ExitStatus(); code > 128 && code <= 128+64 {
			return syscall.WaitStatus(code - 128)
		}
	}
	return ws
}

// prlimitArgs are prlimit(1)'s arguments up to and including the bwrap
// binary: the run's rlimits, set on bwrap and inherited by the box.
func (b *bwrapBackend) prlimitArgs(lim sandbox.Limits) []string {
	names := map[int]string{
		unix.RLIMIT_CPU: "cpu", unix.RLIMIT_FSIZE: "fsize", unix.RLIMIT_STACK: "stack",
		unix.RLIMIT_NOFILE: "nofile", unix.RLIMIT_CORE: "core", unix.RLIMIT_MEMLOCK: "memlock",
		unix.RLIMIT_MSGQUEUE: "msgq", unix.RLIMIT_AS: "as", unix.RLIMIT_NPROC: "nproc",
	}
	args := []string{b.prlimit}
	// Without a cgroup, FromLimits would also cap memory with RLIMIT_AS at
	// Limits.Memory, which Go and Java runtimes cannot start under (they
	// reserve address space far beyond what they use). RLIMIT_AS is set only
	// when asked for (Limits.AddressSpace); processes are capped with
	// RLIMIT_NPROC.
	rls := rlimit.FromLimits(lim, true)
	if lim.Procs > 0 {
		rls = append(rls, rlimit.RLimit{Resource: unix.RLIMIT_NPROC, Limit: unix.Rlimit{Cur: uint64(lim.Procs), Max: uint64(lim.Procs)}})
	}
	for _, rl := range withCPUBackstop(rls) {
		name, ok := names[rl.Resource]
		if !ok {
			continue
		}
		soft, hard := rl.Limit.Cur, rl.Limit.Max
		if rl.Resource == unix.RLIMIT_NPROC && soft != unix.RLIM_INFINITY {
			soft, hard = soft+2, hard+2 // bwrap's monitor and the box's init
		}
		args = append(args, "--"+name+"="+rlimitText(soft)+":"+rlimitText(hard))
	}
	return append(args, "--", b.bwrap)
}

// hostIDs leases the host uid and gid a box runs as (sandbox/hostid, the
// ids gosandbox's own runners use, unique across processes): RLIMIT_NPROC,
// the only process cap bwrap has, counts the processes of a uid, so a
// shared uid would let a fork bomb in one box starve the boxes beside it.
// Unprivileged, the box runs as the harness's own ids. Release the lease
// once the box is gone.
func hostIDs() (*hostid.Lease, error) { return hostid.Acquire() }

// credential switches bwrap to the box's host ids, with no supplementary
// groups; unprivileged, bwrap keeps the harness's ids.
func credential(uid, gid int) *syscall.Credential {
	if !sandbox.HostIsRoot() {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// chownTree gives the work directory and its copy-in files to the box's
// host ids.
func chownTree(root string, uid, gid int) error {
	if !sandbox.HostIsRoot() {
		return nil
	}
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("bwrap: work directory: %w", err)
		}
		return nil
	})
}

func rlimitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// bwrapArgs are bubblewrap's options and the program: every namespace, a
// read-only root of /usr and the declared binds, a fresh /proc, a minimal
// /dev, private /tmp and /dev/shm, the work directory at /w, no
// capabilities, uid and gid 1000.
func (b *bwrapBackend) bwrapArgs(spec sandbox.Spec, lim sandbox.Limits, work string) []string {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	tmpSize := strconv.FormatInt(lim.Tmpfs, 10)
	a := []string{
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--die-with-parent", "--new-session",
		"--uid", strconv.Itoa(sandbox.BoxUID), "--gid", strconv.Itoa(sandbox.BoxGID),
		"--cap-drop", "ALL",
		"--hostname", hostname,
		"--ro-bind", "/usr", "/usr",
	}
	for link, target := range b.usrLinks {
		a = append(a, "--symlink", target, link)
	}
	for _, p := range b.etcFiles {
		a = append(a, "--ro-bind", p, p)
	}
	a = append(a,
		"--proc", "/proc",
		"--tmpfs", "/dev",
	)
	for _, dev := range []string{"null", "zero", "full", "random", "urandom"} {
		a = append(a, "--dev-bind", "/dev/"+dev, "/dev/"+dev)
	}
	a = append(a,
		"--symlink", "/proc/self/fd", "/dev/fd",
		"--symlink", "/proc/self/fd/0", "/dev/stdin",
		"--symlink", "/proc/self/fd/1", "/dev/stdout",
		"--symlink", "/proc/self/fd/2", "/dev/stderr",
		"--size", tmpSize, "--tmpfs", "/dev/shm",
		"--remount-ro", "/dev",
		"--size", tmpSize, "--tmpfs", "/tmp",
		"--bind", work, sandbox.WorkDir,
	)
	for _, bd := range spec.Binds {
		flag := "--ro-bind"
		if bd.Writable {
			flag = "--bind"
		}
		a = append(a, flag, bd.Source, path.Clean(bd.Target))
	}
	a = append(a, "--remount-ro", "/", "--chdir", filepath.Clean(dir), "--")
	return append(a, spec.Args...)
}

// closeOnExecExcept sets close-on-exec on every descriptor of this process
// from 3 up that is not in keep.
func closeOnExecExcept(keep []uintptr) {
	kept := map[int]bool{}
	for _, fd := range keep {
		kept[int(fd)] = true
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 || kept[fd] {
			continue
		}
		unix.CloseOnExec(fd)
	}
}
