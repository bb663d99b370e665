package oneshot

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// netStockSize is how many fresh network namespaces a Runner keeps ready.
const netStockSize = 2

// netStock keeps fresh, empty network namespaces made ahead of need: making
// one is the costliest part of a box's start (about as much as a whole
// fork+exec+wait of a small program here), and it does not depend on the
// run. Each namespace is handed out once, to one box, and never reused; the
// stock only holds descriptors, so nothing of it outlives the process.
type netStock struct {
	mu       sync.Mutex
	ready    []int
	running  bool
	idle     *sync.Cond // signalled when fill stops
	disabled bool       // making namespaces failed: boxes make their own
	home     int        // this process's network namespace, while fill runs

	hits, misses int // takes served from the stock, and not (benchmarks)
}

// take returns a descriptor of a fresh network namespace, or -1 when the
// stock is empty; the caller closes it. Either way the stock is refilled
// in the background.
func (s *netStock) take() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	fd := -1
	if n := len(s.ready); n > 0 {
		fd = s.ready[n-1]
		s.ready = s.ready[:n-1]
		s.hits++
	} else {
		s.misses++
	}
	if !s.running && !s.disabled && len(s.ready) < netStockSize {
		if s.idle == nil {
			s.idle = sync.NewCond(&s.mu)
		}
		s.running = true
		go s.fill()
	}
	return fd
}

// fill makes namespaces until the stock is full, on a thread of its own
// that enters each new namespace and comes back.
func (s *netStock) fill() {
	runtime.LockOSThread()
	// The way home, kept only while filling: the package holds no
	// descriptor between runs but those in stock.
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		s.mu.Lock()
		s.disabled, s.running = true, false
		s.idle.Broadcast()
		s.mu.Unlock()
		runtime.UnlockOSThread()
		return
	}
	s.home = home
	defer unix.Close(home)
	for {
		fd, ok := s.makeOne()
		if !ok {
			// The thread may be stranded in a namespace of its own: it
			// stays locked, so it ends with this goroutine.
			s.mu.Lock()
			s.disabled, s.running = true, false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		if fd >= 0 {
			s.ready = append(s.ready, fd)
		} else {
			s.disabled = true // no privilege for it, most likely
		}
		if s.disabled || len(s.ready) >= netStockSize {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			runtime.UnlockOSThread()
			return
		}
		s.mu.Unlock()
	}
}

// makeOne makes a namespace and returns its descriptor (-1 when it could
// not be made); ok is false when the thread could not come back home.
func (s *netStock) makeOne() (fd int, ok bool) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return -1, true
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	if err := unix.Setns(s.home, unix.CLONE_NEWNET); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, false
	}
	return fd, true
}

// drain waits for a fill under way and closes the namespaces held in
// stock. A later take fills it again.
func (s *netStock) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.running {
		s.idle.Wait()
	}
	for _, fd := range s.ready {
		unix.Close(fd)
	}
	s.ready = nil
}
