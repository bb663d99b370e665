package oneshot

// Phase timing of a run's start, for benchmarks only.

import "time"

// phaseHook, when set (by benchmarks, before any Run), is told how long each
// phase of a run took, to show where the start-up time goes.
var phaseHook func(phase string, d time.Duration)

// mark ends the current phase of b under the given name.
func (b *box) mark(phase string) {
	if phaseHook == nil {
		return
	}
	now := time.Now()
	if !b.lastMark.IsZero() {
		phaseHook(phase, now.Sub(b.lastMark))
	}
	b.lastMark = now
}
