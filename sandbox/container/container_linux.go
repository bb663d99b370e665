package container

// Container: one built container's state and lifetime (health, Ping, Reset, Destroy) and the Shape it is built for.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/boxcfg"
	"gosandbox/sandbox/cgroup"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/hostid"
	"gosandbox/sandbox/mount"
	"gosandbox/sandbox/unixsocket"
	"gosandbox/sandbox/workdir"
)

// BackendName is what Result.Backend says for runs in a container.
const BackendName = "container"

// ErrBroken is wrapped by the errors of a container that can no longer be
// used: its init died, stopped answering or broke the protocol.
var ErrBroken = errors.New("container: broken")

// Shape is what a container is built with and cannot change afterwards: its
// extra binds and the size of its tmpfs mounts. Runs whose Spec asks for
// another shape need another container.
type Shape struct {
	Binds []sandbox.Bind
	Tmpfs int64 // 0 = sandbox.DefaultLimits.Tmpfs
	// sources is what the bind sources were when looked at (see
	// mount.BindSources): at the run for a spec's shape, before the build
	// for a container's.
	sources string
}

// ShapeOf returns the shape a spec needs.
func ShapeOf(spec sandbox.Spec) Shape {
	return Shape{Binds: spec.Binds, Tmpfs: spec.Limits.WithDefaults().Tmpfs}.looked()
}

// looked returns s with its bind sources as they are now.
func (s Shape) looked() Shape {
	s.sources = mount.BindSources(s.Binds)
	return s
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
	if s.Tmpfs != o.Tmpfs || len(s.Binds) != len(o.Binds) || s.sources != o.sources {
		return false
	}
	for i := range s.Binds {
		if s.Binds[i] != o.Binds[i] {
			return false
		}
	}
	return true
}

// Container is one running container: its init, the socket to it, its work
// directory and its cgroup. It runs one program at a time; Run, Ping and
// Reset must not be called concurrently.
type Container struct {
	b     *Builder
	shape Shape
	name  string

	cmd      *exec.Cmd
	initPid  int
	initDone chan struct{} // closed once the init has been reaped

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
	// entry is how programs enter the group, chosen at build: they join it
	// by themselves through cgroup.procs files the init holds, or, where
	// those could not be given, the host moves each one.
	entry boxcfg.CgroupEntry
	// cpusetLater says a CPU set was asked for after the build: the group
	// joined the cpuset hierarchy, which the init's files do not cover, so
	// runs go back to the host moving the program (runEntry).
	cpusetLater bool
	// queued says the run about to start waited for this container: runs
	// come back to back (Exec.Queued). Set by the pool as it hands it out.
	queued bool
	// selfReset says the container's user waits for the init's reset
	// after the run, not asking for it: the init resets by itself when the
	// host reads nothing of /w afterwards (Exec.ResetAfter). Set by the
	// pool as it hands it out. resetOwed is then the exec's sequence
	// number, which the init's answer echoes, once the program exited (0:
	// none owed).
	selfReset bool
	resetOwed uint32

	// rlimits is the last run's resource limits as sent to the init, and
	// the limits they were worked out from (see rlimitConf).
	rlimits struct {
		limits  sandbox.Limits
		cgroups bool
		conf    []protocol.RLimitConf
	}

	seq      uint32 // of the last message sent
	broken   atomic.Pointer[error]
	lastUsed time.Time
	runs     int

	destroyOnce sync.Once
	destroyErr  error
}

// runEntry is how the next run's program enters the group.
func (c *Container) runEntry() boxcfg.CgroupEntry {
	if c.entry == boxcfg.EntryJoinsItself && c.cpusetLater {
		return boxcfg.EntryHostMoves
	}
	return c.entry
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

// Ping checks that the init is alive and in step.
func (c *Container) Ping(ctx context.Context) error {
	return c.request(ctx, protocol.KindPing, nil, nil, c.b.replyTimeout())
}

// Reset wipes what the last run left (writable directories; its processes
// are gone already and its IPC and UTS namespaces died with it) and checks
// the result. A container whose reset fails is broken.
func (c *Container) Reset(ctx context.Context) error {
	seq, err := c.startReset()
	if err != nil {
		return err
	}
	return c.finishReset(ctx, seq)
}

// startReset sends the reset, so that the init starts on it at once; its
// sequence number is for finishReset. After a run whose exec said
// ResetAfter the init is resetting already, unasked: nothing is sent, and
// the answer comes as the exec's.
func (c *Container) startReset() (uint32, error) {
	// A cycle of descriptors in flight the run left is charged to the box's
	// host uid, which the next run keeps (U7), and the files it holds (a
	// memfd, a file of /w) to the box's cgroup (U4). The collection starts
	// here, so that it runs while the init resets; the init waits for it
	// when the run left sockets in flight (collectInFlight).
	unixsocket.CollectGarbage()
	if seq := c.resetOwed; seq != 0 {
		c.resetOwed = 0
		return seq, nil
	}
	return c.sendRequest(protocol.KindReset, nil, nil)
}

// finishReset waits for the init's part of the reset sent as seq, then
// does the host's.
func (c *Container) finishReset(ctx context.Context, seq uint32) error {
	if err := c.reply(ctx, protocol.KindReset, seq, c.b.replyTimeout()); err != nil {
		return err
	}
	// The cgroup's part comes only once the init has wiped /w, mounted
	// /tmp afresh and seen what was in flight closed: until then those
	// files are charged to the group, and a peak reset before would start
	// the next run at their size (U4).
	if c.group != nil {
		if err := c.resetGroup(); err != nil {
			return c.fail(fmt.Errorf("reset cgroup: %w", err))
		}
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
		// The init was reaped above, and with it every process of the
		// container: its host id is free.
		c.lease.Release()
		c.destroyErr = errors.Join(errs...)
	})
	return c.destroyErr
}

func ptr[T any](v T) *T { return &v }
