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
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/verdict"
)

// The firejail backend runs the program under firejail (Debian's most common
// application sandbox) the way its users do: firejail is set-user-ID root and
// is started by an ordinary user, here the run's leased host uid
// (sandbox/hostid), with the strictest flags its manual documents for an
// untrusted program and no profile: the run's directory as a private home,
// private /dev and /tmp, no network, its seccomp filter, every capability
// dropped, no_new_privs, --noroot (a user namespace), the rlimits it has
// options for. Limits firejail cannot express come from prlimit(1) around it
// and the wall timer; what neither can express is listed in
// Features.Unsupported.
//
// Three things a firejail user has that a leased box id has not are staged
// by the harness in a mount namespace of its own, made per run and seen only
// by that run's firejail (nothing of it reaches the host; it ends with the
// run): an account (a passwd and group entry whose home is /w; firejail
// refuses a uid without one), a home directory at /w owned by the uid (the
// run's work directory), and the spec's declared binds at their targets
// (firejail's --bind is root-only). The staged root mirrors the host's root
// entry by entry (recursive binds), so apart from those paths firejail sees
// exactly the host.
func init() {
	register("firejail", openFirejail)
}

// firejailStage is where each run's staged root is mounted, inside that run's
// own mount namespace; on the host it stays an empty directory, shared by
// every run and every gosandbox process (like sandbox/hostid's lock file).
const firejailStage = "/run/gosandbox/firejail-root"

// firejailHostState is the project's host state (other boxes' work
// directories, skeletons, leases), hidden from the box with --blacklist.
const firejailHostState = "/run/gosandbox"

type firejailBackend struct {
	firejail, prlimit string
	// etcFiles are the few host files under /etc that dynamically linked
	// programs and the alternatives system need (--private-etc keeps only
	// them).
	etcFiles []string
	// passwd and group are the host's account files; each run appends the
	// entry of its leased uid.
	passwd, group []byte
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
	if !sandbox.HostIsRoot() {
		return nil, fmt.Errorf("%w: firejail: the harness must be root to start firejail as a leased box uid with an account and a home at /w", ErrUnavailable)
	}
	b := &firejailBackend{firejail: fj, prlimit: pl}
	for _, p := range []string{"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"} {
		if _, err := os.Stat("/etc/" + p); err == nil {
			b.etcFiles = append(b.etcFiles, p)
		}
	}
	if b.passwd, err = os.ReadFile("/etc/passwd"); err != nil {
		return nil, fmt.Errorf("%w: firejail: %v", ErrUnavailable, err)
	}
	if b.group, err = os.ReadFile("/etc/group"); err != nil {
		return nil, fmt.Errorf("%w: firejail: %v", ErrUnavailable, err)
	}
	if err := os.MkdirAll(firejailStage, 0o755); err != nil {
		return nil, fmt.Errorf("%w: firejail: staging directory: %v", ErrUnavailable, err)
	}
	// One trial run, so that a host where firejail refuses the user or the
	// flags fails here with firejail's own message rather than in every
	// spec. firejail reports its own refusals with exit status 1 and a
	// message; the trial program exits 42 to be told apart, and checks that
	// it runs as its unprivileged host uid.
	var stderr strings.Builder
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: firejail: %v", ErrUnavailable, err)
	}
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := errR.Read(buf)
			if stderr.Len() < 1<<16 {
				stderr.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		errR.Close()
		close(done)
	}()
	res, err := b.Run(context.Background(), sandbox.Spec{
		Args:   []string{"/bin/sh", "-c", `test "$(id -u)" != 0 && test "$(pwd)" = /w && exit 42`},
		Stderr: errW,
	})
	errW.Close()
	<-done
	if err != nil || res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 42 {
		return nil, fmt.Errorf("%w: firejail: trial run failed: %v %s %d %s: %s",
			ErrUnavailable, err, res.Status, res.ExitCode, res.Message, strings.TrimSpace(stderr.String()))
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
			"R2":             "rusage of firejail: CPU of box processes is lost unless each was waited for, and children are not summed",
			"R4":             "the hard RLIMIT_CPU kill is reported as SIGKILL: without accounting it cannot be told from any other kill",
			"R7":             "no cgroup: no peak memory of the box",
			"R12":            "firejail 0.9.72 has --cpu (affinity) but no quota; the spec's CPU set is not passed",
			"B2":             "firejail reports a missing program as its own error, exit status 1 (\"no suitable ... executable found\"); a file in no known format goes to execvp's /bin/sh fallback (exit status 126 or 127)",
			"Limits.CPUSet":  "not passed to firejail",
			"Syscalls":       "firejail installs its own default seccomp filter (--seccomp); the spec's policy is not passed",
			"Result.Signal":  "firejail reports a signalled program as exit status 128+N; the backend maps that back, so a program exiting 129..192 looks signalled",
			"exec-error":     "firejail reports a missing program as its own error, exit status 1 (\"no suitable ... executable found\"); a file in no known format goes to execvp's /bin/sh fallback (exit status 126 or 127)",
			"Limits.Stack":   "firejail is set-user-ID root: on its exec the kernel lowers a soft RLIMIT_STACK above 8 MiB to 8 MiB, and firejail has no option to raise it again",
			"Result.Procs":   "no process accounting",
			"Result.OOM":     "no cgroup, no OOM kill report",
			"Accounting.CPU": "rusage of firejail: CPU of box processes that were never waited for is lost",
		},
	}
}

