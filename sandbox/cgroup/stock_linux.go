package cgroup

// The stock: groups made ahead of need and released groups removed in the background.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"gosandbox/sandbox/internal/release"
)

// stock keeps fresh groups made ahead of need and removes released groups
// in the background, so neither mkdir nor rmdir sits on a run's path. Every
// stocked group is new (its counters start at zero, as for Create); groups
// are never reused through the stock.
type stock struct {
	mu      sync.Mutex
	size    int    // groups to keep ready; 0 = no stock
	prefix  string // stocked groups are named prefix + sequence number
	limits  Limits // limits of the groups in ready
	seq     uint64
	ready   []stocked
	pending []groupImpl // released groups still to remove
	running bool        // the worker goroutine is active
	idle    *sync.Cond  // signalled when the worker stops
	errs    []error     // background removal failures, returned by Close
	deferBy time.Duration
	timer   *time.Timer // started while deferred work waits (see DeferStockWork)
	armed   bool
	held    bool // deferred work waits for the next start, not the timer (HoldStock)
}

type stocked struct {
	name string
	impl groupImpl
}

// KeepStock makes m keep up to n fresh groups ready, made in the
// background with the limits of the latest Create and named namePrefix
// followed by a sequence number. Create then hands out a stocked group
// when the limits match (the group carries the stock name, not the one
// passed to Create) and makes one as usual otherwise. n <= 0 turns the stock
// off and removes what it holds. Close empties the stock and turns it off.
func (m *Manager) KeepStock(namePrefix string, n int) error {
	if n > 0 {
		if err := validName(namePrefix + "0"); err != nil {
			return err
		}
	}
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.size = 0
		s.dropReadyLocked()
	} else {
		s.size, s.prefix = n, namePrefix
	}
	m.kickLocked()
	return nil
}

// takeStocked returns a stocked group with limits l, if there is one, and
// aims the stock at l.
func (m *Manager) takeStocked(l Limits) (stocked, bool) {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.size == 0 {
		return stocked{}, false
	}
	if l != s.limits {
		// The next runs likely look like this one: restock for it.
		s.limits = l
		s.dropReadyLocked()
		m.kickLocked()
		return stocked{}, false
	}
	if len(s.ready) == 0 {
		m.kickLocked()
		return stocked{}, false
	}
	g := s.ready[len(s.ready)-1]
	s.ready = s.ready[:len(s.ready)-1]
	m.kickLocked()
	return g, true
}

func (s *stock) dropReadyLocked() {
	for _, g := range s.ready {
		s.pending = append(s.pending, g.impl)
	}
	s.ready = nil
}

// DeferStockWork makes the stock's background work (fills and removals)
// wait for KickStock, or until d has passed since it was asked for,
// instead of starting at once: a runner kicks it while a program runs, so
// that it does not compete with the start of the next run when runs come
// back to back. d <= 0 starts it at once again (the default).
func (m *Manager) DeferStockWork(d time.Duration) {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deferBy = d
	if d <= 0 {
		m.startLocked()
	}
}

// PostponeStock pushes deferred stock work a further DeferStockWork
// period out: a runner calls it when a run starts, so that the work waits
// for that run's KickStock.
func (m *Manager) PostponeStock() {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed {
		s.timer.Reset(s.deferBy)
	}
}

// HoldStock holds deferred stock work back until the next KickStock (or
// FlushStock, Close), however long that takes: a runner calls it for a run
// whose program should have the machine to itself, and kicks the stock
// once its result is made. Without it, taking a stocked group (which arms
// the deferred refill) would start the refill beside any program that runs
// longer than the DeferStockWork period.
func (m *Manager) HoldStock() {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deferBy <= 0 {
		return
	}
	s.held = true
	if s.armed {
		s.timer.Stop()
		s.armed = false
	}
}

