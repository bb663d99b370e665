package oneshot

// The Runner's stock of prepared boxes for the vfork start: host ids, a user namespace mapping them, a network namespace inside it.

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
	"gosandbox/sandbox/forkexec"
	"gosandbox/sandbox/hostid"
)

// boxStockSize is how many prepared boxes a Runner keeps ready: one for the
// next run and one being made.
const boxStockSize = 2

// prepBox is what a box started with vfork (see Runner.vforkStart) takes
// from ahead of its run: its host ids, a user namespace mapping the box's
// ids to them, owned by the lease's owner id, and a network namespace made
// inside it with its loopback up. Each serves exactly one run.
type prepBox struct {
	lease         *hostid.Lease
	userNS, netNS int
}

func makePrepBox() (*prepBox, error) {
	lease, err := hostid.Acquire()
	if err != nil {
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	userNS, err := forkexec.NewUserNS(lease.Owner, lease.Owner,
		[]forkexec.IDMap{{Inside: sandbox.BoxUID, Outside: lease.UID, Size: 1}},
		[]forkexec.IDMap{{Inside: sandbox.BoxGID, Outside: lease.GID, Size: 1}})
	if err != nil {
		lease.Release()
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	netNS, err := forkexec.NewNetNSIn(userNS)
	if err != nil {
		unix.Close(userNS)
		lease.Release()
		return nil, fmt.Errorf("oneshot: %w", err)
	}
	return &prepBox{lease: lease, userNS: userNS, netNS: netNS}, nil
}

// closeNS closes the namespace descriptors; the namespaces live on while
// the box's processes are in them.
func (p *prepBox) closeNS() {
	closeFD(&p.userNS)
	closeFD(&p.netNS)
}

// release closes the namespaces and gives the host ids back: only once no
// process of the box is left.
func (p *prepBox) release() {
	p.closeNS()
	p.lease.Release()
}

// boxStock keeps prepared boxes ready, filled in the background.
type boxStock struct {
	mu      sync.Mutex
	ready   []*prepBox
	running bool
	idle    *sync.Cond
	off     bool // drained by Close: no fill until the next take

	hits, misses int // takes served from the stock, and not (benchmarks)
}

// take returns a prepared box, from the stock or made now, and starts a
// refill.
func (s *boxStock) take() (*prepBox, error) {
	s.mu.Lock()
	var pb *prepBox
	if n := len(s.ready); n > 0 {
		pb = s.ready[n-1]
		s.ready = s.ready[:n-1]
		s.hits++
	} else {
		s.misses++
	}
	s.off = false
	if !s.running {
		if s.idle == nil {
			s.idle = sync.NewCond(&s.mu)
		}
		s.running = true
		go s.fill()
	}
	s.mu.Unlock()
	if pb != nil {
		return pb, nil
	}
	return makePrepBox()
}

func (s *boxStock) fill() {
	for {
		s.mu.Lock()
		if s.off || len(s.ready) >= boxStockSize {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		pb, err := makePrepBox()
		s.mu.Lock()
		if err != nil {
			s.running = false
			s.idle.Broadcast()
			s.mu.Unlock()
			return
		}
		s.ready = append(s.ready, pb)
		s.mu.Unlock()
	}
}

// drain stops the fill and releases the stock.
func (s *boxStock) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.off = true
	for s.running {
		s.idle.Wait()
	}
	for _, pb := range s.ready {
		pb.release()
	}
	s.ready = nil
}

func closeFD(fd *int) {
	if *fd >= 0 {
		unix.Close(*fd)
		*fd = -1
	}
}
