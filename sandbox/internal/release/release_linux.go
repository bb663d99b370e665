// The background release queue and its workers.
package release

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Queue runs queued steps one at a time on a goroutine of its own. The zero
// value is ready to use.
type Queue struct {
	mu      sync.Mutex
	fns     []func()
	running bool
	idle    *sync.Cond
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
	if q.running {
		return
	}
	if q.idle == nil {
		q.idle = sync.NewCond(&q.mu)
	}
	q.running = true
	go q.work()
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
	for q.running {
		q.idle.Wait()
	}
}