// FlushStock starts the stock's deferred background work and waits until
// it is done: the stock is full and released groups are removed (tests
// that count descriptors or groups).
func (m *Manager) FlushStock() {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	m.startLocked()
	for s.running {
		s.idle.Wait()
	}
}

// KickStock starts the stock's deferred background work now.
func (m *Manager) KickStock() {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	m.startLocked()
}

// kickLocked starts the worker when there is something for it to do, or
// arms the timer when its work is deferred.
func (m *Manager) kickLocked() {
	s := &m.stock
	if s.deferBy <= 0 {
		m.startLocked()
		return
	}
	if s.running || (len(s.pending) == 0 && len(s.ready) >= s.size) {
		return
	}
	if s.armed || s.held {
		return
	}
	s.armed = true
	if s.timer == nil {
		s.timer = time.AfterFunc(s.deferBy, m.deferredKick)
	} else {
		s.timer.Reset(s.deferBy)
	}
}

// deferredKick is the timer's kick: one that fired just as HoldStock was
// called leaves the work held.
func (m *Manager) deferredKick() {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return
	}
	m.startLocked()
}

func (m *Manager) startLocked() {
	s := &m.stock
	s.held = false
	if s.armed {
		s.timer.Stop()
		s.armed = false
	}
	if s.running || (len(s.pending) == 0 && len(s.ready) >= s.size) {
		return
	}
	if s.idle == nil {
		s.idle = sync.NewCond(&s.mu)
	}
	s.running = true
	release.Go(m.work) // at a lower priority than the runs
}

// work removes released groups first (they hold kernel memory), then fills
// the stock, and stops when neither has anything left.
func (m *Manager) work() {
	s := &m.stock
	s.mu.Lock()
	createFailed := false
	for {
		if n := len(s.pending); n > 0 {
			g := s.pending[n-1]
			s.pending = s.pending[:n-1]
			s.mu.Unlock()
			err := g.remove()
			s.mu.Lock()
			if err != nil {
				s.errs = append(s.errs, err)
			}
			continue
		}
		if len(s.ready) < s.size && !createFailed {
			l := s.limits
			s.seq++
			name := fmt.Sprintf("%s%d", s.prefix, s.seq)
			s.mu.Unlock()
			impl, err := m.impl.create(name, l)
			if p, ok := impl.(interface{ preopen() }); ok && err == nil {
				p.preopen()
			}
			s.mu.Lock()
			if err != nil {
				// Create makes its own group; the stock stays as it is
				// until the next Create tries again. Removals queued
				// meanwhile are still done (no timer was armed for them).
				createFailed = true
				continue
			}
			if s.size > 0 && l == s.limits {
				s.ready = append(s.ready, stocked{name, impl})
			} else {
				s.pending = append(s.pending, impl)
			}
			continue
		}
		break
	}
	s.running = false
	s.idle.Broadcast()
	s.mu.Unlock()
}

// removeLater queues impl for removal by the worker.
func (m *Manager) removeLater(impl groupImpl) {
	s := &m.stock
	s.mu.Lock()
	s.pending = append(s.pending, impl)
	m.kickLocked()
	s.mu.Unlock()
}

// drainStock turns the stock off, removes what it holds and waits for every
// queued removal. It returns the removal failures seen since the last drain.
func (m *Manager) drainStock() error {
	s := &m.stock
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = 0
	s.dropReadyLocked()
	m.startLocked()
	for s.running {
		s.idle.Wait()
	}
	err := errors.Join(s.errs...)
	s.errs = nil
	return err
}

// RemoveLater is Remove done in the background: the group is unusable at
// once (its methods return ErrRemoved), and its processes are killed and
// its directories deleted by the manager's worker. Manager.Close waits for
// it. Use it once the group's figures have been read and its processes
// reaped, to keep the rmdir off the caller's path.
func (g *Group) RemoveLater() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.removed {
		return
	}
	g.removed = true
	if g.m == nil {
		g.impl.remove()
		return
	}
	g.m.removeLater(g.impl)
}