func (*firejailBackend) Close() error { return nil }

func (b *firejailBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	lim, wd, res, err := peerWorkDir(ctx, "firejail", spec)
	if res != nil || err != nil {
		return *res, err
	}
	defer wd.Close()
	if err := checkFirejailBinds(spec.Binds); err != nil {
		return failed("firejail", err), nil
	}
	lease, err := hostIDs()
	if err != nil {
		return failed("firejail", err), nil
	}
	defer lease.Release() // runs after the wait for the box, deferred below
	if err := chownTree(wd.path, lease.UID, lease.GID); err != nil {
		return failed("firejail", err), nil
	}
	account := b.account(lease.UID, lease.GID)

	files, closeFiles, err := stdioFiles(spec)
	if err != nil {
		return failed("firejail", err), nil
	}
	defer closeFiles()
	argv := b.prlimitArgs(lim)
	argv = append(argv, b.firejailArgs(spec, lim, wd.path, len(files))...)

	// firejail hands its own environment to the program (adding its own
	// variables).
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   sandbox.EnvWithDefaultPath(spec.Env),
		Files: files,
		Sys: &syscall.SysProcAttr{
			Credential: credential(lease.UID, lease.GID),
			// Cleared by the kernel when prlimit execs the set-user-ID
			// firejail: nothing ties firejail to this process's life.
			Pdeathsig: syscall.SIGKILL,
		},
	}

	// The staged mount namespace belongs to one OS thread (never the main
	// one), which forks firejail and waits for it; the runtime ends the
	// thread, and with it the namespace, when the run is over.
	var facts verdict.Facts
	forkexec.OnOwnThread(func() {
		facts = b.stageAndRun(ctx, spec, lim, wd.path, account, argv, attr, files)
	})
	facts.Limits, facts.Syscalls = lim, spec.Syscalls
	facts.Status = unwrapBwrapStatus(facts.Status) // firejail also reports signal N as 128+N
	facts.OutputExceeded = outputFull(spec, lim)
	return finish("firejail", facts, wd, spec, lim), nil
}

