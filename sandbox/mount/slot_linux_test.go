package mount

// Tests of the slot plan's split into what a run's mount copy gets ahead and what each run makes.

import (
	"reflect"
	"testing"
)

// TestSlotAheadAndAfterMakeTheRun: the mounts made ahead and those left
// for the run are, in that order, the run's whole plan, and nothing made
// ahead depends on the run: no proc (its pid namespace is the run's) and
// no mask inside one.
func TestSlotAheadAndAfterMakeTheRun(t *testing.T) {
	sp, err := Slot(Options{}, 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	joined := append(append([]Op{}, sp.Ahead.Ops()...), sp.AfterAhead.Ops()...)
	run := sp.Run.Ops()
	// Run ends with /w, which Ahead makes: compare as sets of targets
	// in order within each part.
	want := append(append([]Op{}, run[:len(sp.Ahead.Ops())-1]...), run[len(run)-1])
	if !reflect.DeepEqual(targets(sp.Ahead.Ops()), targets(want)) {
		t.Errorf("ahead: %v, want %v", targets(sp.Ahead.Ops()), targets(want))
	}
	if !reflect.DeepEqual(targets(sp.AfterAhead.Ops()), targets(run[len(sp.Ahead.Ops())-1:len(run)-1])) {
		t.Errorf("after: %v, want the rest of %v", targets(sp.AfterAhead.Ops()), targets(run))
	}
	if len(joined) != len(run) {
		t.Errorf("ahead and after have %d steps, the run %d", len(joined), len(run))
	}
	for _, op := range sp.Ahead.Ops() {
		if op.Kind == OpProc || op.Kind == OpMaskFile || op.Kind == OpMaskDir {
			t.Errorf("made ahead: %v at %s, which belongs to the run's pid namespace", op.Kind, targets([]Op{op}))
		}
	}
}

func targets(ops []Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.boxTarget)
	}
	return out
}
