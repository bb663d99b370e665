package release

// The release queue: teardown steps run after a result, in order, off the run's path.

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Queue runs queued steps one at a time on a goroutine of its own. The zero
// value is ready to use.
type Queue struct {
	// Defer, when > 0, holds queued steps back until Kick, or until Defer
	// has passed since the first of them was queued: a runner kicks the
	// queue while a program runs (its supervisor idle), so that the
	// teardown of one run does not compete with the start of the next one
	// when runs come back to back. Set it before the first Later.
	Defer time.Duration

	mu      sync.Mutex
	fns     []func()
	running bool
	idle    *sync.Cond
	timer   *time.Timer // armed while deferred steps wait
}

// CloseLater queues closing fd; a negative fd is none.
func (q *Queue) CloseLater(fd int) {
	if fd < 0 {
		return
	}
	q.Later(func() { unix.Close(fd) })
}

// Later queues fn.
func (q *Queue) Later(fn func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.fns = append(q.fns, fn)
	if q.Defer > 0 && !q.running {
		if q.timer == nil {
			q.timer = time.AfterFunc(q.Defer, q.Kick)
		} else if len(q.fns) == 1 {
			q.timer.Reset(q.Defer)
		}
		return
	}
	q.startLocked()
}

// Postpone pushes the start of deferred steps Defer further out: a runner
// calls it when a run starts, so that they wait for that run's Kick.
func (q *Queue) Postpone() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timer != nil && !q.running && len(q.fns) > 0 {
		q.timer.Reset(q.Defer)
	}
}

// Kick starts the queued steps now (see Defer).
func (q *Queue) Kick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.startLocked()
}

func (q *Queue) startLocked() {
	if q.running || len(q.fns) == 0 {
		return
	}
	if q.timer != nil {
		q.timer.Stop()
	}
	if q.idle == nil {
		q.idle = sync.NewCond(&q.mu)
	}
	q.running = true
	Go(q.work)
}

func (q *Queue) work() {
	q.mu.Lock()
	for len(q.fns) > 0 {
		fn := q.fns[0]
		q.fns = q.fns[1:]
		q.mu.Unlock()
		fn()
		q.mu.Lock()
	}
	q.running = false
	q.idle.Broadcast()
	q.mu.Unlock()
}

// Wait returns once every queued step is done.
func (q *Queue) Wait() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.startLocked() // deferred steps too
	for q.running {
		q.idle.Wait()
	}
}