// stageAndRun runs on a locked OS thread: it stages the run's root in a new
// mount namespace of this thread, starts prlimit (which execs firejail) from
// it, and waits until firejail and its box are gone.
func (b *firejailBackend) stageAndRun(ctx context.Context, spec sandbox.Spec, lim sandbox.Limits, work string,
	account *firejailAccount, argv []string, attr *syscall.ProcAttr, files []uintptr) verdict.Facts {
	start := time.Now()
	if err := stageFirejailRoot(work, account, spec.Binds); err != nil {
		return verdict.Facts{Wall: time.Since(start), StartErr: err}
	}
	// --keep-fd keeps only the named descriptors, but a descriptor this
	// process was careless with should not even reach firejail.
	closeOnExecExcept(files)
	pid, err := syscall.ForkExec(b.prlimit, argv, attr)
	if err != nil {
		facts := verdict.Facts{Wall: time.Since(start)}
		if errors.Is(err, unix.E2BIG) {
			facts.StartErr = execFailure{err}
		} else {
			facts.StartErr = fmt.Errorf("start %s: %w", b.prlimit, err)
		}
		return facts
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
	for _, fd := range boxInit {
		waitPidfd(fd, boxTeardownWait)
		unix.Close(fd)
	}
	return facts
}

// firejailAccount is the passwd and group files firejail reads in the staged
// root: the host's, plus the leased uid's entry.
type firejailAccount struct{ passwd, group []byte }

// account gives the leased uid an account: a name, its group, /w as its home
// and /bin/sh as its shell.
func (b *firejailBackend) account(uid, gid int) *firejailAccount {
	name := fmt.Sprintf("gosandbox-%d", uid)
	return &firejailAccount{
		passwd: appendLine(b.passwd, fmt.Sprintf("%s:x:%d:%d:gosandbox box:%s:/bin/sh", name, uid, gid, sandbox.WorkDir)),
		group:  appendLine(b.group, fmt.Sprintf("%s:x:%d:", name, gid)),
	}
}

func appendLine(file []byte, line string) []byte {
	out := append([]byte(nil), file...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(append(out, line...), '\n')
}

// stageFirejailRoot makes this thread's mount namespace the run's: the host
// root mirrored on a tmpfs (every entry of / recreated, directories bound
// recursively), the work directory at /w, the account files, the declared
// binds at their targets (read-only unless writable, nosuid and nodev), and
// pivots into it. Directories a mount point must be created in are shadowed
// by a tmpfs mirroring them, so nothing is ever created on the host.
// Called on a locked thread; the namespace goes with the thread.
func stageFirejailRoot(work string, account *firejailAccount, binds []sandbox.Bind) error {
	fail := func(step string, err error) error { return fmt.Errorf("firejail: stage the root: %s: %w", step, err) }
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fail("unshare", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make / private", err)
	}
	st := &stagedRoot{root: firejailStage, mirrored: map[string]bool{}}
	if err := unix.Mount("tmpfs", st.root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fail("tmpfs", err)
	}
	if err := st.mirror("/"); err != nil {
		return fail("mirror /", err)
	}
	// The recursive bind of the host's /run copied this staging mount into
	// itself; that copy would show the staged root inside the box.
	if err := unix.Unmount(st.root+firejailStage, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fail("detach the nested stage", err)
	}
	if err := st.bind(work, sandbox.WorkDir, true, true); err != nil {
		return fail("work directory", err)
	}
	// The account files are written to a tmpfs of their own, bound over the
	// host's, and that tmpfs is detached again: the binds keep it, and no
	// trace of it is left in the box's root. (An unlinked source would not
	// do: firejail mounts its own sanitised passwd over /etc/passwd, which
	// the kernel refuses on an unlinked file.)
	accountDir := st.root + "/.account"
	if err := os.Mkdir(accountDir, 0o755); err != nil {
		return fail("account", err)
	}
	if err := unix.Mount("tmpfs", accountDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=4m"); err != nil {
		return fail("account", err)
	}
	for _, f := range []struct {
		content []byte
		target  string
	}{{account.passwd, "/etc/passwd"}, {account.group, "/etc/group"}} {
		src := accountDir + "/" + path.Base(f.target)
		if err := os.WriteFile(src, f.content, 0o644); err != nil {
			return fail("account", err)
		}
		if err := st.bind(src, f.target, false, false); err != nil {
			return fail("account", err)
		}
	}
	if err := unix.Unmount(accountDir, unix.MNT_DETACH); err != nil {
		return fail("account", err)
	}
	if err := os.Remove(accountDir); err != nil {
		return fail("account", err)
	}
	for i, bd := range binds {
		if err := st.bind(bd.Source, path.Clean(bd.Target), bd.Writable, false); err != nil {
			return fail(fmt.Sprintf("bind[%d] %s:%s", i, bd.Source, bd.Target), err)
		}
	}
	if err := unix.Chdir(st.root); err != nil {
		return fail("chdir", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fail("pivot_root", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fail("detach the old root", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fail("chdir /", err)
	}
	return nil
}

// stagedRoot is a root being built under root; mirrored holds the staged
// paths (as box paths) that are recursive binds of the same host path.
type stagedRoot struct {
	root     string
	mirrored map[string]bool
}

// mirror recreates the entries of the host directory dir in the staged
// directory of the same path: directories and other files bound from the
// host, symlinks copied.
func (st *stagedRoot) mirror(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		host := filepath.Join(dir, e.Name())
		staged := st.root + host
		switch {
		case e.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, staged); err != nil {
				return err
			}
			continue
		case e.IsDir():
			if err := os.Mkdir(staged, 0o755); err != nil {
				return err
			}
		default:
			f, err := os.OpenFile(staged, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			f.Close()
		}
		if err := unix.Mount(host, staged, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", host, err)
		}
		st.mirrored[host] = true
	}
	return nil
}

// bind mounts source at the box path target, creating the mount point in
// the staged tree (never on the host); read-only unless writable, nosuid and
// nodev unless trusted (the work directory, whose own mount's flags stay). A
// directory source needs a directory mount point, anything else a file.
func (st *stagedRoot) bind(source, target string, writable, trusted bool) error {
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	if err := st.mountPoint(target, fi.IsDir()); err != nil {
		return err
	}
	staged := st.root + target
	if err := unix.Mount(source, staged, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if trusted {
		return nil // the work directory keeps its own mount's flags
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NOSUID | unix.MS_NODEV)
	if !writable {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", staged, "", flags, ""); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// mountPoint makes sure the box path target exists in the staged tree as a
// directory (dir) or a file. Where it must be created inside a directory
// bound from the host, that directory is first shadowed by a tmpfs mirroring
// it. No component may be a symlink: it could lead out of the staged tree.
func (st *stagedRoot) mountPoint(target string, dir bool) error {
	if !path.IsAbs(target) || target == "/" {
		return fmt.Errorf("target %q: want an absolute path below /", target)
	}
	parts := strings.Split(strings.TrimPrefix(target, "/"), "/")
	cur := ""
	for i, part := range parts {
		cur += "/" + part
		last := i == len(parts)-1
		staged := st.root + cur
		fi, err := os.Lstat(staged)
		switch {
		case err == nil && fi.Mode()&os.ModeSymlink != 0:
			return fmt.Errorf("target %s: %s is a symlink", target, cur)
		case err == nil && last:
			if fi.IsDir() != dir {
				return fmt.Errorf("target %s: exists and is not the same kind as the source", target)
			}
			return nil
		case err == nil:
			if !fi.IsDir() {
				return fmt.Errorf("target %s: %s is not a directory", target, cur)
			}
			continue
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
		// Missing: create it, after shadowing its parent if the parent is
		// the host's.
		parent := path.Dir(cur)
		if err := st.shadow(parent); err != nil {
			return err
		}
		if !last || dir {
			if err := os.Mkdir(staged, 0o755); err != nil {
				return err
			}
			continue
		}
		f, err := os.OpenFile(staged, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// shadow replaces the staged directory dir, when it is a bind of the host's
// dir (or lies inside one), by a tmpfs mirroring it, so that new entries go
// to the tmpfs.
func (st *stagedRoot) shadow(dir string) error {
	if dir == "/" {
		return nil // the staged root is a tmpfs already
	}
	inside := false
	for p := dir; p != "/"; p = path.Dir(p) {
		if st.mirrored[p] {
			inside = true
			break
		}
	}
	if !inside {
		return nil // made by the stage itself
	}
	if err := st.shadow(path.Dir(dir)); err != nil {
		return err
	}
	if !st.mirrored[dir] {
		// Its parent is now a tmpfs mirror: dir is a bind of the host's dir.
		return fmt.Errorf("shadow %s: not a mirrored directory", dir)
	}
	staged := st.root + dir
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	mode := fmt.Sprintf("mode=%o", fi.Mode().Perm())
	if err := unix.Mount("tmpfs", staged, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, mode); err != nil {
		return fmt.Errorf("shadow %s: %w", dir, err)
	}
	delete(st.mirrored, dir)
	return st.mirror(dir)
}

// checkFirejailBinds refuses what firejail's command line cannot carry.
func checkFirejailBinds(binds []sandbox.Bind) error {
	for i, bd := range binds {
		target := path.Clean(bd.Target)
		if target == sandbox.WorkDir || strings.HasPrefix(target, sandbox.WorkDir+"/") {
			return fmt.Errorf("bind[%d] %s:%s: the target is inside the work directory, firejail's private home", i, bd.Source, bd.Target)
		}
		if target == firejailHostState || strings.HasPrefix(target, firejailHostState+"/") {
			return fmt.Errorf("bind[%d] %s:%s: the target is under %s, which the box hides", i, bd.Source, bd.Target, firejailHostState)
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
// documented flags for an untrusted program. Not --read-only=/: with it,
// firejail 0.9.72 cannot create --noroot's user namespace (the read-only
// bind over / makes the kernel see a chroot) and goes on without one after a
// warning; the program's uid owns nothing on the host but its home.
func (b *firejailBackend) strictArgs() []string {
	etc := "--private-etc=none"
	if len(b.etcFiles) > 0 {
		etc = "--private-etc=" + strings.Join(b.etcFiles, ",")
	}
	return []string{
		"--noprofile", "--quiet",
		"--private-dev", "--private-tmp", etc,
		"--net=none", "--ipc-namespace",
		"--seccomp", "--caps.drop=all", "--nonewprivs", "--noroot",
		"--restrict-namespaces", "--protocol=unix,inet,inet6",
		// The program's status, not that of whichever process ends last,
		// and the box ends with the program: daemons are killed.
		"--deterministic-exit-code", "--deterministic-shutdown",
	}
}

// firejailArgs are firejail's options and the program: the strict flags, the
// run's directory as the private home (/w), the project's host state hidden,
// the hostname, the rlimits firejail has options for, the descriptors to
// keep, and the working directory.
func (b *firejailBackend) firejailArgs(spec sandbox.Spec, lim sandbox.Limits, work string, nfiles int) []string {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	a := append(b.strictArgs(),
		"--private="+work,
		"--blacklist="+firejailHostState,
		"--hostname="+hostname,
	)
	for _, rl := range runRlimits(lim) {
		if opt, ok := firejailRlimitOptions[rl.Resource]; ok && rl.Limit.Cur != unix.RLIM_INFINITY {
			v := rl.Limit.Cur
			if rl.Resource == unix.RLIMIT_NPROC {
				v += 2 // firejail's monitor and the box's pid 1 run as the same uid
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
	// No "--" before the program: with it, firejail runs the command line
	// through the user's shell instead of executing the program itself.
	a = append(a, "--private-cwd="+filepath.Clean(dir))
	return append(a, spec.Args...)
}
