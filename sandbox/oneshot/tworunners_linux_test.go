package oneshot

// Two Runners in one process keep apart the host work directories of their runs.

import (
	"testing"

	"gosandbox/internal/testhost"
)

// TestTwoRunnersKeepTheirWorkDirs: each Runner numbered its work
// directories from 0, with the process id, so a second Runner's first copy
// run took the name of the first one's directory in use and, finding it
// there, unmounted and removed it as a leftover: a first run still being
// set up lost its /w ("bind mount 21 (/w): no such file or directory").
// Failed before: one work directory where two runs ran.
func TestTwoRunnersKeepTheirWorkDirs(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	a, b := &Runner{WorkRoot: root}, &Runner{WorkRoot: root}
	t.Cleanup(func() { a.Close(); b.Close() })
	testhost.CheckOverlappingCopyRuns(t, a, b, root)
}
