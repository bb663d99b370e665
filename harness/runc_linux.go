package harness

import (
	"bufio"
	"bytes"
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/seccomp"
	"gosandbox/sandbox/verdict"
)

// The runc backend runs the program as an OCI container under runc, the
// runtime under Docker and Kubernetes, through its command line the way its
// users drive it: a bundle (config.json and an empty root directory) is
// generated per run, and the container is made with `runc create` (the
// caller's descriptors handed over as they are), started with `runc start`,
// waited for as a child of this process (a child subreaper, as containerd's
// shim is) and deleted with `runc delete`. The bundle asks runc for what the
// gosandbox runners do: every namespace (a user namespace mapping the box to
// unprivileged host ids), a read-only root of host binds, the work directory
// at /w, no capabilities, no_new_privs, the rlimits, a memory and process cap
// through runc's own cgroup support, and the gosandbox syscall deny list as an
// OCI seccomp profile. The harness enforces the wall and CPU limits from
// outside (runc has neither) and reads the accounting from a parent cgroup
// that it removes after `runc delete`.
func init() {
	register("runc", openRunc)
}

type runcBackend struct {
	runc string
	// runs numbers the runs, for unique container ids.
	runs atomic.Uint32
	// usrLinks and etcFiles are as for bwrap: the merged-/usr links and
	// the few /etc files dynamically linked programs need.
	usrLinks map[string]string
	etcFiles []string
	// hierarchies are this process's cgroup directories, one per mounted
	// hierarchy: runc resolves a relative cgroupsPath under each, and
	// every one may get a directory per run that must be removed.
	hierarchies []runcHierarchy
	// memory, cpuacct and pids are the hierarchies the accounting is read
	// from ("" when not mounted).
	memory, cpuacct, pids string
}

type runcHierarchy struct {
	dir string // the process's own cgroup in this hierarchy
}

func openRunc(Options) (Backend, error) {
	rc, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("%w: runc: runc is not installed (apt-get install runc): %v", ErrUnavailable, err)
	}
	if !sandbox.HostIsRoot() {
		return nil, fmt.Errorf("%w: runc: needs root (rootless runc needs a delegated cgroup v2 tree, which this backend does not set up)", ErrUnavailable)
	}
	b := &runcBackend{runc: rc, usrLinks: map[string]string{}}
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
	// The container's init is a child of `runc create`, which exits at
	// once: as a subreaper this process inherits it, and can wait for it.
	// This is process-wide: any orphaned descendant of this process is
	// inherited too, and stays a zombie until the process exits.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("%w: runc: PR_SET_CHILD_SUBREAPER: %v", ErrUnavailable, err)
	}
	if err := b.findHierarchies(); err != nil {
		return nil, fmt.Errorf("%w: runc: cgroups: %v", ErrUnavailable, err)
	}
	if b.memory == "" || b.pids == "" || b.cpuacct == "" {
		return nil, fmt.Errorf("%w: runc: the backend needs the cgroup v1 memory, pids and cpuacct controllers (hybrid or legacy mode); found memory=%q pids=%q cpuacct=%q", ErrUnavailable, b.memory, b.pids, b.cpuacct)
	}
	// One trial run, so that a host where runc cannot make this container
	// (no user namespaces, a cgroup mode it rejects) fails here with
	// runc's own message rather than in every spec.
	var errOut bytes.Buffer
	res, err := b.run(context.Background(), sandbox.Spec{Args: []string{"/usr/bin/true"}}, &errOut)
	if err != nil || res.Status != sandbox.StatusOK {
		msg := strings.TrimSpace(res.Message + " " + errOut.String())
		return nil, fmt.Errorf("%w: runc: trial run failed: %v %s", ErrUnavailable, err, msg)
	}
	return b, nil
}

func (*runcBackend) Name() string { return "runc" }

func (*runcBackend) Features() Features {
	return Features{
		Isolated: true,
		Cgroups:  true,
		Seccomp:  true,
		Unsupported: map[string]string{
			"exec-error": "runc finds a missing program before the start (exec-error from its log), but an execve that fails later (bad format, huge argv) ends the container with exit status 1",
		},
	}
}

