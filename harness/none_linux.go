package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// The none backend runs the program with a plain fork+exec+wait and isolates
// nothing. It is the calibration of the conformance suites (every isolation
// spec must fail on it) and the floor of the benchmarks, so it does only what
// keeps a spec meaningful: the work directory, copy-in and copy-out, binds as
// path aliases, the exact environment, the wall limit and the CPU and file
// size rlimits.
func init() {
	register("none", func(Options) (Backend, error) { return &noneBackend{}, nil })
}

type noneBackend struct{}

func (*noneBackend) Name() string       { return "none" }
func (*noneBackend) Features() Features { return Features{} }
func (*noneBackend) Close() error       { return nil }

func (b *noneBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	if err := spec.Validate(); err != nil {
		return sandbox.Result{}, err
	}
	if err := workdir.CheckCopyIn(spec.CopyIn); err != nil {
		return sandbox.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return sandbox.Result{}, fmt.Errorf("none: %w", err)
	}
	lim := spec.Limits.WithDefaults()
	if err := checkBindSources(spec.Binds); err != nil {
		return failed("none", err), nil
	}

	wd, err := newHostWorkDir(spec, lim)
	if err != nil {
		return failed("none", err), nil
	}
	defer wd.Close()

	aliases := aliasTable{work: wd.path, binds: spec.Binds}
	// Arguments naming box paths (a file under a bind, in /w) are aliased
	// like the program, so that a spec reaches its assertion.
	// argv[0] stays as given; the program itself is found below.
	args := make([]string, len(spec.Args))
	args[0] = spec.Args[0]
	for i := 1; i < len(args); i++ {
		args[i] = aliases.hostArg(spec.Args[i])
	}
	dir := aliases.host(spec.Dir)
	if spec.Dir == "" {
		dir = wd.path
	}
	argv0, err := lookPath(spec.Args[0], spec.Env, aliases)
	if err != nil {
		return finish("none", verdict.Facts{Limits: lim, Syscalls: spec.Syscalls, StartErr: err}, wd, spec, lim), nil
	}

	files, closeFiles, err := stdioFiles(spec)
	if err != nil {
		return failed("none", err), nil
	}
	defer closeFiles()

	env := sandbox.EnvWithDefaultPath(spec.Env)
	attr := &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: files,
		// Its own process group, so the wall limit kills the helpers the
		// program started too (those that did not leave the group).
		Sys: &syscall.SysProcAttr{Setpgid: true},
	}
	start := time.Now()
	pid, err := syscall.ForkExec(argv0, args, attr)
	if err != nil {
		facts := verdict.Facts{Limits: lim, Syscalls: spec.Syscalls, StartErr: startError(err), Wall: time.Since(start)}
		return finish("none", facts, wd, spec, lim), nil
	}
	// The rlimits are set right after the fork rather than between fork and
	// exec (the standard library has no hook there). CPU time is counted from
	// the start either way; a program could write past the file size limit
	// only in its first instants. Good enough for a backend without isolation.
	for _, rl := range withCPUBackstop(rlimit.FromLimits(lim, true)) {
		limit := rl.Limit
		unix.Prlimit(pid, rl.Resource, &limit, nil)
	}
	facts := waitProgram(ctx, pid, start, lim.Wall, func(p int) { unix.Kill(-p, unix.SIGKILL) })
	facts.Limits, facts.Syscalls = lim, spec.Syscalls
	facts.OutputExceeded = outputFull(spec, lim)
	return finish("none", facts, wd, spec, lim), nil
}

// waitProgram waits for pid, killing it (with kill) when the wall limit or the
// context ends first, and returns what the verdict needs. The program is
// waited for without being reaped first, so that a late kill can never reach
// a recycled pid.
func waitProgram(ctx context.Context, pid int, start time.Time, wall time.Duration, kill func(pid int)) verdict.Facts {
	var (
		mu     sync.Mutex
		exited bool
		reason = verdict.NotKilled
	)
	killFor := func(why verdict.KillReason) {
		mu.Lock()
		defer mu.Unlock()
		if exited {
			return
		}
		if reason == verdict.NotKilled {
			reason = why
		}
		kill(pid)
	}
	timer := time.AfterFunc(wall, func() { killFor(verdict.KilledWall) })
	defer timer.Stop()
	stopCtx := context.AfterFunc(ctx, func() { killFor(verdict.KilledCancel) })
	defer stopCtx()

	var facts verdict.Facts
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil || err != unix.EINTR {
			if err != nil {
				facts.Err = fmt.Errorf("waitid %d: %w", pid, err)
			}
			break
		}
	}
	facts.Wall = time.Since(start)
	mu.Lock()
	exited = true
	facts.Killed = reason
	mu.Unlock()

	var ws syscall.WaitStatus
	var ru unix.Rusage
	for {
		_, err := unix.Wait4(pid, (*unix.WaitStatus)(&ws), 0, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			facts.Err = errors.Join(facts.Err, fmt.Errorf("wait4 %d: %w", pid, err))
		} else {
			facts.Status, facts.Rusage = ws, &ru
		}
		break
	}
	if facts.Killed == verdict.KilledCancel && facts.Err == nil {
		facts.Err = ctx.Err()
	}
	return facts
}

