package harness

import (
	"context"
	"fmt"

	"gosandbox/sandbox"
	"gosandbox/sandbox/slots"
)

func init() { register("slots", openSlots) }

// slotsBackend runs specs on zero-process slots (sandbox/slots): reused,
// so the U* properties apply, though nothing but the read-only tree is
// shared between runs.
type slotsBackend struct {
	runner   *slots.Runner
	features Features
}

func openSlots(o Options) (Backend, error) {
	if err := userNamespacesUsable(); err != nil {
		return nil, fmt.Errorf("%w: slots: %v", ErrUnavailable, err)
	}
	r, err := slots.New(slots.Options{Size: o.PoolSize})
	if err != nil {
		return nil, fmt.Errorf("%w: slots: %v", ErrUnavailable, err)
	}
	f := Features{Isolated: true, Reuses: true, Seccomp: true}
	if ok, why := r.Cgroups(); ok {
		f.Cgroups = true
	} else {
		reason := fmt.Sprintf("no cgroups (%v): rlimits and rusage only", why)
		f.Unsupported = map[string]string{
			"R2":            reason + "; CPU of children counts once they are reaped",
			"R7":            reason + "; peak memory is the largest process's maxrss",
			"R8":            reason + "; tmpfs has its own size cap but is not charged to the box",
			"R12":           reason,
			"U4":            reason + "; no per-run accounting",
			"Limits.CPUSet": reason,
		}
	}
	return &slotsBackend{runner: r, features: f}, nil
}

func (b *slotsBackend) Name() string       { return "slots" }
func (b *slotsBackend) Features() Features { return b.features }

func (b *slotsBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	res, err := b.runner.Run(ctx, spec)
	if err == nil {
		res.Backend = "slots"
	}
	return res, err
}

// KillInit is B6's crash for a backend with no init: it ruins the
// namespaces of an idle slot, which the next run must find and rebuild.
func (b *slotsBackend) KillInit() error {
	ctx, cancel := context.WithTimeout(context.Background(), initSignalWait)
	defer cancel()
	return b.runner.SpoilIdle(ctx)
}

// Close releases every slot.
func (b *slotsBackend) Close() error { return b.runner.Close() }

// Pids is bench.PidReporter: an idle slot keeps no process alive.
func (b *slotsBackend) Pids() []int { return nil }

// Reserve takes n slots at once for a program group (see
// sandbox.Reserver); past the runner's size it builds slots for the group
// alone.
func (b *slotsBackend) Reserve(ctx context.Context, n int) ([]sandbox.Runner, func(), error) {
	return b.runner.Reserve(ctx, n)
}

// PoolStats reports the slots for monitoring (gosandbox serve's metrics and
// health): slots kept, free now, rebuilt so far, the last rebuild failure.
func (b *slotsBackend) PoolStats() (size, idle int, replaced uint64, lastErr error) {
	s := b.runner.Stats()
	return s.Size, s.Idle, uint64(s.Rebuilds), s.LastErr
}
