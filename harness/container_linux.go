package harness

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/container"
)

func init() { register("container", openContainer) }

// MaybeRunInit lets the calling program serve as the init of the container
// backend's containers (see container.MaybeRunInit): every program that
// opens the container backend calls it first thing. Suites and benches
// reach sandboxes only through this package, this included.
func MaybeRunInit() { container.MaybeRunInit() }

// containerBackend runs specs on a pool of reused containers
// (sandbox/container). The program opening it must call MaybeRunInit
// first thing: it is the containers' init.
type containerBackend struct {
	pool     *container.Pool
	features Features
}

// containerBuildTimeout bounds the start of the pool.
const containerBuildTimeout = 2 * time.Minute

func openContainer(o Options) (Backend, error) {
	if err := userNamespacesUsable(); err != nil {
		return nil, fmt.Errorf("%w: container: %v", ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), containerBuildTimeout)
	defer cancel()
	pool, err := container.NewPool(ctx, container.PoolOptions{Size: o.PoolSize})
	if err != nil {
		return nil, fmt.Errorf("%w: container: %v", ErrUnavailable, err)
	}
	f := Features{Isolated: true, Reuses: true, Seccomp: true}
	if ok, why := pool.Builder().Cgroups(); ok {
		f.Cgroups = true
	} else {
		reason := fmt.Sprintf("no cgroups (%v): rlimits and rusage only", why)
		f.Unsupported = map[string]string{
			"R2":            reason + "; CPU of children counts once they are reaped",
			"R7":            reason + "; peak memory is the largest process's maxrss",
			"R8":            reason + "; tmpfs has its own size cap but is not charged to the box",
			"R12":           reason,
			"U4":            reason + "; no per-run accounting to reset",
			"Limits.CPUSet": reason,
		}
	}
	return &containerBackend{pool: pool, features: f}, nil
}

func (b *containerBackend) Name() string       { return "container" }
func (b *containerBackend) Features() Features { return b.features }

func (b *containerBackend) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	res, err := b.pool.Run(ctx, spec)
	if err == nil {
		res.Backend = "container"
	}
	return res, err
}

// KillInit kills (SIGKILL) the init of the container the next run gets, as
// a crash would; StopInit stops it (SIGSTOP), as a hang would. The suites'
// B6 specs use them to check that the pool heals.
func (b *containerBackend) KillInit() error {
	return b.pool.SignalIdleInit(syscall.SIGKILL, initSignalWait)
}
func (b *containerBackend) StopInit() error {
	return b.pool.SignalIdleInit(syscall.SIGSTOP, initSignalWait)
}

// initSignalWait bounds the wait for an idle container in KillInit and
// StopInit.
const initSignalWait = 30 * time.Second

// Reset resets one idle container as after a run: the benchmarks' hook for
// the reset cost apart from exec.
func (b *containerBackend) Reset(ctx context.Context) error { return b.pool.ResetIdle(ctx) }

// Close destroys every container of the pool.
func (b *containerBackend) Close() error { return b.pool.Close() }

// Reserve takes n containers at once for a program group (see
// sandbox.Reserver).
func (b *containerBackend) Reserve(ctx context.Context, n int) ([]sandbox.Runner, func(), error) {
	return b.pool.Reserve(ctx, n)
}

// PoolStats reports the pool for monitoring (gosandbox serve's metrics and
// health): containers kept, idle now, replaced so far, the last build or
// reset failure.
func (b *containerBackend) PoolStats() (size, idle int, replaced uint64, lastErr error) {
	s := b.pool.Stats()
	return s.Size, s.Idle, s.Replaced, s.LastErr
}
