package container

// The host side of one container: Builder, Container, build, request/reply, run supervision.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/seccomp"
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
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/tty"
	"gosandbox/sandbox/unixsocket"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

// BackendName is what Result.Backend says for runs in a container.
const BackendName = "container"

// Bounds of the host's waits on an init. They are not timing expectations:
// an init answers in microseconds. They turn a stuck or stopped init into an
// error (and a replaced container) instead of a caller that hangs (B6).
const (
	DefaultBuildTimeout = 30 * time.Second
	DefaultReplyTimeout = 5 * time.Second
	// cpuPoll is the period of the CPU-limit check.
	cpuPoll = 10 * time.Millisecond
)

// ErrBroken is wrapped by the errors of a container that can no longer be
// used: its init died, stopped answering or broke the protocol.
var ErrBroken = errors.New("container: broken")

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

// Shape is what a container is built with and cannot change afterwards: its
// extra binds and the size of its tmpfs mounts. Runs whose Spec asks for
// another shape need another container.
type Shape struct {
	Binds []sandbox.Bind
	Tmpfs int64 // 0 = sandbox.DefaultLimits.Tmpfs
}

// ShapeOf returns the shape a spec needs.
func ShapeOf(spec sandbox.Spec) Shape {
	return Shape{Binds: spec.Binds, Tmpfs: spec.Limits.WithDefaults().Tmpfs}
}

func (s Shape) normal() Shape {
	if s.Tmpfs <= 0 {
		s.Tmpfs = sandbox.DefaultLimits.Tmpfs
	}
	return s
}

