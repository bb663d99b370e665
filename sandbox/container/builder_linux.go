package container

// Builder: how a container is built (work directory, cgroup, mount plan skeleton, the init started in new namespaces, conf).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/unixsocket"
	"gosandbox/sandbox/workdir"
)

// Bounds of the host's waits on an init. They are not timing expectations:
// an init answers in microseconds. They turn a stuck or stopped init into an
// error (and a replaced container) instead of a caller that hangs (B6).
const (
	DefaultBuildTimeout = 30 * time.Second
	DefaultReplyTimeout = 5 * time.Second
)

// containerNamespaces are the namespaces of a container, made once when it is
// built. CLONE_NEWCGROUP is left out on cgroup v2 (see Builder.Build).
const containerNamespaces = unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
	unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS

// initCaps are the capabilities (in the container's user namespace only) the
// init keeps across its exec: mount and pivot_root, per-run namespaces and
// the hostname (SYS_ADMIN), the child's credentials and the pid it reports
// (SETUID, SETGID, SYS_ADMIN), dropping the child's bounding set (SETPCAP),
// killing the box's processes (KILL) and wiping what they leave
// (DAC_OVERRIDE, FOWNER, CHOWN), the pid counter a reset sets back
// (SYS_ADMIN), and the loopback it sets up in each run's network namespace
// (NET_ADMIN). The init runs as the host id that owns the container's user
// namespace (hostid.Lease.Owner), which is not mapped inside, so it owns
// nothing in the box and the box cannot signal or trace it.
var initCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_SETPCAP,
	unix.CAP_KILL, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_CHOWN,
	unix.CAP_NET_ADMIN,
}

// Builder starts containers. Set its fields before the first Build and do
// not change them afterwards; Build may then be called concurrently.
type Builder struct {
	// InitPath is the program started as the init; "" means this program
	// (/proc/self/exe), which must call MaybeRunInit first thing.
	InitPath string
	// WorkRoot is where the host-side work directories (bound at /w) are
	// made; "" takes sandbox/workdir's default.
	WorkRoot string
	// NoCgroups skips cgroups even where they work: limits fall back to
	// rlimits and figures to rusage.
	NoCgroups bool
	// InitStderr receives the inits' own diagnostics; nil discards them.
	InitStderr *os.File
	// BuildTimeout bounds one build (0 = DefaultBuildTimeout), ReplyTimeout
	// every other exchange with an init (0 = DefaultReplyTimeout).
	BuildTimeout, ReplyTimeout time.Duration

	once   sync.Once
	cg     *cgroup.Manager
	cgInfo cgroup.Info
	cgErr  error
}

// workDirPrefix starts the names of the containers' work directories and
// cgroups, followed by the host pid: what workdir.RemoveStale looks for.
const workDirPrefix = "container-"

// containerSerial numbers the containers of this process: their work
// directories and cgroups are named after it, and must never collide (a
// work directory of the same name is taken for a leftover and replaced).
var containerSerial atomic.Uint64

func (b *Builder) init() {
	b.once.Do(func() {
		// Work directories of supervisors that were killed (a kill -9
		// leaves their tmpfs mounted on the host) go first.
		workdir.RemoveStale(b.WorkRoot, workDirPrefix)
		if b.NoCgroups {
			b.cgErr = errors.New("disabled by the caller")
			return
		}
		m, err := cgroup.New()
		if err != nil {
			b.cgErr = err
			return
		}
		b.cg, b.cgInfo = m, m.Info()
	})
}

// Cgroups reports whether containers get a cgroup per container (limits and
// per-run accounting from it) and, if not, why.
func (b *Builder) Cgroups() (bool, error) {
	b.init()
	return b.cg != nil, b.cgErr
}

// Accounting is where the figures of the results come from.
func (b *Builder) Accounting() string {
	b.init()
	if b.cg == nil {
		return sandbox.AccountingRusage
	}
	return b.cgInfo.Accounting()
}

// Close releases the cgroup root the builder made, once every container it
// built has been destroyed.
func (b *Builder) Close() error {
	b.init()
	if b.cg != nil {
		return b.cg.Close()
	}
	return nil
}

func (b *Builder) replyTimeout() time.Duration {
	if b.ReplyTimeout > 0 {
		return b.ReplyTimeout
	}
	return DefaultReplyTimeout
}

// ErrNeedsRoot is returned by Build when the host process is not root.
// Without root the user namespace can map only the caller's own id, so the
// init and the box would share a uid and a box could signal or trace its
// init; one-shot boxes (sandbox/oneshot) have no init and work unprivileged.
var ErrNeedsRoot = errors.New("container: pooled containers need a root supervisor")