func (*runcBackend) Close() error { return nil }

func (b *runcBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	return b.run(ctx, spec, nil)
}

// run is Run; runcErr, when set, also receives runc's own log (the trial
// run's diagnostics).
func (b *runcBackend) run(ctx context.Context, spec sandbox.Spec, runcErr *bytes.Buffer) (sandbox.Result, error) {
	lim, wd, res, err := peerWorkDir(ctx, "runc", spec)
	if res != nil || err != nil {
		return *res, err
	}
	defer wd.Close()
	run := b.runs.Add(1)
	// The box's root maps to the lease's owner id and its user to the
	// lease's box id (sandbox/hostid): no per-user counter is shared with
	// another box of any runner.
	lease, err := hostIDs()
	if err != nil {
		return failed("runc", err), nil
	}
	defer lease.Release()
	hostRoot, hostUser := uint32(lease.Owner), uint32(lease.UID)
	if err := chownTree(wd.path, int(hostUser), int(hostUser)); err != nil {
		return failed("runc", err), nil
	}

	id := fmt.Sprintf("gosandbox-%d-%d", os.Getpid(), run)
	// The supervisor's pid in the name: whose bundle a leftover is.
	bundle, err := os.MkdirTemp(plainWorkRoot(), "gosandbox-runc-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return failed("runc", fmt.Errorf("runc: bundle: %w", err)), nil
	}
	// Everything of the run goes, whatever happened: the container, its
	// cgroup directories in every hierarchy, runc's state (kept in the
	// bundle) and the bundle.
	defer func() {
		b.deleteContainer(bundle, id)
		b.removeCgroups(id)
		os.RemoveAll(bundle)
	}()
	if err := b.writeBundle(bundle, id, spec, lim, wd.path, hostRoot, hostUser); err != nil {
		return failed("runc", err), nil
	}

	files, closeFiles, err := stdioFiles(spec)
	if err != nil {
		return failed("runc", err), nil
	}
	defer closeFiles()
	state := filepath.Join(bundle, "state")
	logPath := filepath.Join(bundle, "runc.log")
	pidFile := filepath.Join(bundle, "init.pid")
	// `runc create` (like `runc run --detach`) hands the caller's
	// descriptors to the container as they are; a foreground `runc run`
	// would put pipes between them and copy, so the program would never
	// see its real stdio (a file's RLIMIT_FSIZE, a terminal). This is how
	// containerd's shim drives runc.
	argv := []string{b.runc, "--root", state, "--log", logPath, "--log-format", "json",
		"create", "--bundle", bundle, "--pid-file", pidFile, "--no-new-keyring"}
	if n := len(spec.ExtraFiles); n > 0 {
		argv = append(argv, "--preserve-fds", strconv.Itoa(n))
	}
	argv = append(argv, id)
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		Files: files,
	}
	start := time.Now()
	startFailed := func(err error) sandbox.Result {
		facts := verdict.Facts{Limits: lim, Syscalls: spec.Syscalls, Wall: time.Since(start), StartErr: err}
		if logged := readRuncLog(logPath); logged.err != "" {
			if runcErr != nil {
				runcErr.WriteString(logged.all)
			}
			if isExecFailure(logged.err) {
				facts.StartErr = execFailure{errors.New(logged.err)}
			} else {
				facts.StartErr = fmt.Errorf("runc: %s", logged.err)
			}
		}
		return finish("runc", facts, wd, spec, lim)
	}
	// runc hands the descriptors it was given (with --preserve-fds) to the
	// container; none other may be inherited.
	closeOnExecExcept(files)
	createPid, err := syscall.ForkExec(b.runc, argv, attr)
	if err != nil {
		return startFailed(fmt.Errorf("runc: start %s: %w", b.runc, err)), nil
	}
	if ws, err := waitChild(createPid); err != nil || ws.ExitStatus() != 0 {
		return startFailed(fmt.Errorf("runc: create failed (%v, status %d)", err, ws.ExitStatus())), nil
	}
	pidText, err := os.ReadFile(pidFile)
	if err != nil {
		return startFailed(fmt.Errorf("runc: pid file: %w", err)), nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil || pid <= 1 {
		return startFailed(fmt.Errorf("runc: pid file: %q", pidText)), nil
	}
	// runc create has exited: the container's init, blocked before exec
	// until `runc start`, is now a child of this process (a subreaper), so
	// its own wait status and rusage are known and a kill cannot reach a
	// recycled pid.
	if out, err := exec.Command(b.runc, "--root", state, "start", id).CombinedOutput(); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		waitChild(pid)
		return startFailed(fmt.Errorf("runc: start: %v: %s", err, strings.TrimSpace(string(out)))), nil
	}

	parent := b.accountingDirs(id)
	var cpuKilled atomic.Bool
	// SIGKILL from outside the container's pid namespace kills its init,
	// and with it every process of the namespace.
	kill := func(p int) { unix.Kill(p, unix.SIGKILL) }
	var killMu sync.Mutex
	stopPoll := b.pollCPU(parent, lim.CPU, func() {
		killMu.Lock()
		defer killMu.Unlock()
		cpuKilled.Store(true)
		kill(pid)
	})
	facts := waitProgram(ctx, pid, start, lim.Wall, kill)
	stopPoll()
	facts.Limits, facts.Syscalls = lim, spec.Syscalls
	if cpuKilled.Load() && facts.Killed == verdict.NotKilled {
		facts.Killed = verdict.KilledCPU
	}
	facts.OutputExceeded = outputFull(spec, lim)
	if spec.Syscalls == sandbox.SyscallsKill && facts.Status.Signaled() && facts.Status.Signal() == unix.SIGSYS {
		// The box's user has a host uid of its own: the kernel's audit
		// record of the kill names it.
		facts.DeniedSyscall = seccomp.DeniedSyscallOfUID(int(hostUser))
	}
	if runcErr != nil {
		runcErr.WriteString(readRuncLog(logPath).all)
	}

	// The container's own group still exists until `runc delete`: the OOM
	// kill count is there (the kernel does not count it in the parents).
	oomKills := oomKillCount(filepath.Join(parent.memory, "box"))
	b.deleteContainer(bundle, id)
	// The parent, which the kernel charged hierarchically, holds the
	// figures of the whole run.
	if u, err := parent.usage(); err == nil {
		u.OOMKilled = u.OOMKilled || oomKills > 0
		facts.Cgroup = u
	}
	return finish("runc", facts, wd, spec, lim), nil
}