// Equal reports whether two shapes build the same container.
func (s Shape) Equal(o Shape) bool {
	s, o = s.normal(), o.normal()
	if s.Tmpfs != o.Tmpfs || len(s.Binds) != len(o.Binds) {
		return false
	}
	for i := range s.Binds {
		if s.Binds[i] != o.Binds[i] {
			return false
		}
	}
	return true
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

// Container is one running container: its init, the socket to it, its work
// directory and its cgroup. It runs one program at a time; Run, Ping and
// Reset must not be called concurrently.
type Container struct {
	b     *Builder
	shape Shape
	name  string

	cmd     *exec.Cmd
	initPid int
	// programPid is the host pid of the current run's program, from the
	// credentials of its started message (names a denied syscall).
	programPid int
	initDone   chan struct{} // closed once the init has been reaped

	conn    *unixsocket.Conn
	link    *protocol.Link
	in      chan protocol.Message
	dead    chan struct{} // closed when the socket failed; deadErr says why
	deadErr error
	closing chan struct{}

	wd          *workdir.Dir
	lease       *hostid.Lease // the container's own host uid and gid (H1)
	group       *cgroup.Group
	groupLimits cgroup.Limits
	syncStart   bool
	// directStart: the init holds the group's cgroup.procs files and each
	// program joins the group by itself (cgroup v1 without a round trip),
	// as long as the group stays in the hierarchies those files cover:
	// cpusetLater says a CPU set was asked for after the build, so the
	// group joined the cpuset hierarchy and runs go back to the round trip.
	directStart bool
	cpusetLater bool
	runSync     bool // the run in progress takes the started/proceed round trip
	startedSeen bool // the run in progress reported its pid (direct start)
	devNull     *os.File

	seq        uint32
	mayHaveRun bool // the run in progress got far enough that the program may have run
	broken     atomic.Pointer[error]
	lastUsed   time.Time
	runs       int

	destroyOnce sync.Once
	destroyErr  error
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
	shape = shape.normal()
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
	if c.devNull, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
		return c, fmt.Errorf("container: %w", err)
	}
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
	} else if _, err := mount.Default(mount.Options{WorkDir: conf.WorkDir, TmpfsSize: conf.TmpfsSize, Binds: shape.Binds}); err != nil {
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
		c.syncStart = true
		conf.SyncStart = true
		// Without the files (an error, or more hierarchies than the
		// protocol carries) every run takes the round trip.
		if files, err := c.group.ProcsFiles(); err == nil && len(files) <= protocol.MaxCgroupProcs {
			procs = files
			for _, f := range files {
				fds = append(fds, int(f.Fd()))
			}
			conf.CgroupProcs = len(files)
			c.directStart = true
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
	cmd := &exec.Cmd{
		Path:       c.initPath(),
		Args:       []string{initArgv0, initMarker},
		Env:        []string{},
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

// readLoop hands every message to whoever waits for one; the first error
// (the init closed the socket or sent garbage) marks the container dead.
func (c *Container) readLoop() {
	for {
		m, err := c.link.Recv()
		if err != nil {
			c.deadErr = err
			close(c.dead)
			return
		}
		select {
		case c.in <- m:
		case <-c.closing:
			m.CloseFDs()
			return
		}
	}
}

// fail marks the container broken for good and returns err wrapped.
func (c *Container) fail(err error) error {
	err = fmt.Errorf("%w: %w", ErrBroken, err)
	c.broken.CompareAndSwap(nil, &err)
	return err
}

// Broken returns why the container cannot be used any more, or nil.
func (c *Container) Broken() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	select {
	case <-c.dead:
		return c.fail(fmt.Errorf("connection to the init lost: %w", c.deadErr))
	case <-c.initDone:
		return c.fail(errors.New("the init exited"))
	default:
	}
	return nil
}

// Shape is what the container was built with.
func (c *Container) Shape() Shape { return c.shape }

// InitPid is the host pid of the container's init.
func (c *Container) InitPid() int { return c.initPid }

// Runs is how many programs the container has run.
func (c *Container) Runs() int { return c.runs }

// IdleSince is when the container last finished a command.
func (c *Container) IdleSince() time.Time { return c.lastUsed }

func (c *Container) send(kind protocol.Kind, body []byte, fds []int, cred *unix.Ucred) (uint32, error) {
	c.seq++
	if err := c.sendSeq(kind, c.seq, body, fds, cred); err != nil {
		return 0, err
	}
	return c.seq, nil
}

// sendSeq sends one message with a given sequence number. A stopped init
// stops reading and its socket queue fills up: the deadline keeps the host
// from blocking on it for good.
func (c *Container) sendSeq(kind protocol.Kind, seq uint32, body []byte, fds []int, cred *unix.Ucred) error {
	c.conn.SetWriteDeadline(time.Now().Add(c.b.replyTimeout()))
	if err := c.link.Send(kind, seq, body, fds, cred); err != nil {
		return c.fail(fmt.Errorf("send %s: %w", kind, err))
	}
	return nil
}

// await waits for the next message, bounded by ctx, timeout and the init's
// death. A wrong sequence number breaks the container.
func (c *Container) await(ctx context.Context, seq uint32, timeout time.Duration) (protocol.Message, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m := <-c.in:
		if m.Seq != seq {
			m.CloseFDs()
			return protocol.Message{}, c.fail(protocol.Errorf("%s for request %d while waiting for %d", m.Kind, m.Seq, seq))
		}
		return m, nil
	case <-c.dead:
		return protocol.Message{}, c.fail(fmt.Errorf("connection to the init lost: %w", c.deadErr))
	case <-t.C:
		return protocol.Message{}, c.fail(fmt.Errorf("the init did not answer within %v", timeout))
	case <-ctx.Done():
		// The exchange is half done: the container cannot be trusted to be
		// in step any more.
		return protocol.Message{}, c.fail(fmt.Errorf("cancelled while waiting for the init: %w", ctx.Err()))
	}
}

// request sends a command and expects KindOK; KindError becomes an error.
func (c *Container) request(ctx context.Context, kind protocol.Kind, body []byte, fds []int, timeout time.Duration) error {
	seq, err := c.sendRequest(kind, body, fds)
	if err != nil {
		return err
	}
	return c.reply(ctx, kind, seq, timeout)
}

// sendRequest sends a command whose answer reply then waits for.
func (c *Container) sendRequest(kind protocol.Kind, body []byte, fds []int) (uint32, error) {
	if err := c.Broken(); err != nil {
		return 0, err
	}
	return c.send(kind, body, fds, nil)
}

// reply waits for the answer to the command kind sent as seq: KindOK, or
// KindError, which becomes an error.
func (c *Container) reply(ctx context.Context, kind protocol.Kind, seq uint32, timeout time.Duration) error {
	m, err := c.await(ctx, seq, timeout)
	if err != nil {
		return err
	}
	defer m.CloseFDs()
	if len(m.FDs) != 0 {
		return c.fail(protocol.Errorf("%s reply with descriptors", kind))
	}
	switch m.Kind {
	case protocol.KindOK:
		if err := protocol.EmptyBody(m.Kind, m.Body); err != nil {
			return c.fail(err)
		}
		c.lastUsed = time.Now()
		return nil
	case protocol.KindError:
		r, err := protocol.UnmarshalError(m.Body)
		if err != nil {
			return c.fail(err)
		}
		// A failed command leaves the container in an unknown state.
		return c.fail(&replyError{kind, r})
	}
	return c.fail(protocol.Errorf("%s in reply to %s", m.Kind, kind))
}

// replyError is a command the init answered with KindError.
type replyError struct {
	kind protocol.Kind
	r    protocol.ErrorReply
}

func (e *replyError) Error() string {
	if e.r.Errno != 0 {
		return fmt.Sprintf("%s: %s (%v)", e.kind, e.r.Message, unix.Errno(e.r.Errno))
	}
	return fmt.Sprintf("%s: %s", e.kind, e.r.Message)
}

// Unwrap gives the errno, if any, to errors.Is.
func (e *replyError) Unwrap() error {
	if e.r.Errno != 0 {
		return unix.Errno(e.r.Errno)
	}
	return nil
}

// Ping checks that the init is alive and in step.
func (c *Container) Ping(ctx context.Context) error {
	return c.request(ctx, protocol.KindPing, nil, nil, c.b.replyTimeout())
}

// Reset wipes what the last run left (writable directories; its processes
// are gone already and its IPC and UTS namespaces died with it) and checks
// the result. A container whose reset fails is broken.
func (c *Container) Reset(ctx context.Context) error {
	seq, err := c.sendRequest(protocol.KindReset, nil, nil)
	if err != nil {
		return err
	}
	// The cgroup's part runs while the init does its own: the group has
	// been empty since the run's end (the init reports it only once every
	// box process is reaped), and nothing the init does is charged to it.
	var cgErr error
	if c.group != nil {
		cgErr = c.resetGroup()
	}
	if err := c.reply(ctx, protocol.KindReset, seq, c.b.replyTimeout()); err != nil {
		return err
	}
	if cgErr != nil {
		return c.fail(fmt.Errorf("reset cgroup: %w", cgErr))
	}
	return nil
}

// resetGroup has the kernel reclaim what the empty group is still charged
// for (page cache of files the run read), so that the peak reset after it
// starts near zero (U4), and resets its counters and limits.
func (c *Container) resetGroup() error {
	if err := c.group.Reclaim(); err != nil {
		return err
	}
	l := groupLimits(sandbox.DefaultLimits)
	if err := c.group.Reset(l); err != nil {
		return err
	}
	c.groupLimits = l
	return nil
}

func groupLimits(l sandbox.Limits) cgroup.Limits {
	return cgroup.Limits{Memory: l.Memory, Procs: l.Procs, CPUSet: l.CPUSet}
}

// Destroy kills the init (and with it, as pid 1 of the container's pid
// namespace, every process of the container), reaps it and removes the
// cgroup and the work directory. It is idempotent.
func (c *Container) Destroy() error {
	c.destroyOnce.Do(func() {
		c.broken.CompareAndSwap(nil, ptr(fmt.Errorf("%w: destroyed", ErrBroken)))
		var errs []error
		close(c.closing)
		if c.cmd != nil && c.cmd.Process != nil {
			c.cmd.Process.Kill()
			<-c.initDone
		}
		if c.conn != nil {
			c.conn.Close()
		}
		if c.group != nil {
			if err := c.group.Remove(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.wd != nil {
			if err := c.wd.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.devNull != nil {
			c.devNull.Close()
		}
		// The init was reaped above, and with it every process of the
		// container: its host id is free.
		c.lease.Release()
		c.destroyErr = errors.Join(errs...)
	})
	return c.destroyErr
}

func ptr[T any](v T) *T { return &v }

// Run runs spec in the container and returns its result. The spec must be
// valid and of the container's shape (the Pool sees to both). Failures of
// the container itself are internal-error results, and the container is
// then Broken.
func (c *Container) Run(ctx context.Context, spec sandbox.Spec) sandbox.Result {
	res, _ := c.runOnce(ctx, spec)
	return res
}

// runOnce is Run, also saying whether the program surely never ran: the
// container broke before the init took the request (its socket was closed
// already, or it died before the program was placed in its cgroup). Such a
// run may be retried on another container.
func (c *Container) runOnce(ctx context.Context, spec sandbox.Spec) (res sandbox.Result, neverRan bool) {
	// Terminal modes the program changes do not outlive the run (H4).
	defer tty.Save(append([]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.ExtraFiles...)...)()
	c.mayHaveRun = false
	limits := spec.Limits.WithDefaults()
	mode := spec.Syscalls
	if mode == "" {
		mode = sandbox.SyscallsErrno
	}
	facts := verdict.Facts{Limits: limits, Syscalls: mode}
	res = c.run(ctx, spec, limits, mode, &facts)
	if len(spec.CopyOut) > 0 && res.Status != sandbox.StatusInternalError {
		res.Files, res.FileErrors = c.wd.CopyOut(spec.CopyOut, limits.Output)
	}
	res.Backend = BackendName
	c.runs++
	c.lastUsed = time.Now()
	return res, res.Status == sandbox.StatusInternalError && !c.mayHaveRun && c.Broken() != nil
}

func (c *Container) decide(f verdict.Facts) sandbox.Result {
	r := verdict.Decide(f)
	if f.Cgroup == nil && c.group != nil {
		r.Accounting = c.b.cgInfo.Accounting()
	}
	return r
}

func (c *Container) internal(f *verdict.Facts, err error) sandbox.Result {
	f.StartErr = err
	return c.decide(*f)
}

func (c *Container) run(ctx context.Context, spec sandbox.Spec, limits sandbox.Limits, mode sandbox.SyscallMode, facts *verdict.Facts) sandbox.Result {
	if err := c.Broken(); err != nil {
		return c.internal(facts, err)
	}
	if err := c.wd.CopyIn(spec.CopyIn); err != nil {
		return c.internal(facts, fmt.Errorf("container: %w", err))
	}
	if c.group != nil {
		if l := groupLimits(limits); l != c.groupLimits {
			if l.CPUSet != "" && c.groupLimits.CPUSet == "" {
				c.cpusetLater = true
			}
			if err := c.group.Reset(l); err != nil {
				return c.internal(facts, c.fail(fmt.Errorf("set cgroup limits: %w", err)))
			}
			c.groupLimits = l
		}
	}
	if n := argBytes(spec); n > maxArgBytes {
		// The kernel refuses this in execve whatever the stack limit; say
		// so as it would, without shipping megabytes to the init.
		return c.internal(facts, &startError{protocol.ExecFailed{ProgramFault: true, Errno: uint32(unix.E2BIG),
			Message: fmt.Sprintf("execve: %v (%d bytes of arguments and environment, the kernel takes at most %d)", unix.E2BIG, n, maxArgBytes)}})
	}
	x, fds := c.execRequest(spec, limits, mode)
	c.runSync = c.syncStart && (!c.directStart || c.cpusetLater)
	x.Sync = c.directStart && c.runSync
	c.startedSeen = false
	c.programPid = 0
	// What the protocol cannot carry is refused here, so that the init
	// never sees a request it must reject (and the container survives).
	if len(x.Files) > protocol.MaxChildFiles {
		return c.internal(facts, fmt.Errorf("container: %d descriptors for the program, at most %d", len(x.Files), protocol.MaxChildFiles))
	}
	if len(x.Hostname) > protocol.MaxHostname {
		return c.internal(facts, fmt.Errorf("container: hostname %q: longer than %d bytes", x.Hostname, protocol.MaxHostname))
	}
	start := time.Now() // monotonic (R13)
	seq, err := c.send(protocol.KindExec, protocol.MarshalExec(x), fds, nil)
	if err != nil {
		return c.internal(facts, err)
	}
	// Without the sync step the init may start the program as soon as it
	// reads the request.
	c.mayHaveRun = !c.runSync
	return c.supervise(ctx, spec, seq, start, limits, facts)
}

// maxArgBytes is the most argv and environment execve accepts with any
// stack limit: three quarters of the kernel's 8 MiB cap on the stack rlimit
// it takes into account (fs/exec.c).
const maxArgBytes = 6 << 20

func argBytes(spec sandbox.Spec) int {
	n := 0
	for _, l := range [][]string{spec.Args, spec.Env} {
		for _, s := range l {
			n += len(s) + 1
		}
	}
	return n
}

// execRequest describes the program for the init, with the descriptors to
// pass: one per open child descriptor, nil standard streams being /dev/null.
func (c *Container) execRequest(spec sandbox.Spec, limits sandbox.Limits, mode sandbox.SyscallMode) (protocol.Exec, []int) {
	hostname := spec.Hostname
	if hostname == "" {
		hostname = sandbox.DefaultHostname
	}
	x := protocol.Exec{
		Args:     spec.Args,
		Env:      spec.Env,
		Dir:      spec.Dir,
		Hostname: hostname,
		Syscalls: string(mode),
	}
	rlimits := rlimit.FromLimits(limits, c.group != nil)
	if os.Geteuid() == 0 {
		// Lifts nothing the init's start did not (the same defaults), but
		// lowers RLIMIT_CORE as the init's start found it must; a limit
		// that cannot be lifted is named by the init's setrlimit.
		rlimit.RaiseHardLimits(rlimits)
	}
	for _, r := range rlimits {
		x.RLimits = append(x.RLimits, protocol.RLimitConf{Resource: int32(r.Resource), Cur: r.Limit.Cur, Max: r.Limit.Max})
	}
	var fds []int
	for i, f := range append([]*os.File{spec.Stdin, spec.Stdout, spec.Stderr}, spec.ExtraFiles...) {
		switch {
		case f != nil:
			// Fd puts the descriptor in blocking mode, which is what a
			// program expects of its standard streams.
			fds = append(fds, int(f.Fd()))
			x.Files = append(x.Files, true)
		case i < 3:
			fds = append(fds, int(c.devNull.Fd()))
			x.Files = append(x.Files, true)
		default:
			x.Files = append(x.Files, false)
		}
	}
	return x, fds
}

// supervise waits for the program's end while enforcing the wall and CPU
// limits, the captures' output limit and the caller's context.
func (c *Container) supervise(ctx context.Context, spec sandbox.Spec, seq uint32, start time.Time, limits sandbox.Limits, facts *verdict.Facts) sandbox.Result {
	wall := time.NewTimer(limits.Wall)
	defer wall.Stop()
	var cpuTick <-chan time.Time
	if c.group != nil || limits.CPU > 0 {
		t := time.NewTicker(cpuPoll)
		defer t.Stop()
		cpuTick = t.C
	}
	var grace <-chan time.Time
	// The init answers an exec at once: when the program waits in the sync
	// step, a missing Started means a stuck init, not a slow program.
	var startTimeout <-chan time.Time
	if c.runSync {
		t := time.NewTimer(c.b.replyTimeout())
		defer t.Stop()
		startTimeout = t.C
	}
	stop := make(chan struct{})
	defer close(stop)
	overflow := workdir.Overflow(ctx, stop)
	done := ctx.Done()
	killSent := false
	kill := func(why verdict.KillReason) {
		if facts.Killed == verdict.NotKilled {
			facts.Killed = why
		}
		if !killSent {
			killSent = true
			if _, err := c.send(protocol.KindKill, nil, nil, nil); err != nil {
				return // the dead channel ends the wait
			}
			grace = time.After(c.b.replyTimeout())
		}
	}
	started := !c.runSync
	for {
		select {
		case m := <-c.in:
			res, end := c.handleRunMessage(ctx, m, spec, seq, &started, start, facts)
			if end {
				return res
			}
		case <-c.dead:
			facts.Wall = time.Since(start)
			if !c.runSync && !killSent && !c.startedSeen && errors.Is(c.deadErr, unix.ECONNRESET) {
				// The init closed its end with our exec still unread in
				// its queue (the kernel says so with ECONNRESET, and
				// nothing else was sent to it): the program never ran, so
				// the run may move to another container.
				c.mayHaveRun = false
			}
			return c.internal(facts, c.fail(fmt.Errorf("container init lost during the run: %w", c.deadErr)))
		case <-startTimeout:
			if !started {
				facts.Wall = time.Since(start)
				return c.internal(facts, c.fail(fmt.Errorf("the init did not start the program within %v", c.b.replyTimeout())))
			}
		case <-grace:
			facts.Wall = time.Since(start)
			return c.internal(facts, c.fail(fmt.Errorf("the init did not end the program within %v of the kill", c.b.replyTimeout())))
		case <-wall.C:
			kill(verdict.KilledWall)
		case <-cpuTick:
			if facts.Killed != verdict.NotKilled || !started {
				continue
			}
			cpu, err := c.programCPU()
			if err != nil {
				continue
			}
			facts.SampledCPU = max(facts.SampledCPU, cpu)
			if limits.CPU > 0 && cpu >= limits.CPU {
				kill(verdict.KilledCPU)
			}
		case <-overflow:
			facts.OutputExceeded = true
			overflow = nil
			kill(verdict.KilledOutput)
		case <-done:
			done = nil
			if facts.Killed == verdict.NotKilled {
				facts.Err = ctx.Err()
			}
			kill(verdict.KilledCancel)
		}
	}
}

// programCPU is the run's CPU total: its cgroup's, or without cgroups the
// program's own (every thread, and the children it reaped) from /proc. The
// RLIMIT_CPU backstop sits a second or more above the limit, and a slow
// machine's tick-based CPU clock overshoots it further.
func (c *Container) programCPU() (time.Duration, error) {
	if c.group != nil {
		return c.group.CPU()
	}
	if c.programPid <= 0 {
		return 0, errors.New("container: the program's pid is not known yet")
	}
	return rlimit.ProcessCPU(c.programPid)
}

// handleRunMessage handles one message of a run in progress; end says the
// run is over and res is its result.
func (c *Container) handleRunMessage(ctx context.Context, m protocol.Message, spec sandbox.Spec, seq uint32, started *bool, start time.Time, facts *verdict.Facts) (res sandbox.Result, end bool) {
	defer m.CloseFDs()
	bad := func(err error) (sandbox.Result, bool) {
		facts.Wall = time.Since(start)
		return c.internal(facts, c.fail(err)), true
	}
	if m.Seq != seq || len(m.FDs) != 0 {
		return bad(protocol.Errorf("%s (seq %d, %d descriptors) during run %d", m.Kind, m.Seq, len(m.FDs), seq))
	}
	switch m.Kind {
	case protocol.KindStarted:
		if !c.runSync {
			// The program joined its cgroup by itself (or there is none);
			// the init only says which process it is.
			if c.startedSeen {
				return bad(protocol.Errorf("started twice"))
			}
			if _, err := protocol.UnmarshalStarted(m.Body); err != nil {
				return bad(err)
			}
			if m.Cred == nil || m.Cred.Pid <= 0 {
				return bad(protocol.Errorf("started without the program's pid as credentials"))
			}
			c.startedSeen = true
			c.programPid = int(m.Cred.Pid)
			return sandbox.Result{}, false
		}
		if *started || !c.runSync {
			return bad(protocol.Errorf("started twice"))
		}
		if _, err := protocol.UnmarshalStarted(m.Body); err != nil {
			return bad(err)
		}
		if m.Cred == nil || m.Cred.Pid <= 0 {
			return bad(protocol.Errorf("started without the program's pid as credentials"))
		}
		*started = true
		c.mayHaveRun = true
		c.programPid = int(m.Cred.Pid)
		p := protocol.Proceed{OK: true}
		if err := c.group.AddProc(int(m.Cred.Pid)); err != nil {
			p = protocol.Proceed{Message: fmt.Sprintf("join cgroup: %v", err)}
		}
		if err := c.sendSeq(protocol.KindProceed, seq, protocol.MarshalProceed(p), nil, nil); err != nil {
			return bad(err)
		}
		return sandbox.Result{}, false
	case protocol.KindExecFailed:
		f, err := protocol.UnmarshalExecFailed(m.Body)
		if err != nil {
			return bad(err)
		}
		facts.Wall = time.Since(start)
		var e error = &startError{f}
		if facts.Killed == verdict.KilledCancel && facts.Err != nil {
			e = fmt.Errorf("%w: %w", facts.Err, e)
		}
		res := c.internal(facts, e)
		if c.group != nil && facts.Killed == verdict.NotKilled && unix.Errno(f.Errno) == unix.ENOMEM {
			// A start cut short for want of memory (the child joins its
			// group first thing) with the group at its limit is the
			// limit's verdict.
			if u, err := c.group.Usage(); err == nil && memoryAtLimit(u, facts.Limits.Memory) {
				res.Status = sandbox.StatusMemoryLimit
				res.Message = fmt.Sprintf("memory limit %s reached before the program started: %s", sandbox.FormatSize(facts.Limits.Memory), f.Message)
				res.OOMKilled = u.OOMKilled
				res.MemoryBytes = u.MemoryPeak
			}
		}
		return res, true
	case protocol.KindExited:
		x, err := protocol.UnmarshalExited(m.Body)
		if err != nil {
			return bad(err)
		}
		if !*started {
			return bad(protocol.Errorf("exited before started"))
		}
		facts.Wall = time.Since(start)
		facts.Status = syscall.WaitStatus(x.WaitStatus)
		facts.Rusage = &unix.Rusage{
			Utime:  unix.NsecToTimeval(x.UserNanos),
			Stime:  unix.NsecToTimeval(x.SysNanos),
			Maxrss: x.MaxRSSKiB,
			Nvcsw:  x.VoluntarySwitches,
			Nivcsw: x.ForcedSwitches,
		}
		facts.FileAtLimit = workdir.StreamAtLimit(facts.Limits.Output, spec.Stdout, spec.Stderr) ||
			c.wd.HasFileAtLeast(facts.Limits.Output)
		if facts.Status.Signaled() && facts.Status.Signal() == syscall.SIGSYS && c.programPid > 0 {
			facts.DeniedSyscall = seccomp.DeniedSyscall(c.programPid)
		}
		// A capture that overflowed stops reading: the program may have
		// died of SIGPIPE before the overflow reached the select above.
		for _, w := range workdir.Watches(ctx) {
			select {
			case <-w:
				facts.OutputExceeded = true
			default:
			}
		}
		if c.group != nil {
			u, err := c.group.Usage()
			if err != nil && facts.Err == nil {
				facts.Err = fmt.Errorf("container: read cgroup accounting: %w", err)
			}
			facts.Cgroup = &verdict.CgroupUsage{
				CPU: u.CPU, MemoryPeak: u.MemoryPeak, OOMKilled: u.OOMKilled,
				ProcsPeak: u.ProcsPeak, Accounting: c.b.cgInfo.Accounting(), PeakSource: u.PeakSource,
			}
		}
		return c.decide(*facts), true
	}
	return bad(protocol.Errorf("unexpected %s during a run", m.Kind))
}

// memoryAtLimit reports whether the group's memory use reached its limit:
// the kernel says so (a failed charge, an OOM kill), or the peak is within a
// page of it, where the next charge fails (kernels that count no failure
// for a limit rounded down to 0).
func memoryAtLimit(u cgroup.Usage, limit int64) bool {
	return u.MemoryLimitHit || u.OOMKilled || (limit > 0 && u.MemoryPeak+int64(os.Getpagesize()) > limit)
}

// startError is a program that never ran, as the init reported it. It is
// the program's fault (exec-error) when execve itself refused it.
type startError struct{ f protocol.ExecFailed }

func (e *startError) Error() string      { return e.f.Message }
func (e *startError) ProgramFault() bool { return e.f.ProgramFault }
