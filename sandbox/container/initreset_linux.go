package container

// The init's reset between runs: its checks and wipes, and the tidy-up begun as soon as a run ends.

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// reset makes the container as it was after build: no process but the
// init, a fresh /tmp, an empty /w with its original mode and owner and
// fresh times, a new network namespace for the next run, the pid counter
// where the build left it. IPC objects and the hostname need nothing: each
// run had its own IPC and UTS namespace.
func (s *initServer) reset() error {
	tidyErr := s.settle()
	if !s.othersChecked {
		if err := checkNoOthers(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		s.othersChecked = true
	}
	if tidyErr != nil {
		return fmt.Errorf("reset: %w", tidyErr)
	}
	if err := s.collectInFlight(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if err := s.emptyRunIPC(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if !s.tmpFresh {
		if err := s.tmp.remount(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		s.tmpFresh = true
	}
	for _, r := range s.roots {
		if err := r.wipe(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if s.nextNet < 0 {
		if err := s.prepareNet(); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if err := s.resetPids(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}

// idleTrimAfter is how long an init waits after a reset, with no command,
// before it gives back the memory its runs left. It is longer than the gaps
// of a busy pool, whose next run would pay for the pages mapped back.
const idleTrimAfter = 250 * time.Millisecond

// startTidy begins the part of the next reset that needs nothing from the
// host, as soon as a run is over (its program and every other box process
// reaped, the result sent): the run's IPC namespace emptied, /tmp mounted
// afresh, the check that no process is left and, unless under way already
// (see exec), the next run's network namespace. The remount costs more than
// the rest of a reset together (an unmount waits for an RCU grace period),
// and done here it overlaps the host's own work on the result (verdict,
// copy-out) instead of adding to the wait of a run that follows at once.
// reset and exec wait for all of it (settle) before they touch /tmp or the
// namespaces. Nothing runs in the box between the end of a run and the next
// exec, so the check made here holds for the reset.
func (s *initServer) startTidy() {
	if !s.netMaking && s.nextNet < 0 {
		s.inBackground(s.prepareNet)
	}
	s.inBackground(func() error {
		// First the run's IPC namespace: emptied and let go now, the
		// kernel's background release of it (and of the POSIX message
		// queues in it, charged to the box's host uid) starts as early as
		// it can.
		if err := s.emptyRunIPC(); err != nil {
			return err
		}
		if err := s.tmp.remount(); err != nil {
			return err
		}
		s.tmpFresh = true
		if err := checkNoOthers(); err != nil {
			return err
		}
		s.othersChecked = true
		return nil
	})
}

// backToBackWithin is how soon after a reset an exec must come for the
// runs to count as back to back (see backToBack): a run that waited for
// the reset comes some 0.4 ms (p50) to 0.8 ms (p90) after its answer on a
// busy 2-core host, one that did not (a batch doing its own work, a run of
// another runner between) later.
const backToBackWithin = 2 * time.Millisecond

// backToBack says whether the exec under way came right after the last
// reset (a host that waited for the reset says so itself, Exec.Queued; a
// loaded host can take longer than the window to send it): then the
// next run is likely to wait for the next reset too, and its network
// namespace is worth making while this program runs. Runs that come apart leave it to the tidy-up
// after the run: made beside the program it slowed that program (by some
// 0.05-0.1x the floor on a busy 2-core host) for a gain no spaced run
// sees.
func (s *initServer) backToBack() bool {
	return !s.lastReset.IsZero() && time.Since(s.lastReset) < backToBackWithin
}

// inBackground runs f on its own goroutine; settle waits for it. f may set
// the fields that only settle's callers read (tmpFresh, othersChecked,
// nextNet): settle orders those writes before their reads.
func (s *initServer) inBackground(f func() error) {
	done := make(chan error, 1)
	s.tidying = append(s.tidying, done)
	go func() { done <- f() }()
}

// settle waits for the work under way in the background, if any, and
// returns the first error of any such work so far.
func (s *initServer) settle() error {
	for _, done := range s.tidying {
		if err := <-done; err != nil && s.tidyErr == nil {
			s.tidyErr = err
		}
	}
	s.tidying = s.tidying[:0]
	s.netMaking = false
	return s.tidyErr
}

// checkNoOthers fails when the container holds a process besides the init.
func checkNoOthers() error {
	others, err := otherProcesses()
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("processes %v still alive", others)
	}
	return nil
}

// otherProcesses lists the pids in the container other than the init.
func otherProcesses() ([]int, error) {
	pids, err := numberedEntries("/proc")
	if err != nil {
		return nil, err
	}
	others := pids[:0]
	for _, pid := range pids {
		if pid != 1 {
			others = append(others, pid)
		}
	}
	return others, nil
}

// numberedEntries lists the entries of dir named by a number (the pids of
// /proc, the thread ids of /proc/self/task). The listing is read with plain
// system calls: through package os, which registers the directory with its
// poller and back, it took ten instead of four, each a trip through a
// costly system call entry on a paravirtualised host, on the path of every
// reset.
func numberedEntries(dir string) ([]int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	var ids []int
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		if n <= 0 {
			return ids, nil
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if id, err := strconv.Atoi(name); err == nil {
				ids = append(ids, id)
			}
		}
	}
}
