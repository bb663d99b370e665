package sandbox

// Group: several programs started together, their pipes and streams, and the Reserver a runner offers for them.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Group is several programs run together, each in its own box, with pipes
// joining their streams: an interactor and a solution, or a pipeline. The
// programs start together and share one wall clock; a program blocked on a
// pipe whose other end has gone sees EOF (reading) or EPIPE (writing),
// never a hang. Package sandbox/group runs a Group on any Runner.
type Group struct {
	// Programs are the members, each in its own box. The streams that
	// Pipes name must be nil here (the group runner sets them); the others
	// are the caller's, as in a single run. Limits.Wall must be zero: the
	// group has one clock, Wall.
	Programs []Spec
	// Pipes join an output of one program to the stdin of another (or of
	// itself). A stream is in at most one pipe.
	Pipes []Pipe
	// Wall bounds the whole group: a program still running when it has
	// passed since the start ends with wall-limit. Zero means
	// DefaultLimits.Wall.
	Wall time.Duration
	// Transcript, when positive, keeps up to this many bytes of what
	// crossed each pipe.
	Transcript int64
}

// Stream names one standard stream of one program of a Group: "0:stdout".
type Stream struct {
	Program int    // index in Group.Programs
	Name    string // "stdin", "stdout" or "stderr"
}

func (s Stream) String() string { return fmt.Sprintf("%d:%s", s.Program, s.Name) }

// Pipe carries what From (a stdout or stderr) writes to To (a stdin).
type Pipe struct {
	From, To Stream
}

// ParseStream reads "N:stdin", "N:stdout" or "N:stderr".
func ParseStream(s string) (Stream, error) {
	idx, name, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || n < 0 || idx != strconv.Itoa(n) {
		return Stream{}, fmt.Errorf("stream %q: want PROGRAM:STREAM, such as 0:stdout", s)
	}
	switch name {
	case "stdin", "stdout", "stderr":
	default:
		return Stream{}, fmt.Errorf("stream %q: %q is not stdin, stdout or stderr", s, name)
	}
	return Stream{Program: n, Name: name}, nil
}

// Validate checks the group's shape and every program's Spec; errors wrap
// ErrInvalidSpec and name the program or pipe at fault.
func (g Group) Validate() error {
	if len(g.Programs) == 0 {
		return fmt.Errorf("%w: group: no programs", ErrInvalidSpec)
	}
	if g.Wall < 0 || (g.Wall > 0 && g.Wall < MinWall) {
		return fmt.Errorf("%w: group: wall %v below the minimum %v", ErrInvalidSpec, g.Wall, MinWall)
	}
	if g.Transcript < 0 {
		return fmt.Errorf("%w: group: negative transcript bound %d", ErrInvalidSpec, g.Transcript)
	}
	used := map[Stream]int{}
	for i, p := range g.Pipes {
		for _, end := range []struct {
			s  Stream
			ok bool
		}{{p.From, p.From.Name == "stdout" || p.From.Name == "stderr"}, {p.To, p.To.Name == "stdin"}} {
			s := end.s
			if s.Program < 0 || s.Program >= len(g.Programs) {
				return fmt.Errorf("%w: pipes[%d]: %s: the group has programs 0 to %d", ErrInvalidSpec, i, s, len(g.Programs)-1)
			}
			if !end.ok {
				return fmt.Errorf("%w: pipes[%d]: %s: a pipe goes from a stdout or stderr to a stdin", ErrInvalidSpec, i, s)
			}
			if j, dup := used[s]; dup {
				return fmt.Errorf("%w: pipes[%d]: %s is already in pipes[%d]", ErrInvalidSpec, i, s, j)
			}
			used[s] = i
			spec := g.Programs[s.Program]
			if f := map[string]bool{"stdin": spec.Stdin != nil, "stdout": spec.Stdout != nil, "stderr": spec.Stderr != nil}[s.Name]; f {
				return fmt.Errorf("%w: pipes[%d]: %s is piped but the program's Spec sets it too", ErrInvalidSpec, i, s)
			}
		}
	}
	for i, spec := range g.Programs {
		if spec.Limits.Wall != 0 {
			return fmt.Errorf("%w: program %d: limits.wall is the group's (one clock for all), not a program's", ErrInvalidSpec, i)
		}
		if err := spec.Validate(); err != nil {
			return fmt.Errorf("program %d: %w", i, err)
		}
	}
	return nil
}

// Reserver is a Runner with a fixed number of boxes (a pool). Reserve
// takes n boxes at once and returns one Runner per box, each good for one
// run; release gives the boxes back once those runs are over. A group
// reserves all its boxes before any program starts, so its programs start
// together and two groups never each hold part of what the other waits
// for. A pool smaller than n lends boxes built for the occasion for the
// rest. Runners without a fixed number of boxes (one-shot) need not
// implement it.
type Reserver interface {
	Reserve(ctx context.Context, n int) (runners []Runner, release func(), err error)
}
