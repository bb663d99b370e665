package container

// Pool: the sandbox.Runner that keeps containers ready, hands them out and replaces broken ones.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/mount"
)

// ErrPoolClosed is returned by Run after Close.
var ErrPoolClosed = errors.New("container: pool closed")

// DefaultHealthAge is how long a container may sit idle before the pool
// pings it again when handing it out.
const DefaultHealthAge = time.Second

// Retry bounds of the background rebuild of a slot whose container died.
const (
	rebuildFirstBackoff = 50 * time.Millisecond
	rebuildMaxBackoff   = 5 * time.Second
)

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Size is the number of containers kept (default 1): at most Size runs
	// at once; more wait for a container.
	Size int
	// Shape is what the containers are built with ahead of time. A run that
	// needs another shape (other binds or tmpfs size) replaces one idle
	// container with a container of its shape, which then stays.
	Shape Shape
	// Builder builds the containers; nil means a zero Builder (this program
	// is the init).
	Builder *Builder
	// HealthAge is how long a container may sit idle before it is pinged
	// when handed out (0 = DefaultHealthAge).
	HealthAge time.Duration
}

// Pool keeps Size containers ready and runs specs on them: a container runs
// one spec, is reset in the background and handed to the next. A container
// that dies, stops answering or fails its reset is destroyed and replaced
// (B6). Pool implements sandbox.Runner and is safe for concurrent use.
type Pool struct {
	b         *Builder
	ownsB     bool
	shape     Shape
	healthAge time.Duration

	ready   chan *Container // idle containers, reset and checked
	closing chan struct{}
	wg      sync.WaitGroup // runs and background work in flight

	reserving chan struct{} // held (cap 1) by the one Reserve gathering containers
	replaced  atomic.Uint64 // containers destroyed and rebuilt (see Stats)

	mu      sync.Mutex
	closed  bool
	lastErr error // the last build failure, for callers that time out
}

var _ sandbox.Runner = (*Pool)(nil)

// NewPool builds o.Size containers concurrently and returns once all are
// ready. If one cannot be built, the others are destroyed and the error is
// returned: the host cannot run containers.
func NewPool(ctx context.Context, o PoolOptions) (*Pool, error) {
	if o.Size <= 0 {
		o.Size = 1
	}
	p := &Pool{
		b:         o.Builder,
		shape:     o.Shape.normal(),
		healthAge: o.HealthAge,
		ready:     make(chan *Container, o.Size),
		closing:   make(chan struct{}),
		reserving: make(chan struct{}, 1),
	}
	if p.b == nil {
		p.b, p.ownsB = &Builder{}, true
	}
	if p.healthAge <= 0 {
		p.healthAge = DefaultHealthAge
	}
	errs := make(chan error, o.Size)
	for i := 0; i < o.Size; i++ {
		go func() {
			c, err := p.b.Build(ctx, p.shape)
			if err == nil {
				p.ready <- c
			}
			errs <- err
		}()
	}
	var all []error
	for i := 0; i < o.Size; i++ {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		p.Close()
		return nil, errors.Join(all...)
	}
	return p, nil
}

// Builder is the pool's builder (its Cgroups and Accounting say what runs
// get).
func (p *Pool) Builder() *Builder { return p.b }

// Run runs spec on a container of the pool. It returns an error only when
// the spec is invalid, the pool is closed, or ctx ended before a container
// was ready; everything after that is in the Result (a container that fails
// during the run gives internal-error and is replaced).
func (p *Pool) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	spec, err := prepare(spec)
	if err != nil {
		return sandbox.Result{}, err
	}
	if !p.enter() {
		return sandbox.Result{}, ErrPoolClosed
	}
	defer p.wg.Done()
	for attempt := 1; ; attempt++ {
		c, err := p.get(ctx, ShapeOf(spec))
		if err != nil {
			var buildErr *buildError
			if errors.As(err, &buildErr) && ctx.Err() == nil {
				// A container of the spec's shape could not be built: the
				// run started and failed for the sandbox's reasons.
				return sandbox.Result{Status: sandbox.StatusInternalError, ExitCode: -1, Message: err.Error(),
					Accounting: p.b.Accounting(), Backend: BackendName}, nil
			}
			return sandbox.Result{}, err
		}
		// The pool waits for the reset after the run, so the init may
		// start it unasked (Exec.ResetAfter).
		c.selfReset = true
		res, neverRan := c.runOnce(ctx, spec)
		p.put(c)
		// A container that died while idle (its death not yet noticed)
		// fails the run before the program existed: run it elsewhere.
		if neverRan && attempt < maxAttempts && ctx.Err() == nil {
			continue
		}
		return res, nil
	}
}

// prepare is the host-side pre-check every runner makes before anything
// runs (sandbox.Spec.Prepare, then mount.CheckBinds): a mount plan that
// cannot be built is the caller's mistake, not an internal error of the
// container built for it.
func prepare(spec sandbox.Spec) (sandbox.Spec, error) {
	spec, err := spec.Prepare()
	if err != nil {
		return sandbox.Spec{}, err
	}
	if err := mount.CheckBinds(spec.Binds, spec.Limits.WithDefaults().Tmpfs); err != nil {
		return sandbox.Spec{}, fmt.Errorf("%w: %w", sandbox.ErrInvalidSpec, err)
	}
	return spec, nil
}

// maxAttempts bounds how often a run whose program never started is moved
// to another container.
const maxAttempts = 3