// waitChild reaps a child of this process.
func waitChild(pid int) (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws, err
		}
	}
}

func oomKillCount(memDir string) int {
	oc, err := os.ReadFile(filepath.Join(memDir, "memory.oom_control"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(oc), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// runcPollInterval is how often the harness reads the container's CPU time
// to enforce Limits.CPU (runc has no CPU time limit).
const runcPollInterval = 10 * time.Millisecond

func (b *runcBackend) pollCPU(dirs runcCgroupDirs, limit time.Duration, kill func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(runcPollInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if ns, err := readCgroupInt(filepath.Join(dirs.cpuacct, "cpuacct.usage")); err == nil && time.Duration(ns) >= limit {
				kill()
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// runcCgroupDirs are the parent directories of one run's container group.
type runcCgroupDirs struct{ memory, cpuacct, pids string }

func (b *runcBackend) accountingDirs(id string) runcCgroupDirs {
	return runcCgroupDirs{
		memory:  filepath.Join(b.memory, id),
		cpuacct: filepath.Join(b.cpuacct, id),
		pids:    filepath.Join(b.pids, id),
	}
}

func (d runcCgroupDirs) usage() (*verdict.CgroupUsage, error) {
	cpu, err := readCgroupInt(filepath.Join(d.cpuacct, "cpuacct.usage"))
	if err != nil {
		return nil, err
	}
	peak, err := readCgroupInt(filepath.Join(d.memory, "memory.max_usage_in_bytes"))
	if err != nil {
		return nil, err
	}
	u := &verdict.CgroupUsage{CPU: time.Duration(cpu), MemoryPeak: peak, Accounting: sandbox.AccountingCgroupV1}
	u.OOMKilled = oomKillCount(d.memory) > 0
	if n, err := readCgroupInt(filepath.Join(d.pids, "pids.peak")); err == nil {
		u.ProcsPeak = int(n)
	}
	return u, nil
}

func readCgroupInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// deleteContainer makes sure the container is gone; after a normal end
// `runc run` has deleted it already and this fails harmlessly.
func (b *runcBackend) deleteContainer(bundle, id string) {
	exec.Command(b.runc, "--root", filepath.Join(bundle, "state"), "delete", "--force", id).Run()
}

// removeCgroups removes the run's directories in every hierarchy: runc
// makes the whole relative path (id/box) and removes only the leaf. Any
// process still there (runc was killed before it could clean up) is killed
// first.
func (b *runcBackend) removeCgroups(id string) {
	for _, h := range b.hierarchies {
		dir := filepath.Join(h.dir, id)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		leaf := filepath.Join(dir, "box")
		for i := 0; i < 100; i++ {
			err := unix.Rmdir(leaf)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			killCgroupProcs(filepath.Join(leaf, "cgroup.procs"))
			time.Sleep(10 * time.Millisecond)
		}
		for i := 0; i < 100; i++ {
			err := unix.Rmdir(dir)
			if err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func killCgroupProcs(procs string) {
	b, err := os.ReadFile(procs)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil && p > 1 && p != os.Getpid() {
			unix.Kill(p, unix.SIGKILL)
		}
	}
}

// findHierarchies lists this process's own cgroup in every mounted
// hierarchy (v1 controllers, named ones, the v2 tree), as runc resolves a
// relative cgroupsPath.
func (b *runcBackend) findHierarchies() error {
	own := map[string]string{} // controllers ("memory", "name=systemd", "" for v2) -> path
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, s := range fields {
			if s == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(fields) || len(fields) < 5 {
			continue
		}
		fstype, root, mnt := fields[sep+1], fields[3], fields[4]
		var key string
		switch fstype {
		case "cgroup2":
			key = ""
		case "cgroup":
			for _, o := range strings.Split(fields[sep+3], ",") {
				if _, ok := own[o]; ok && o != "" {
					key = o
				}
			}
			if key == "" {
				continue
			}
		default:
			continue
		}
		p, ok := own[key]
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // our cgroup is outside what this mount shows
		}
		dir := filepath.Join(mnt, rel)
		b.hierarchies = append(b.hierarchies, runcHierarchy{dir: dir})
		if fstype == "cgroup" {
			for _, o := range strings.Split(fields[sep+3], ",") {
				switch o {
				case "memory":
					b.memory = dir
				case "cpuacct":
					b.cpuacct = dir
				case "pids":
					b.pids = dir
				}
			}
		}
	}
	return sc.Err()
}

type runcLog struct {
	all string // every line, for diagnostics
	err string // the last error runc logged, "" when none
}

// readRuncLog reads runc's JSON log: runc logs its own failures there at
// level error (and fatal), which is how a failed start is told from the
// program's own exit status 1.
func readRuncLog(p string) runcLog {
	var l runcLog
	data, err := os.ReadFile(p)
	if err != nil {
		return l
	}
	l.all = string(data)
	for _, line := range strings.Split(l.all, "\n") {
		var e struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		if e.Level == "error" || e.Level == "fatal" {
			l.err = e.Msg
		}
	}
	return l
}

// isExecFailure recognises runc's message for an exec of the program that
// failed because of the program (missing, not executable, bad format).
func isExecFailure(msg string) bool {
	if !strings.Contains(msg, "exec") {
		return false
	}
	for _, s := range []string{"no such file or directory", "permission denied", "exec format error",
		"executable file not found", "argument list too long", "not a directory", "is a directory",
		"text file busy", "too many levels of symbolic links", "file name too long"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// The OCI runtime configuration, as far as this backend uses it
// (opencontainers/runtime-spec, config.md and config-linux.md).
type (
	ociSpec struct {
		OCIVersion string     `json:"ociVersion"`
		Process    ociProcess `json:"process"`
		Root       ociRoot    `json:"root"`
		Hostname   string     `json:"hostname"`
		Mounts     []ociMount `json:"mounts"`
		Linux      ociLinux   `json:"linux"`
	}
	ociProcess struct {
		Terminal        bool        `json:"terminal"`
		User            ociUser     `json:"user"`
		Args            []string    `json:"args"`
		Env             []string    `json:"env"`
		Cwd             string      `json:"cwd"`
		Capabilities    ociCaps     `json:"capabilities"`
		Rlimits         []ociRlimit `json:"rlimits"`
		NoNewPrivileges bool        `json:"noNewPrivileges"`
		OOMScoreAdj     *int        `json:"oomScoreAdj,omitempty"`
	}
	ociUser struct {
		UID            uint32   `json:"uid"`
		GID            uint32   `json:"gid"`
		AdditionalGids []uint32 `json:"additionalGids"`
	}
	ociCaps struct {
		Bounding    []string `json:"bounding"`
		Effective   []string `json:"effective"`
		Inheritable []string `json:"inheritable"`
		Permitted   []string `json:"permitted"`
		Ambient     []string `json:"ambient"`
	}
	ociRlimit struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	}
	ociRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	ociMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type,omitempty"`
		Source      string   `json:"source,omitempty"`
		Options     []string `json:"options,omitempty"`
	}
	ociLinux struct {
		UIDMappings   []ociIDMap     `json:"uidMappings"`
		GIDMappings   []ociIDMap     `json:"gidMappings"`
		Namespaces    []ociNamespace `json:"namespaces"`
		CgroupsPath   string         `json:"cgroupsPath"`
		Resources     ociResources   `json:"resources"`
		Seccomp       *ociSeccomp    `json:"seccomp,omitempty"`
		MaskedPaths   []string       `json:"maskedPaths"`
		ReadonlyPaths []string       `json:"readonlyPaths"`
	}
	ociIDMap struct {
		ContainerID uint32 `json:"containerID"`
		HostID      uint32 `json:"hostID"`
		Size        uint32 `json:"size"`
	}
	ociNamespace struct {
		Type string `json:"type"`
	}
	ociResources struct {
		Devices []ociDeviceRule `json:"devices"`
		Memory  *ociMemory      `json:"memory,omitempty"`
		Pids    *ociPids        `json:"pids,omitempty"`
		CPU     *ociCPU         `json:"cpu,omitempty"`
	}
	ociDeviceRule struct {
		Allow  bool   `json:"allow"`
		Access string `json:"access,omitempty"`
	}
	ociMemory struct {
		Limit int64 `json:"limit"`
		Swap  int64 `json:"swap"`
	}
	ociPids struct {
		Limit int64 `json:"limit"`
	}
	ociCPU struct {
		Cpus string `json:"cpus,omitempty"`
	}
	ociSeccomp struct {
		DefaultAction string           `json:"defaultAction"`
		Architectures []string         `json:"architectures,omitempty"`
		Syscalls      []ociSyscallRule `json:"syscalls"`
	}
	ociSyscallRule struct {
		Names    []string     `json:"names"`
		Action   string       `json:"action"`
		ErrnoRet *uint        `json:"errnoRet,omitempty"`
		Args     []ociSeccArg `json:"args,omitempty"`
	}
	ociSeccArg struct {
		Index    uint   `json:"index"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
		Op       string `json:"op"`
	}
)

// writeBundle writes config.json and the root directory: empty but for the
// mount points and the merged-/usr links, since runc would make missing
// mount points as container root, which owns nothing there.
func (b *runcBackend) writeBundle(bundle, id string, spec sandbox.Spec, lim sandbox.Limits, work string, hostRoot, hostUser uint32) error {
	wrap := func(err error) error { return fmt.Errorf("runc: bundle: %w", err) }
	// The bundle is traversed by runc's init as container root (an
	// unprivileged host id): it must be searchable by others.
	if err := os.Chmod(bundle, 0o755); err != nil {
		return wrap(err)
	}
	rootfs := filepath.Join(bundle, "rootfs")
	for _, dir := range []string{"usr", "proc", "dev", "tmp", "w", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, dir), 0o755); err != nil {
			return wrap(err)
		}
	}
	// runc gives a tmpfs the mode of the directory it is mounted on,
	// whatever the mount options say.
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return wrap(err)
	}
	for link, target := range b.usrLinks {
		if err := os.Symlink(target, filepath.Join(rootfs, link)); err != nil {
			return wrap(err)
		}
	}
	for _, p := range b.etcFiles {
		if err := makeMountPoint(rootfs, p, p); err != nil {
			return wrap(err)
		}
	}
	for _, bd := range spec.Binds {
		target := path.Clean(bd.Target)
		if _, ok := under(target, sandbox.WorkDir); ok {
			continue // made in the work directory itself below
		}
		if err := makeMountPoint(rootfs, bd.Source, target); err != nil {
			return wrap(err)
		}
	}
	for _, bd := range spec.Binds {
		if rest, ok := under(path.Clean(bd.Target), sandbox.WorkDir); ok && rest != "." {
			if err := makeMountPoint(work, bd.Source, "/"+rest); err != nil {
				return wrap(err)
			}
		}
	}

	hostname := spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	dir := spec.Dir
	if dir == "" {
		dir = sandbox.WorkDir
	}
	tmpSize := "size=" + strconv.FormatInt(lim.Tmpfs, 10)
	mounts := []ociMount{
		{Destination: "/usr", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro", "nosuid", "nodev"}},
	}
	for _, p := range b.etcFiles {
		mounts = append(mounts, ociMount{Destination: p, Type: "bind", Source: p, Options: []string{"rbind", "ro", "nosuid", "nodev"}})
	}
	mounts = append(mounts,
		ociMount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		ociMount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "strictatime", "mode=755", "size=65536k"}},
		ociMount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", tmpSize}},
		ociMount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", tmpSize}},
		ociMount{Destination: sandbox.WorkDir, Type: "bind", Source: work, Options: []string{"rbind", "rw", "nosuid", "nodev"}},
	)
	for _, bd := range spec.Binds {
		mode := "ro"
		if bd.Writable {
			mode = "rw"
		}
		mounts = append(mounts, ociMount{Destination: path.Clean(bd.Target), Type: "bind", Source: bd.Source, Options: []string{"rbind", mode, "nosuid", "nodev"}})
	}

	var rls []ociRlimit
	for _, rl := range rlimit.FromLimits(lim, true) {
		if name, ok := rlimitNames[rl.Resource]; ok {
			rls = append(rls, ociRlimit{Type: name, Soft: rl.Limit.Cur, Hard: rl.Limit.Max})
		}
	}
	res := ociResources{
		Devices: []ociDeviceRule{{Allow: false, Access: "rwm"}},
		// Swap equal to the limit: memory and swap together may not pass
		// it, so the box cannot swap its way past the cap.
		Memory: &ociMemory{Limit: lim.Memory, Swap: lim.Memory},
		Pids:   &ociPids{Limit: int64(lim.Procs)},
	}
	if lim.CPUSet != "" {
		res.CPU = &ociCPU{Cpus: lim.CPUSet}
	}
	cfg := ociSpec{
		OCIVersion: "1.0.2",
		Process: ociProcess{
			User:            ociUser{UID: sandbox.BoxUID, GID: sandbox.BoxGID, AdditionalGids: []uint32{}},
			Args:            spec.Args,
			Env:             sandbox.EnvWithDefaultPath(spec.Env),
			Cwd:             filepath.Clean(dir),
			Capabilities:    ociCaps{Bounding: []string{}, Effective: []string{}, Inheritable: []string{}, Permitted: []string{}, Ambient: []string{}},
			Rlimits:         rls,
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: rootfs, Readonly: true},
		Hostname: hostname,
		Mounts:   mounts,
		Linux: ociLinux{
			UIDMappings: []ociIDMap{{ContainerID: 0, HostID: hostRoot, Size: 1}, {ContainerID: sandbox.BoxUID, HostID: hostUser, Size: 1}},
			GIDMappings: []ociIDMap{{ContainerID: 0, HostID: hostRoot, Size: 1}, {ContainerID: sandbox.BoxGID, HostID: hostUser, Size: 1}},
			Namespaces: []ociNamespace{
				{Type: "pid"}, {Type: "mount"}, {Type: "ipc"}, {Type: "uts"}, {Type: "network"}, {Type: "user"}, {Type: "cgroup"},
			},
			// Relative: runc puts it under its own (this process's) cgroup
			// in every hierarchy. The parent (id) outlives the container's
			// group, for the accounting.
			CgroupsPath: id + "/box",
			Resources:   res,
			Seccomp:     runcSeccomp(spec.Syscalls),
			// What runc's own example config masks.
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return wrap(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return wrap(err)
	}
	return nil
}

// makeMountPoint makes an empty file or directory (as source is) at target
// under root.
func makeMountPoint(root, source, target string) error {
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	p := filepath.Join(root, target)
	if fi.IsDir() {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

var rlimitNames = map[int]string{
	unix.RLIMIT_CPU: "RLIMIT_CPU", unix.RLIMIT_FSIZE: "RLIMIT_FSIZE", unix.RLIMIT_STACK: "RLIMIT_STACK",
	unix.RLIMIT_NOFILE: "RLIMIT_NOFILE", unix.RLIMIT_CORE: "RLIMIT_CORE", unix.RLIMIT_MEMLOCK: "RLIMIT_MEMLOCK",
	unix.RLIMIT_MSGQUEUE: "RLIMIT_MSGQUEUE", unix.RLIMIT_AS: "RLIMIT_AS", unix.RLIMIT_NPROC: "RLIMIT_NPROC",
	unix.RLIMIT_SIGPENDING: "RLIMIT_SIGPENDING", unix.RLIMIT_DATA: "RLIMIT_DATA",
}

// runcSeccomp is the gosandbox policy as far as an OCI profile expresses it:
// the deny list, clone3 failing with ENOSYS, clone and unshare with a
// namespace flag, AF_PACKET and AF_VSOCK sockets, and the terminal ioctls.
// runc ignores names its libseccomp does not know.
func runcSeccomp(mode sandbox.SyscallMode) *ociSeccomp {
	deny := ociSyscallRule{Action: "SCMP_ACT_ERRNO", ErrnoRet: ptr(uint(unix.EPERM))}
	if mode == sandbox.SyscallsKill {
		deny = ociSyscallRule{Action: "SCMP_ACT_KILL_PROCESS"}
	}
	rule := func(names []string, args ...ociSeccArg) ociSyscallRule {
		r := deny
		r.Names, r.Args = names, args
		return r
	}
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
		unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	rules := []ociSyscallRule{
		{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: ptr(uint(unix.ENOSYS))},
		rule(seccomp.DeniedSyscalls()),
	}
	// One rule per flag: a masked comparison is equality after the mask,
	// so "any of these bits" is one rule for each bit.
	for bit := uint64(1); bit != 0; bit <<= 1 {
		if nsFlags&bit != 0 {
			rules = append(rules, rule([]string{"clone"}, ociSeccArg{Index: 0, Value: bit, ValueTwo: bit, Op: "SCMP_CMP_MASKED_EQ"}))
		}
		if (nsFlags|unix.CLONE_NEWTIME)&bit != 0 {
			rules = append(rules, rule([]string{"unshare"}, ociSeccArg{Index: 0, Value: bit, ValueTwo: bit, Op: "SCMP_CMP_MASKED_EQ"}))
		}
	}
	for _, af := range []uint64{unix.AF_PACKET, unix.AF_VSOCK} {
		rules = append(rules, rule([]string{"socket"}, ociSeccArg{Index: 0, Value: af, Op: "SCMP_CMP_EQ"}))
	}
	for _, req := range []uint64{unix.TIOCSTI, unix.TIOCLINUX, unix.TIOCSCTTY} {
		rules = append(rules, rule([]string{"ioctl"}, ociSeccArg{Index: 1, Value: req, Op: "SCMP_CMP_EQ"}))
	}
	// No architectures: runc then filters the native one only.
	return &ociSeccomp{DefaultAction: "SCMP_ACT_ALLOW", Syscalls: rules}
}

func ptr[T any](v T) *T { return &v }