// Build starts a container of the given shape and waits until its init has
// built the root and answered.
func (b *Builder) Build(ctx context.Context, shape Shape) (*Container, error) {
	if !sandbox.HostIsRoot() {
		return nil, ErrNeedsRoot
	}
	b.init()
	c, err := b.build(ctx, shape, false)
	if errors.Is(err, errSkeletonMissing) {
		// The init runs this program and answers: a fresh copy of it may
		// make the skeleton (see prepareSkeleton). Try once more.
		c, err = b.build(ctx, shape, true)
	}
	return c, err
}

// errSkeletonMissing marks a build whose init could not compile its mount
// plan for want of a skeleton directory it may not create.
var errSkeletonMissing = errors.New("mount plan skeleton missing")

func (b *Builder) build(ctx context.Context, shape Shape, freshSkeleton bool) (c *Container, err error) {
	shape = shape.normal().looked()
	n := containerSerial.Add(1)
	c = &Container{
		b:        b,
		shape:    shape,
		name:     fmt.Sprintf("%s%d-%d", workDirPrefix, os.Getpid(), n),
		in:       make(chan protocol.Message),
		dead:     make(chan struct{}),
		closing:  make(chan struct{}),
		initDone: make(chan struct{}),
	}
	defer func() {
		if err != nil {
			c.Destroy()
			c = nil
		}
	}()
	if c.lease, err = hostid.Acquire(); err != nil {
		return c, fmt.Errorf("container: %w", err)
	}
	c.wd, err = workdir.New(workdir.Options{Root: b.WorkRoot, Size: shape.Tmpfs, Name: c.name, UID: c.lease.UID, GID: c.lease.GID})
	if err != nil {
		return c, fmt.Errorf("container: %w", err)
	}
	if b.cg != nil {
		c.groupLimits = groupLimits(sandbox.DefaultLimits)
		c.group, err = b.cg.Create(c.name, c.groupLimits)
		if err != nil {
			return c, fmt.Errorf("container: %w", err)
		}
		// Every run reads the group's counters and every reset zeroes
		// them: through descriptors opened here, off the runs' path.
		c.group.Preopen()
	}
	timeout := b.BuildTimeout
	if timeout <= 0 {
		timeout = DefaultBuildTimeout
	}
	conf := protocol.Conf{WorkDir: c.wd.Path(), TmpfsSize: shape.Tmpfs}
	for _, bd := range shape.Binds {
		conf.Binds = append(conf.Binds, protocol.BindConf{Source: bd.Source, Target: bd.Target, Writable: bd.Writable})
	}
	if freshSkeleton {
		if err := c.prepareSkeleton(ctx, conf, timeout); err != nil {
			return c, err
		}
	} else if _, err := containerPlan(conf.WorkDir, conf.TmpfsSize, shape.Binds); err != nil {
		// Compiling the plan here creates its skeleton, which the init
		// (unable to create it) then finds.
		return c, fmt.Errorf("container: %w", err) // mount's errors name the plan
	}
	if err := c.startInit(); err != nil {
		return c, err
	}
	var fds []int
	var procs []*os.File
	defer func() {
		for _, f := range procs {
			f.Close() // the init has its copies
		}
	}()
	if c.group != nil {
		// Not clone3's CLONE_INTO_CGROUP on v2 either: it checks the
		// caller's own credentials for write access to cgroup.procs of the
		// group and of its common ancestor with the init's cgroup, and the
		// init runs as the container's host id, which owns neither (EPERM
		// on every run). A write to a cgroup.procs file opened here, as
		// root, is checked against the opener's credentials (Linux 5.16,
		// and the stable kernels' fix of CVE-2021-4197).
		conf.SyncStart = true
		// Without the files (an error, or more hierarchies than the
		// protocol carries) every run takes the round trip.
		c.entry = boxcfg.EntryHostMoves
		if files, err := c.group.ProcsFiles(); err == nil && len(files) <= protocol.MaxCgroupProcs {
			procs = files
			for _, f := range files {
				fds = append(fds, int(f.Fd()))
			}
			conf.CgroupProcs = len(files)
			c.entry = boxcfg.EntryJoinsItself
		} else {
			for _, f := range files {
				f.Close()
			}
		}
	}
	// The bind sources go as descriptors opened here, as root: the init
	// runs as the container's own host id and may not traverse the
	// directories above them (a test's 0700 temporary directory, /root).
	// They are opened through the init's root, so that they name mounts of
	// its mount namespace, the only ones it may bind from.
	initRoot := "/proc/" + strconv.Itoa(c.initPid) + "/root"
	for _, bd := range conf.Binds {
		src, err := os.OpenFile(initRoot+bd.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return c, fmt.Errorf("container: bind source %s: %w", bd.Source, err)
		}
		procs = append(procs, src) // closed with the cgroup files, once sent
		fds = append(fds, int(src.Fd()))
	}
	if len(fds) > unixsocket.MaxFDs {
		return c, fmt.Errorf("container: %d binds: a pooled container takes at most %d", len(conf.Binds), unixsocket.MaxFDs-len(fds)+len(conf.Binds))
	}
	if err := c.request(ctx, protocol.KindConf, protocol.MarshalConf(conf), fds, timeout); err != nil {
		var reply *replyError
		if !freshSkeleton && errors.As(err, &reply) && strings.HasPrefix(reply.r.Message, mountPlanFailure) {
			return c, fmt.Errorf("container: build: %w: %w", errSkeletonMissing, err)
		}
		return c, fmt.Errorf("container: build (does %s call container.MaybeRunInit first thing?): %w", c.initPath(), err)
	}
	c.lastUsed = time.Now()
	return c, nil
}

