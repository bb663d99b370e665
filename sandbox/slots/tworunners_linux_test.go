package slots

// Two Runners in one process keep apart their runs' host work directories.

import (
	"testing"

	"gosandbox/internal/testhost"
)

// TestTwoRunnersKeepTheirWorkDirs: the work directory of a copy run was
// named after the process and the slot number, the same for the first
// slot of every Runner, so a second Runner's copy run found the first's
// directory in use, took it for a leftover and removed it (the first run
// kept its files only because slots reach /w by descriptor once the
// program starts). Failed before: one work directory where two runs ran.
func TestTwoRunnersKeepTheirWorkDirs(t *testing.T) {
	root := t.TempDir()
	a, b := newRunnerWith(t, Options{Size: 1, WorkRoot: root}), newRunnerWith(t, Options{Size: 1, WorkRoot: root})
	testhost.CheckOverlappingCopyRuns(t, a, b, root)
}
