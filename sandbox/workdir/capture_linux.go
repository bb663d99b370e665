package workdir

// Capture and Overflow: a captured stream bounded by the output limit, and the watch on /w's files.

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"sync"
)

// Capture collects what a program writes to one stream into memory, up to a
// limit. Past the limit it keeps nothing more, closes its end of the pipe
// (the writer gets EPIPE or SIGPIPE) and signals Exceeded, so a supervisor
// that watches it (see Watch) kills the box with output-limit. The host
// never buffers more than the limit.
type Capture struct {
	w        *os.File
	limit    int64
	buf      []byte
	exceeded chan struct{}
	done     chan struct{}
	wOnce    sync.Once
}

// NewCapture makes a pipe whose write end (Writer) is given to the program
// as Spec.Stdout or Spec.Stderr. limit <= 0 means
// sandbox.DefaultLimits.Output.
func NewCapture(limit int64) (*Capture, error) {
	if limit <= 0 {
		limit = defaultOutput()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("workdir: capture pipe: %w", err)
	}
	c := &Capture{w: w, limit: limit, exceeded: make(chan struct{}), done: make(chan struct{})}
	go c.read(r)
	return c, nil
}

// Writer is the end the program writes to.
func (c *Capture) Writer() *os.File { return c.w }

// Exceeded is closed when the program wrote more than the limit.
func (c *Capture) Exceeded() <-chan struct{} { return c.exceeded }

func (c *Capture) read(r *os.File) {
	defer close(c.done)
	defer r.Close()
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			room := c.limit - int64(len(c.buf))
			if int64(n) > room {
				c.buf = append(c.buf, chunk[:room]...)
				close(c.exceeded)
				return
			}
			c.buf = append(c.buf, chunk[:n]...)
		}
		if err != nil {
			return // io.EOF: every writer closed; anything else ends the capture too
		}
	}
}

// Wait closes the caller's copy of the write end, waits until every other
// copy is closed (the box is gone) and returns what was captured and whether
// the limit was exceeded. Call it after the run.
func (c *Capture) Wait() (data []byte, exceeded bool) {
	c.CloseWriter()
	<-c.done
	select {
	case <-c.exceeded:
		exceeded = true
	default:
	}
	return c.buf, exceeded
}

// CloseWriter closes the caller's copy of the write end; the runner has
// already handed it to the program. Idempotent.
func (c *Capture) CloseWriter() { c.wOnce.Do(func() { c.w.Close() }) }

// Watch returns a context that carries c, so that a supervisor running a
// spec under it can kill the box as soon as c overflows.
func (c *Capture) Watch(ctx context.Context) context.Context {
	prev, _ := ctx.Value(watchKey{}).([]<-chan struct{})
	next := append(append([]<-chan struct{}(nil), prev...), c.exceeded)
	return context.WithValue(ctx, watchKey{}, next)
}

type watchKey struct{}

// Watches returns the overflow signals of every Capture attached to ctx
// with Watch. Supervisors select on them and kill the box with
// verdict.KilledOutput.
func Watches(ctx context.Context) []<-chan struct{} {
	w, _ := ctx.Value(watchKey{}).([]<-chan struct{})
	return w
}

// Overflow returns a channel that is closed when any capture attached to
// ctx overflows, or nil (never ready) when there is none. A supervisor
// closes stop when the run is over, which releases the helper goroutine
// that watches several captures.
func Overflow(ctx context.Context, stop <-chan struct{}) <-chan struct{} {
	ws := Watches(ctx)
	switch len(ws) {
	case 0:
		return nil
	case 1:
		return ws[0]
	}
	out := make(chan struct{})
	go func() {
		cases := make([]reflect.SelectCase, 0, len(ws)+1)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stop)})
		for _, w := range ws {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		if i, _, _ := reflect.Select(cases); i > 0 {
			close(out)
		}
	}()
	return out
}
