package oneshot

// The Runner's stock of fresh network namespaces, made ahead of need.

import (
	"sync"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/forkexec"
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
	if !s.disabled && !sandbox.HostIsRoot() {
		// The supervisor enters a namespace for each start, which takes
		// CAP_SYS_ADMIN in its own user namespace: boxes make their own.
		s.disabled = true
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

// fill makes namespaces until the stock is full (see forkexec.NewNetNS:
// each is owned by a user namespace of its own and has its loopback up).
func (s *netStock) fill() {
	for {
		fd, err := forkexec.NewNetNS()
		s.mu.Lock()
		if err == nil {
			s.ready = append(s.ready, fd)
		} else {
			s.disabled = true // no privilege for it, most likely
		}
		if s.disabled || len(s.ready) >= netStockSize {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
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
