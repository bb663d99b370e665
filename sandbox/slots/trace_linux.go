package slots

// Phase marks of a run, for the benchmarks that time each phase.

import "time"

// phaseHook, when set (benchmarks), receives the time of each phase of a
// run: the time since the previous mark, under the name of the phase that
// just ended.
var phaseHook func(phase string, d time.Duration)

// mark ends a phase of the run (see phaseHook); "" starts the clock.
func (b *box) mark(phase string) {
	if phaseHook == nil {
		return
	}
	now := time.Now()
	if phase != "" && !b.lastMark.IsZero() {
		phaseHook(phase, now.Sub(b.lastMark))
	}
	b.lastMark = now
}
