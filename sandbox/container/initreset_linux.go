package container

// The init's reset between runs: its checks and wipes, and the tidy-up begun as soon as a run ends.

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// reset makes the container as it was after build: no process but the
// init, a fresh /tmp, an empty /w with its original mode and owner and
// fresh times, a new network namespace for the next run, the pid counter
// where the build left it. IPC objects and the hostname need nothing: each
// run had its own IPC and UTS namespace.
func (s *initServer) reset() error {
	tidyErr := s.settle()
	if others, err := otherProcesses(); err != nil {
		return fmt.Errorf("reset: %w", err)
	} else if len(others) > 0 {
		return fmt.Errorf("reset: processes %v still alive", others)
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
// afresh and the next run's network namespace made. The last two cost more
// than the rest of a reset together (an unmount waits for an RCU grace
// period; a network namespace takes the kernel's rtnl lock), and done here
// they overlap the host's own work on the result (verdict, copy-out)
// instead of adding to the wait of a run that follows at once. reset and
// exec wait for it (settle) before they touch /tmp or the namespaces.
func (s *initServer) startTidy() {
	done := make(chan error, 1)
	s.tidying = done
	go func() {
		// First the run's IPC namespace: emptied and let go now, the
		// kernel's background release of it (and of the POSIX message
		// queues in it, charged to the box's host uid) starts as early as
		// it can.
		err := s.emptyRunIPC()
		if err == nil {
			err = s.tmp.remount()
		}
		if err == nil {
			s.tmpFresh = true
			if s.nextNet < 0 {
				err = s.prepareNet()
			}
		}
		done <- err
	}()
}

// settle waits for the tidy-up under way, if any, and returns the error of
// any tidy-up so far.
func (s *initServer) settle() error {
	if s.tidying != nil {
		if err := <-s.tidying; err != nil && s.tidyErr == nil {
			s.tidyErr = err
		}
		s.tidying = nil
	}
	return s.tidyErr
}

// otherProcesses lists the pids in the container other than the init.
func otherProcesses() ([]int, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid != 1 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
