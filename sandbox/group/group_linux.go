package group

// Run: a group's programs started on reserved boxes, joined by relayed pipes whose transcripts are kept.

import (
	"context"
	"fmt"
	"os"
	"sync"

	"gosandbox/sandbox"
)

// Options adjust how a group runs.
type Options struct {
	// ProgramContext, when set, gives the context program i runs under,
	// derived from the group's (to attach the output captures the
	// supervisor watches, see workdir.Capture.Watch).
	ProgramContext func(i int, ctx context.Context) context.Context
}

// Result is how a group ended: one Result per program, in order, and what
// crossed each pipe when Group.Transcript asked for it.
type Result struct {
	Programs    []sandbox.Result
	Transcripts []Transcript // one per pipe, in order; nil without Group.Transcript
}

// Transcript is what crossed one pipe.
type Transcript struct {
	Pipe sandbox.Pipe
	// Data is the first Group.Transcript bytes that crossed.
	Data []byte
	// Bytes is how many bytes crossed in all; Truncated says Data holds
	// fewer.
	Bytes     int64
	Truncated bool
}

// relayChunk is what a relay copies at once: one pipe's default buffer.
const relayChunk = 64 << 10

// Run runs g on r: it reserves the boxes (when r is a sandbox.Reserver),
// starts every program, relays the pipes and returns once every program
// has ended. It returns an error only when g is invalid (wrapping
// sandbox.ErrInvalidSpec), or when a program could not be started (the
// boxes could not be reserved, ctx ended first); the programs that did
// start are then stopped.
func Run(ctx context.Context, r sandbox.Runner, g sandbox.Group, o Options) (Result, error) {
	if err := g.Validate(); err != nil {
		return Result{}, err
	}
	n := len(g.Programs)
	runners := make([]sandbox.Runner, n)
	for i := range runners {
		runners[i] = r
	}
	if res, ok := r.(sandbox.Reserver); ok {
		reserved, release, err := res.Reserve(ctx, n)
		if err != nil {
			return Result{}, fmt.Errorf("group: reserve %d boxes: %w", n, err)
		}
		defer release()
		copy(runners, reserved)
	}

	specs := append([]sandbox.Spec(nil), g.Programs...)
	wall := g.Wall
	if wall == 0 {
		wall = sandbox.DefaultLimits.Wall
	}
	for i := range specs {
		specs[i].Limits.Wall = wall
	}
	// boxEnds[i] are the pipe ends given to program i: the supervisor's
	// copies are closed when its run is over.
	boxEnds := make([][]*os.File, n)
	var relays []*relay
	closeAll := func() {
		for _, ends := range boxEnds {
			for _, f := range ends {
				f.Close()
			}
		}
		for _, rl := range relays {
			rl.stop()
		}
	}
	for _, p := range g.Pipes {
		rl, err := newRelay(p, g.Transcript)
		if err != nil {
			closeAll()
			return Result{}, err
		}
		relays = append(relays, rl)
		switch p.From.Name {
		case "stdout":
			specs[p.From.Program].Stdout = rl.fromBox
		case "stderr":
			specs[p.From.Program].Stderr = rl.fromBox
		}
		specs[p.To.Program].Stdin = rl.toBox
		boxEnds[p.From.Program] = append(boxEnds[p.From.Program], rl.fromBox)
		boxEnds[p.To.Program] = append(boxEnds[p.To.Program], rl.toBox)
	}
	for _, rl := range relays {
		rl.started = true
		go rl.run()
	}

	groupCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]sandbox.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx := groupCtx
			if o.ProgramContext != nil {
				pctx = o.ProgramContext(i, pctx)
			}
			results[i], errs[i] = runners[i].Run(pctx, specs[i])
			if errs[i] != nil {
				cancel() // the others would wait for a peer that never comes
			}
			if errs[i] == nil && results[i].Status == sandbox.StatusWallLimit {
				// The group's clock has passed, so a peer still running
				// ends with wall-limit too: its own timer (the same limit,
				// started within moments of this one) fires soon. Closing
				// this box's pipes now would end it first with the EOF
				// or EPIPE of a peer gone, a race that fast runners lose.
				return
			}
			// The box is gone: its peers get EOF or EPIPE from now on.
			for _, f := range boxEnds[i] {
				f.Close()
			}
		}()
	}
	wg.Wait()
	for _, ends := range boxEnds {
		for _, f := range ends {
			f.Close() // those of programs the wall ended (closing twice is harmless)
		}
	}
	// Every box is gone, so every relay ends by itself (EOF or EPIPE);
	// stop makes sure of it.
	for _, rl := range relays {
		rl.stop()
	}
	for i, err := range errs {
		if err != nil {
			return Result{}, fmt.Errorf("group: program %d: %w", i, err)
		}
	}
	out := Result{Programs: results}
	if g.Transcript > 0 {
		for _, rl := range relays {
			out.Transcripts = append(out.Transcripts, rl.transcript)
		}
	}
	return out, nil
}

// relay copies one pipe: fromBox is the write end the writer's box gets,
// toBox the read end the reader's box gets; the supervisor reads src and
// writes dst, its own ends of the two kernel pipes.
type relay struct {
	fromBox, toBox *os.File
	src, dst       *os.File
	keep           int64
	transcript     Transcript
	done           chan struct{}
	started        bool // run was started (set before the goroutine)
	stopOnce       sync.Once
}

func newRelay(p sandbox.Pipe, keep int64) (*relay, error) {
	src, fromBox, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("group: pipe %s: %w", p.From, err)
	}
	toBox, dst, err := os.Pipe()
	if err != nil {
		src.Close()
		fromBox.Close()
		return nil, fmt.Errorf("group: pipe %s: %w", p.To, err)
	}
	return &relay{fromBox: fromBox, toBox: toBox, src: src, dst: dst, keep: keep,
		transcript: Transcript{Pipe: p}, done: make(chan struct{})}, nil
}

// run copies until the writer's side ends (EOF: pass it on by closing dst)
// or the reader's side does (EPIPE: pass it on by closing src).
func (rl *relay) run() {
	defer close(rl.done)
	defer rl.src.Close()
	defer rl.dst.Close()
	buf := make([]byte, relayChunk)
	for {
		n, err := rl.src.Read(buf)
		if n > 0 {
			w, werr := rl.dst.Write(buf[:n])
			rl.record(buf[:w])
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (rl *relay) record(b []byte) {
	t := &rl.transcript
	t.Bytes += int64(len(b))
	if room := rl.keep - int64(len(t.Data)); room > 0 {
		t.Data = append(t.Data, b[:min(int64(len(b)), room)]...)
	}
	t.Truncated = t.Bytes > int64(len(t.Data))
}

// stop ends the relay and waits for it: closing its ends wakes a Read or
// Write blocked in the poller.
func (rl *relay) stop() {
	rl.stopOnce.Do(func() {
		rl.src.Close()
		rl.dst.Close()
	})
	if rl.started {
		<-rl.done
	}
}