// prepareSkeleton makes sure the skeleton directory of the container's
// mount plan exists before the init needs it. The init compiles the plan
// itself but cannot create a skeleton from its user namespace, and the plan
// snapshots host files (/etc/ld.so.cache and friends), so a skeleton made
// by this long-lived process could name an older snapshot than the init
// sees. A fresh process of this program, run as root on the host, takes the
// same snapshot the init is about to take, and creates what is missing.
func (c *Container) prepareSkeleton(ctx context.Context, conf protocol.Conf, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.initPath())
	cmd.Args = []string{initArgv0, skeletonMarker}
	cmd.Env = []string{}
	cmd.Stdin = bytes.NewReader(protocol.MarshalConf(conf))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("container: mount plan skeleton (does %s call container.MaybeRunInit first thing?): %w: %s",
			c.initPath(), err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *Container) initPath() string {
	if c.b.InitPath != "" {
		return c.b.InitPath
	}
	return "/proc/self/exe"
}

// startInit starts the init in new namespaces from a goroutine locked to its
// thread for the init's whole life: Pdeathsig fires when the thread that
// started the child ends, and Go ends threads of goroutines that exit
// locked, so only a thread that outlives the init makes Pdeathsig mean
// "the host process died" (B4).
func (c *Container) startInit() error {
	// The init and its programs inherit this process's hard limits and
	// cannot raise them in their user namespace: lift them to what the
	// default limits ask for (RLIMIT_CORE 1 where `sudo` left 0).
	if os.Geteuid() == 0 {
		rlimit.RaiseHardLimits(rlimit.FromLimits(sandbox.Limits{}, c.group != nil)) // a run's own request names what failed
	}
	conn, peer, err := unixsocket.Pair()
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	if err := conn.SetPassCred(true); err != nil {
		conn.Close()
		peer.Close()
		return fmt.Errorf("container: %w", err)
	}
	c.conn = conn
	c.link = protocol.NewLink(conn, false)

	uid, gid := c.lease.UID, c.lease.GID
	// The init gets a cgroup namespace of its own; each program unshares
	// again once it joined its group (see build: programs join through
	// cgroup.procs files, never CLONE_INTO_CGROUP, which would need the
	// group inside the init's cgroup namespace).
	flags := uintptr(containerNamespaces | unix.CLONE_NEWCGROUP)
	// The init gets one P from the start (GOMAXPROCS): the runtime sizes
	// per-P caches and its idle threads by it, and the init never runs Go
	// code in parallel (runInit sets it again for inits started otherwise).
	cmd := &exec.Cmd{
		Path:       c.initPath(),
		Args:       []string{initArgv0, initMarker},
		Env:        []string{"GOMAXPROCS=1"},
		Dir:        "/",
		ExtraFiles: []*os.File{peer},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags:                 flags,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: sandbox.BoxUID, HostID: uid, Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: sandbox.BoxGID, HostID: gid, Size: 1}},
			GidMappingsEnableSetgroups: true, // the box drops its supplementary groups
			AmbientCaps:                initCaps,
			Pdeathsig:                  syscall.SIGKILL,
		},
	}
	if c.b.InitStderr != nil {
		cmd.Stderr = c.b.InitStderr
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The container's user namespace is owned by its own host id,
		// not by root: what the box uses of the per-user kernel counters
		// is charged to that id (H1).
		err := forkexec.AsOwner(c.lease.Owner, c.lease.Owner, cmd.Start)
		started <- err
		if err != nil {
			runtime.UnlockOSThread()
			return
		}
		cmd.Wait()
		close(c.initDone)
		runtime.UnlockOSThread()
	}()
	err = <-started
	peer.Close()
	if err != nil {
		close(c.initDone)
		return fmt.Errorf("container: start init %s: %w", c.initPath(), err)
	}
	c.cmd, c.initPid = cmd, cmd.Process.Pid
	go c.readLoop()
	return nil
}
