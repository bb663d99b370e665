package slots

// Reserve and Stats: slots taken together for a program group, and the
// runner's figures for monitoring.

import (
	"context"
	"errors"
	"sync"

	"gosandbox/sandbox"
)

var _ sandbox.Reserver = (*Runner)(nil)

// Reserve takes n slots at once, for the programs of a group to start
// together (see sandbox.Reserver): on slots taken one run at a time, a
// group larger than the free slots would stall, one program holding a slot
// while its peer waits for another. Reservations gather their slots one at
// a time, so two of them never each hold part of what the other waits
// for, while single runs go on with the rest. Past Size the reservation
// builds slots of its own for the rest and destroys them on release. Each
// returned Runner runs one spec; release gives the slots back.
func (r *Runner) Reserve(ctx context.Context, n int) ([]sandbox.Runner, func(), error) {
	if !r.enter() {
		return nil, nil, ErrClosed
	}
	var held []*reservedSlot
	giveBack := func() {
		for _, b := range held {
			b.giveBack()
		}
		r.wg.Done()
	}
	select {
	case r.reserving <- struct{}{}:
	case <-ctx.Done():
		giveBack()
		return nil, nil, ctx.Err()
	}
	err := func() error {
		defer func() { <-r.reserving }()
		for len(held) < min(n, r.opts.Size) {
			s, err := r.take(ctx)
			if err != nil {
				return err
			}
			held = append(held, &reservedSlot{r: r, s: s})
		}
		for len(held) < n {
			s := &slot{id: r.opts.Size + int(r.extraSlots.Add(1)) - 1}
			r.setStock(s)
			if err := s.build(); err != nil {
				s.destroy()
				return err
			}
			held = append(held, &reservedSlot{r: r, s: s, ownBuild: true})
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

// reservedSlot is one slot of a reservation: it runs one spec.
type reservedSlot struct {
	r        *Runner
	mu       sync.Mutex
	s        *slot // nil once given back
	ownBuild bool  // built for this reservation only: destroyed on release
	used     bool
}

var (
	errReservedUsed     = errors.New("slots: a reserved slot runs one spec")
	errReservedReleased = errors.New("slots: the reservation was released")
)

// Run runs spec on the reserved slot, after the same checks as Runner.Run.
func (b *reservedSlot) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	spec, limits, err := b.r.check(spec)
	if err != nil {
		return sandbox.Result{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.s == nil:
		return sandbox.Result{}, errReservedReleased
	case b.used:
		return sandbox.Result{}, errReservedUsed
	}
	b.used = true
	return b.r.runOn(ctx, b.s, spec, limits)
}

// giveBack returns the slot to the runner, or destroys one built for the
// reservation. It waits for a run on the slot to end.
func (b *reservedSlot) giveBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.s == nil:
	case b.ownBuild:
		b.s.destroy()
	default:
		b.r.put(b.s)
	}
	b.s = nil
}

// Stats is a snapshot of a Runner for monitoring.
type Stats struct {
	Size     int   // slots the runner keeps
	Idle     int   // free for a run now
	Rebuilds int64 // slots rebuilt so far because their namespaces went bad
	// LastErr is the failure of the last rebuild, nil when it succeeded or
	// there was none.
	LastErr error
}

// Stats returns a snapshot of the runner.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	last := r.lastErr
	r.mu.Unlock()
	return Stats{Size: r.opts.Size, Idle: len(r.free), Rebuilds: r.rebuilds.Load(), LastErr: last}
}

func (r *Runner) setLastErr(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}