// finish turns the facts into the Result and reads the copy-out files.
func finish(backend string, facts verdict.Facts, wd *hostWorkDir, spec sandbox.Spec, lim sandbox.Limits) sandbox.Result {
	res := verdict.Decide(facts)
	res.Backend = backend
	if len(spec.CopyOut) > 0 {
		res.Files, res.FileErrors = wd.copyOut(spec.CopyOut, lim.Output)
	}
	return res
}

// failed is the Result of a run the backend could not even prepare.
func failed(backend string, err error) sandbox.Result {
	return sandbox.Result{
		Status:     sandbox.StatusInternalError,
		ExitCode:   -1,
		Message:    err.Error(),
		Accounting: sandbox.AccountingRusage,
		Backend:    backend,
	}
}

// withCPUBackstop gives RLIMIT_CPU a hard limit one second above the soft
// one. Without a supervisor that sums CPU time, SIGXCPU at the soft limit is
// what reports cpu-limit; the hard limit kills a program that ignores it.
func withCPUBackstop(rls []rlimit.RLimit) []rlimit.RLimit {
	for i, rl := range rls {
		if rl.Resource == unix.RLIMIT_CPU && rl.Limit.Cur != unix.RLIM_INFINITY {
			rls[i].Limit.Max = rl.Limit.Cur + 1
		}
	}
	return rls
}

// outputFull reports whether a stdout or stderr that is a regular file
// reached the output limit (RLIMIT_FSIZE stops it there; the program may have
// caught SIGXFSZ and carried on).
func outputFull(spec sandbox.Spec, lim sandbox.Limits) bool {
	for _, f := range []*os.File{spec.Stdout, spec.Stderr} {
		if f == nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(f.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size >= lim.Output {
			return true
		}
	}
	return false
}

// checkBindSources refuses binds whose host path does not exist: the run
// cannot be set up as asked.
func checkBindSources(binds []sandbox.Bind) error {
	for i, b := range binds {
		if _, err := os.Stat(b.Source); err != nil {
			return fmt.Errorf("bind[%d] %s:%s: %w", i, b.Source, b.Target, err)
		}
	}
	return nil
}

// execFailure is an exec that failed because of the program (missing, not
// executable, bad format, argv too large): exec-error, not internal-error.
type execFailure struct{ err error }

func (e execFailure) Error() string      { return "exec: " + e.err.Error() }
func (e execFailure) Unwrap() error      { return e.err }
func (e execFailure) ProgramFault() bool { return true }

// startError classifies an error of ForkExec.
func startError(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EACCES), errors.Is(err, unix.ENOEXEC),
		errors.Is(err, unix.E2BIG), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP),
		errors.Is(err, unix.ENAMETOOLONG), errors.Is(err, unix.ETXTBSY), errors.Is(err, unix.EISDIR),
		errors.Is(err, unix.EPERM):
		return execFailure{err}
	}
	return fmt.Errorf("start: %w", err)
}

// aliasTable maps box paths to host paths for a backend without a mount
// namespace: /w is the run's work directory and every bind target is its
// source.
type aliasTable struct {
	work  string
	binds []sandbox.Bind
}

func (a aliasTable) host(p string) string {
	if p == "" || !path.IsAbs(p) {
		return p
	}
	p = path.Clean(p)
	if rest, ok := under(p, sandbox.WorkDir); ok {
		return filepath.Join(a.work, rest)
	}
	// The last bind wins, as a later mount hides an earlier one.
	for i := len(a.binds) - 1; i >= 0; i-- {
		b := a.binds[i]
		if rest, ok := under(p, path.Clean(b.Target)); ok {
			return filepath.Join(b.Source, rest)
		}
	}
	return p
}

// hostArg aliases an argument that is an absolute path under /w or a bind
// target; any other argument is returned as it is.
func (a aliasTable) hostArg(arg string) string {
	if !path.IsAbs(arg) {
		return arg
	}
	clean := path.Clean(arg)
	if _, ok := under(clean, sandbox.WorkDir); ok {
		return a.host(clean)
	}
	for _, b := range a.binds {
		if _, ok := under(clean, path.Clean(b.Target)); ok {
			return a.host(clean)
		}
	}
	return arg
}