// enter counts a caller in, unless the pool is closed.
func (p *Pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	return true
}

type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// get takes a ready container of the shape, healthy as far as a ping can
// tell. A container of another shape is swapped for one of the right shape.
func (p *Pool) get(ctx context.Context, shape Shape) (*Container, error) {
	// A run that finds no container ready waits (for a reset, most often):
	// runs are coming back to back, which the init is told (Exec.Queued).
	waited := false
	for {
		var c *Container
		select {
		case c = <-p.ready:
		default:
			waited = true
			select {
			case c = <-p.ready:
			case <-p.closing:
				return nil, ErrPoolClosed
			case <-ctx.Done():
				p.mu.Lock()
				last := p.lastErr
				p.mu.Unlock()
				if last != nil {
					return nil, fmt.Errorf("container: no container became ready (last build failure: %v): %w", last, ctx.Err())
				}
				return nil, fmt.Errorf("container: no container became ready: %w", ctx.Err())
			}
		}
		if err := c.Broken(); err != nil {
			p.replace(c, c.shape)
			continue
		}
		if time.Since(c.IdleSince()) > p.healthAge {
			if err := c.Ping(ctx); err != nil {
				p.replace(c, c.shape)
				if ctx.Err() != nil {
					return nil, fmt.Errorf("container: %w", ctx.Err())
				}
				continue
			}
		}
		if c.Shape().Equal(shape) {
			c.queued = waited
			return c, nil
		}
		c.Destroy()
		n, err := p.b.Build(ctx, shape)
		if err != nil {
			p.setLastErr(err)
			p.replace(nil, p.shape)
			return nil, &buildError{err}
		}
		return n, nil
	}
}

func (p *Pool) setLastErr(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// put takes a container back after a run: reset in the background, then
// ready again; replaced when broken or when its reset fails.
func (p *Pool) put(c *Container) {
	if c.Broken() != nil {
		p.replace(c, c.shape)
		return
	}
	// The reset is sent here and the rest left to a goroutine: a busy
	// caller (a batch encoding its result) kept the goroutine from its
	// start for 0.2-0.5 ms, which a run waiting for the reset paid.
	seq, err := c.startReset()
	if err != nil {
		p.setLastErr(err)
		p.replace(c, c.shape)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.b.replyTimeout())
		err := c.finishReset(ctx, seq)
		cancel()
		if err != nil {
			p.setLastErr(err)
			p.replaceNow(c, c.shape)
			return
		}
		p.offer(c)
	}()
}

// offer makes c ready, or destroys it when the pool is closing.
func (p *Pool) offer(c *Container) {
	select {
	case <-p.closing:
		c.Destroy()
	default:
		p.ready <- c // never blocks: at most Size containers exist
	}
}

// replace destroys old (when not nil) and builds a container of shape in the
// background, retrying until it succeeds or the pool closes.
func (p *Pool) replace(old *Container, shape Shape) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.replaceNow(old, shape)
	}()
}

func (p *Pool) replaceNow(old *Container, shape Shape) {
	if old != nil {
		old.Destroy()
		p.replaced.Add(1)
	}
	backoff := rebuildFirstBackoff
	for {
		select {
		case <-p.closing:
			return
		default:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-p.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		c, err := p.b.Build(ctx, shape)
		cancel()
		if err == nil {
			p.offer(c)
			return
		}
		p.setLastErr(err)
		select {
		case <-p.closing:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, rebuildMaxBackoff)
	}
}

// ResetIdle resets one idle container as after a run, and makes it ready
// again (or replaces it when the reset fails): the reset cost apart from any
// exec, for the benchmarks.
func (p *Pool) ResetIdle(ctx context.Context) error {
	if !p.enter() {
		return ErrPoolClosed
	}
	defer p.wg.Done()
	var c *Container
	select {
	case c = <-p.ready:
	case <-ctx.Done():
		return fmt.Errorf("container: no idle container to reset: %w", ctx.Err())
	case <-p.closing:
		return ErrPoolClosed
	}
	if err := c.Reset(ctx); err != nil {
		p.setLastErr(err)
		p.replace(c, c.shape)
		return err
	}
	p.offer(c)
	return nil
}

// SignalIdleInit sends sig to the init of the container the next run will
// get (waiting up to timeout for one to be idle), as a crash (SIGKILL) or a
// hang (SIGSTOP) would: for tests of the pool's healing (B6).
func (p *Pool) SignalIdleInit(sig syscall.Signal, timeout time.Duration) error {
	if !p.enter() {
		return ErrPoolClosed
	}
	defer p.wg.Done()
	select {
	case c := <-p.ready:
		err := syscall.Kill(c.InitPid(), sig)
		p.ready <- c // first in line again only if no run took another meanwhile
		if err != nil {
			return fmt.Errorf("container: signal init %d: %w", c.InitPid(), err)
		}
		return nil
	case <-time.After(timeout):
		return errors.New("container: no idle container to signal")
	case <-p.closing:
		return ErrPoolClosed
	}
}

// Close destroys every container once the runs in flight are over, and
// leaves nothing behind: no process, mount, cgroup, work directory,
// descriptor or goroutine of the pool's. It is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.closing)
	p.wg.Wait()
	var errs []error
	for {
		select {
		case c := <-p.ready:
			if err := c.Destroy(); err != nil {
				errs = append(errs, err)
			}
			continue
		default:
		}
		break
	}
	if p.ownsB {
		if err := p.b.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
