package container

// The init's build of the container's root from the conf, and the skeleton helper the host runs before it.

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/container/internal/protocol"
	"gosandbox/sandbox/mount"
)

// mountPlanFailure starts the error text of a conf whose mount plan could not
// be compiled (the host then makes the plan's skeleton afresh and retries).
const mountPlanFailure = "init: mount plan:"

// skeletonMarker is argv[1] of the skeleton helper (see prepareSkeleton).
const skeletonMarker = "__gosandbox_container_skeleton__"

// runSkeletonHelper compiles the default mount plan of the Conf it reads on
// stdin, as root on the host, which creates the plan's skeleton directory
// if it is missing, and exits. It does nothing else.
func runSkeletonHelper() int {
	b, err := io.ReadAll(io.LimitReader(os.Stdin, protocol.MaxPacket))
	if err == nil {
		var c protocol.Conf
		if c, err = protocol.UnmarshalConf(b); err == nil {
			_, err = containerPlan(c.WorkDir, c.TmpfsSize, bindsOf(c))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// containerPlan is the default plan with /dev/shm a link to /tmp: every
// reset mounts /tmp afresh (see freshTmp), and a bind at /dev/shm would be
// a second unmount there, each waiting for an RCU grace period (some 35-80
// µs on a 2-vCPU host, more with the other vCPU busy).
func containerPlan(workDir string, tmpfsSize int64, binds []sandbox.Bind) (*mount.Plan, error) {
	return mount.Default(mount.Options{WorkDir: workDir, TmpfsSize: tmpfsSize, Binds: binds, ShmLink: true})
}

func bindsOf(c protocol.Conf) []sandbox.Bind {
	binds := make([]sandbox.Bind, len(c.Binds))
	for i, b := range c.Binds {
		binds[i] = sandbox.Bind{Source: b.Source, Target: b.Target, Writable: b.Writable}
	}
	return binds
}

// build makes the container's root with the default mount plan and pivots
// into it.
func (s *initServer) build(c protocol.Conf) error {
	plan, err := containerPlan(c.WorkDir, c.TmpfsSize, bindsOf(c))
	if err != nil {
		return fmt.Errorf("%s %w", mountPlanFailure, err)
	}
	// What needs the host's /proc (writable, unlike the container's) comes
	// before the pivot.
	if s.lastPid, err = unix.Open("/proc/sys/kernel/ns_last_pid", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("init: open ns_last_pid: %w", err)
	}
	if s.homeNet, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("init: open own network namespace: %w", err)
	}
	if s.homeIPC, err = unix.Open("/proc/thread-self/ns/ipc", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("init: open own IPC namespace: %w", err)
	}
	if err := plan.Apply(""); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if s.tmp, err = freshTmpOf(plan); err != nil {
		return err
	}
	roots, err := recordRoots(wipedRoots)
	if err != nil {
		return err
	}
	s.roots = roots
	s.tmpFresh = true
	if err := s.prepareNet(); err != nil {
		return err
	}
	// Threads the runtime would start later would take numbers from the
	// runs' range: start them now, and only then take the base.
	warmThreads(initThreads)
	if s.pidBase, err = s.readLastPid(); err != nil {
		return err
	}
	// What the build allocated is garbage now, and the host files the plan
	// read are not needed again: give it all back, and the pages of the
	// program the start-up read, so that an idle container costs little.
	mount.ForgetSnapshots()
	debug.FreeOSMemory()
	dropCleanFilePages()
	return nil
}