// under reports whether p is dir or below it, and the rest of p.
func under(p, dir string) (string, bool) {
	if p == dir {
		return ".", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir)+1:], true
	}
	return "", false
}

// lookPath resolves Args[0] as the box would: a name without a slash through
// the PATH of env (or sandbox.DefaultPath), a path through the aliases. A
// relative path with a slash is left to the kernel, relative to the working
// directory.
func lookPath(name string, env []string, a aliasTable) (string, error) {
	if strings.Contains(name, "/") {
		return a.host(name), nil
	}
	search := sandbox.DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			search = v
		}
	}
	for _, dir := range filepath.SplitList(search) {
		if dir == "" {
			dir = "."
		}
		p := a.host(path.Join(dir, name))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", execFailure{fmt.Errorf("%s: %w in PATH %s", name, unix.ENOENT, search)}
}

// stdioFiles returns the descriptors 0, 1, 2 and the extra files of the
// child; a missing stdio file is /dev/null.
func stdioFiles(spec sandbox.Spec) ([]uintptr, func(), error) {
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	fds := make([]uintptr, 0, 3+len(spec.ExtraFiles))
	for _, f := range []*os.File{spec.Stdin, spec.Stdout, spec.Stderr} {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
			}
			opened = append(opened, null)
			f = null
		}
		fds = append(fds, f.Fd())
	}
	for _, f := range spec.ExtraFiles {
		fds = append(fds, f.Fd())
	}
	return fds, closeAll, nil
}

// hostWorkDir is a run's /w on the host. With copy-in or copy-out files it is
// a sandbox/workdir directory (capped tmpfs when root, hostile-proof
// copy-out); otherwise a plain temporary directory, which keeps the none
// backend's floor close to a bare fork+exec.
// peerWorkDir checks a spec as every peer backend does and makes the run's
// work directory on the host with the copies in place. err is an invalid
// spec (nothing ran); a non-nil res is the run's outcome already (the work
// directory could not be made); otherwise the caller closes wd.
func peerWorkDir(ctx context.Context, name string, spec sandbox.Spec) (lim sandbox.Limits, wd *hostWorkDir, res *sandbox.Result, err error) {
	fail := func(err error) (sandbox.Limits, *hostWorkDir, *sandbox.Result, error) {
		r := failed(name, err)
		return lim, nil, &r, nil
	}
	if err := spec.Validate(); err != nil {
		return lim, nil, &sandbox.Result{}, err
	}
	if err := workdir.CheckCopyIn(spec.CopyIn); err != nil {
		return lim, nil, &sandbox.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return lim, nil, &sandbox.Result{}, fmt.Errorf("%s: %w", name, err)
	}
	lim = spec.Limits.WithDefaults()
	if err := checkBindSources(spec.Binds); err != nil {
		return fail(err)
	}
	d, err := workdir.New(workdir.Options{Size: lim.Tmpfs})
	if err != nil {
		return fail(err)
	}
	wd = &hostWorkDir{path: d.Path(), dir: d}
	if err := d.CopyIn(spec.CopyIn); err != nil {
		wd.Close()
		return fail(err)
	}
	return lim, wd, nil, nil
}

type hostWorkDir struct {
	path string
	dir  *workdir.Dir // nil for a plain directory
}

func newHostWorkDir(spec sandbox.Spec, lim sandbox.Limits) (*hostWorkDir, error) {
	if len(spec.CopyIn) == 0 && len(spec.CopyOut) == 0 {
		p, err := os.MkdirTemp(plainWorkRoot(), "gosandbox-none-w-")
		if err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			os.RemoveAll(p)
			return nil, fmt.Errorf("work directory: %w", err)
		}
		return &hostWorkDir{path: p}, nil
	}
	d, err := workdir.New(workdir.Options{Size: lim.Tmpfs})
	if err != nil {
		return nil, err
	}
	if err := d.CopyIn(spec.CopyIn); err != nil {
		d.Close()
		return nil, err
	}
	return &hostWorkDir{path: d.Path(), dir: d}, nil
}

// plainWorkRoot is where plain work directories go: /dev/shm when it is a
// writable tmpfs (making and removing a directory there costs microseconds;
// on a journaled disk it costs milliseconds, which would inflate the
// benchmark floor), else the temporary directory.
func plainWorkRoot() string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

func (w *hostWorkDir) copyOut(names []string, limit int64) (map[string][]byte, map[string]string) {
	if w.dir == nil {
		reasons := map[string]string{}
		for _, n := range names {
			reasons[n] = "not found"
		}
		return nil, reasons
	}
	return w.dir.CopyOut(names, limit)
}

func (w *hostWorkDir) Close() error {
	if w.dir != nil {
		return w.dir.Close()
	}
	return os.RemoveAll(w.path)
}
