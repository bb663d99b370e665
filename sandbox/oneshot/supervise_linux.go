package oneshot

// Supervision of a running box: wall, CPU and output limits, the kill, wait4.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/rlimit"
	"gosandbox/sandbox/verdict"
	"gosandbox/sandbox/workdir"
)

type exit struct {
	status syscall.WaitStatus
	rusage unix.Rusage
	err    error
	at     time.Time
}

// programPid is the program's host pid given the pid supervise waits
// for: that is the program itself when pid 1 lives apart (the vfork
// start), else pid 1, whose child's pid the supervisor does not learn (0).
func (b *box) programPid(waited int) int {
	if b.prep != nil {
		return waited
	}
	return 0
}

// supervise enforces the wall and CPU limits and the caller's output and
// context while the program runs, and reaps it. pid is the box's reaper
// (pid 1 of its pid namespace, so the last of the box's processes to go);
// supervise returns once it has been reaped.
//
// The caller holds the thread that cloned the box (see run) and waits for
// the reap on it, in the system call, while another goroutine watches the
// limits: a goroutine locked to its thread that blocked on a channel
// instead would need that thread woken and handed the processor when the
// program ends, a thread switch on the path of every result. Once reaped,
// the thread is let go (release) before the watcher is waited for.
func (b *box) supervise(ctx context.Context, pid int, start time.Time, facts *verdict.Facts, release func()) {
	exited := make(chan exit, 1)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.watch(ctx, pid, start, facts, exited)
	}()
	var e exit
	e.at, e.err = forkexec.WaitExit(pid, (*unix.WaitStatus)(&e.status), &e.rusage)
	exited <- e
	release()
	<-watched
}

// watch is supervise's watcher: it kills the box when a limit is reached
// or ctx ends, and makes the facts of the run once exited says how it
// ended.
func (b *box) watch(ctx context.Context, pid int, start time.Time, facts *verdict.Facts, exited <-chan exit) {
	wall := time.NewTimer(b.limits.Wall - time.Since(start))
	defer wall.Stop()
	poll := b.runner.CPUPoll
	if poll <= 0 {
		poll = DefaultCPUPoll
	}
	cpuTick := time.NewTicker(poll)
	defer cpuTick.Stop()
	stop := make(chan struct{})
	defer close(stop)
	overflow := workdir.Overflow(ctx, stop)
	done := ctx.Done()

	kill := func(why verdict.KillReason) {
		if facts.Killed == verdict.NotKilled {
			facts.Killed = why
		}
		b.killBox(pid)
	}
	for {
		select {
		case e := <-exited:
			facts.Wall = e.at.Sub(start)
			if e.err != nil {
				// Nobody else reaps our children; this would be a bug.
				facts.Err = fmt.Errorf("oneshot: wait4: %w", e.err)
				facts.Killed = verdict.KilledFailure
				b.killBox(pid)
			}
			// pid is the box's reaper; the program's own status is what it
			// left, unless the reaper was killed first (a limit, the
			// context), whose SIGKILL then stands for the box.
			facts.Status = e.status
			// A pid 1 apart (the vfork start) goes now, and with it
			// whatever the program left in the box's pid namespace.
			b.reaped.Kill()
			if st, ok := b.reaped.Status(); ok && e.err == nil {
				facts.Status = syscall.WaitStatus(st)
			}
			facts.Rusage = &e.rusage
			if facts.Status.Signaled() && facts.Status.Signal() == syscall.SIGSYS && facts.Syscalls == sandbox.SyscallsKill {
				facts.DeniedSyscall = b.kmsg.DeniedSyscallOf(b.programPid(pid), b.lease.UID)
			}
			// A capture that overflowed closed its pipe: the program may
			// have died of SIGPIPE before the overflow was seen above.
			for _, w := range workdir.Watches(ctx) {
				select {
				case <-w:
					facts.OutputExceeded = true
				default:
				}
			}
			// The box's pid namespace died with its pid 1; this catches
			// anything that was not in it (there should be nothing).
			if b.group != nil {
				b.group.KillAll()
			}
			return
		case <-wall.C:
			kill(verdict.KilledWall)
		case <-cpuTick.C:
			if facts.Killed != verdict.NotKilled {
				continue // dying already
			}
			cpu, err := b.cpuUsed(pid)
			if err == nil {
				facts.SampledCPU = max(facts.SampledCPU, cpu)
			}
			if err == nil && cpu >= b.limits.CPU {
				kill(verdict.KilledCPU)
			}
		case <-overflow:
			facts.OutputExceeded = true
			kill(verdict.KilledOutput)
			overflow = nil
		case <-done:
			if facts.Killed == verdict.NotKilled {
				facts.Err = ctx.Err()
			}
			kill(verdict.KilledCancel)
			done = nil
		}
	}
}

// killBox kills the box's pid 1, which takes the whole pid namespace with
// it, and every process of its cgroup. The pidfd makes the kill safe against
// pid reuse should the program have been reaped meanwhile.
func (b *box) killBox(pid int) {
	if b.pidfd >= 0 {
		unix.PidfdSendSignal(b.pidfd, unix.SIGKILL, nil, 0)
	} else {
		unix.Kill(pid, unix.SIGKILL)
	}
	b.reaped.Kill()
	if b.group != nil {
		b.group.KillAll()
	}
}

// cpuUsed is the box's CPU total: from its cgroup, which counts every thread
// and child (R2), or else from /proc for the program and the children it
// reaped.
func (b *box) cpuUsed(pid int) (time.Duration, error) {
	if b.group != nil {
		return b.group.CPU()
	}
	return treeCPU(pid)
}

// treeCPU is rlimit.ProcessCPU of pid (the box's reaper) and of its children (the
// program, and orphans not yet reaped): the reaper's own figure holds its
// children's only once they were reaped.
func treeCPU(pid int) (time.Duration, error) {
	total, err := rlimit.ProcessCPU(pid)
	if err != nil {
		return 0, err
	}
	p := strconv.Itoa(pid)
	kids, _ := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	for _, f := range strings.Fields(string(kids)) {
		if kid, err := strconv.Atoi(f); err == nil {
			if c, err := rlimit.ProcessCPU(kid); err == nil {
				total += c
			}
		}
	}
	return total, nil
}

// openPidfd returns a pidfd for pid, or -1 on kernels without pidfd_open.
func openPidfd(pid int) int {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	unix.CloseOnExec(fd)
	return fd
}
