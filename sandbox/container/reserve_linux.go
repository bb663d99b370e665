package container

// Pool.Reserve (containers taken together for a group's programs) and the pool's Stats.

import (
	"context"
	"errors"
	"sync"

	"gosandbox/sandbox"
)

var _ sandbox.Reserver = (*Pool)(nil)

// Reserve takes n containers at once, for the programs of a group to start
// together (see sandbox.Reserver). Reservations gather their containers
// one at a time, so two of them never each hold part of what the other
// waits for, while single runs go on with the rest of the pool. Past the
// pool's size the reservation builds containers of its own for the rest
// and destroys them on release. Each returned Runner runs one spec;
// release gives the containers back (reset, as after any run).
func (p *Pool) Reserve(ctx context.Context, n int) ([]sandbox.Runner, func(), error) {
	if !p.enter() {
		return nil, nil, ErrPoolClosed
	}
	var held []*reservedBox
	giveBack := func() {
		for _, b := range held {
			b.giveBack()
		}
		p.wg.Done()
	}
	select {
	case p.reserving <- struct{}{}:
	case <-ctx.Done():
		giveBack()
		return nil, nil, ctx.Err()
	case <-p.closing:
		giveBack()
		return nil, nil, ErrPoolClosed
	}
	err := func() error {
		defer func() { <-p.reserving }()
		for len(held) < min(n, cap(p.ready)) {
			c, err := p.get(ctx, p.shape.looked())
			if err != nil {
				return err
			}
			held = append(held, &reservedBox{p: p, c: c})
		}
		for len(held) < n {
			c, err := p.b.Build(ctx, p.shape)
			if err != nil {
				return err
			}
			held = append(held, &reservedBox{p: p, c: c, ownBuild: true})
		}
		return nil
	}()
	if err != nil {
		giveBack()
		return nil, nil, err
	}
	runners := make([]sandbox.Runner, n)
	for i, b := range held {
		runners[i] = b
	}
	var once sync.Once
	return runners, func() { once.Do(giveBack) }, nil
}

// reservedBox is one container of a reservation: it runs one spec.
type reservedBox struct {
	p        *Pool
	mu       sync.Mutex
	c        *Container
	ownBuild bool // built for this reservation only: destroyed on release
	used     bool
}

var (
	errReservedUsed     = errors.New("container: a reserved container runs one spec")
	errReservedReleased = errors.New("container: the reservation was released")
)

// Run runs spec on the reserved container (rebuilt first if the spec needs
// another shape).
func (b *reservedBox) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	spec, err := prepare(spec)
	if err != nil {
		return sandbox.Result{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used {
		return sandbox.Result{}, errReservedUsed
	}
	if b.c == nil {
		return sandbox.Result{}, errReservedReleased
	}
	b.used = true
	if shape := ShapeOf(spec); !b.c.Shape().Equal(shape) {
		b.c.Destroy()
		c, err := b.p.b.Build(ctx, shape)
		if err != nil {
			b.c = nil
			return sandbox.Result{Status: sandbox.StatusInternalError, ExitCode: -1, Message: err.Error(),
				Accounting: b.p.b.Accounting(), Backend: BackendName}, nil
		}
		b.c = c
	}
	return b.c.Run(ctx, spec), nil
}

// giveBack returns the container to the pool (reset in the background, or
// replaced when broken or of another shape) or destroys one built for the
// reservation.
func (b *reservedBox) giveBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.ownBuild:
		// Built for the reservation: never the pool's, even when its
		// rebuild for another shape failed.
		if b.c != nil {
			b.c.Destroy()
		}
	case b.c == nil:
		// Its rebuild failed: the pool is one short until replaced.
		b.p.replace(nil, b.p.shape)
	default:
		b.p.put(b.c)
	}
	b.c = nil
}

// PoolStats is a snapshot of a pool for monitoring.
type PoolStats struct {
	Size     int    // containers the pool keeps
	Idle     int    // ready for a run now
	Replaced uint64 // destroyed and rebuilt so far (died, stuck, failed reset)
	// LastErr is the last failure to build or reset a container, nil when
	// there was none.
	LastErr error
}

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	last := p.lastErr
	p.mu.Unlock()
	return PoolStats{Size: cap(p.ready), Idle: len(p.ready), Replaced: p.replaced.Load(), LastErr: last}
}
