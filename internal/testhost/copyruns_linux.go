package testhost

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// CheckOverlappingCopyRuns runs a copy run on a and, while its program
// runs, one on b, the two Runners sharing root as their WorkRoot: while
// both programs run, root must hold two work directories (a second Runner
// that took the first's name removed its directory in use as a leftover),
// each run must see only its own copied-in file, and a's copy-out must find
// what it wrote.
func CheckOverlappingCopyRuns(t *testing.T, a, b sandbox.Runner, root string) {
	t.Helper()
	var wg sync.WaitGroup
	var resA, resB sandbox.Result
	var outA, outB string
	readyA, readyB := TempFile(t, "ready"), TempFile(t, "ready")
	wg.Add(2)
	go func() {
		defer wg.Done()
		resA, outA = runCopy(t, a, "echo >&2; sleep 2; cat /w/mine; echo a > /w/out", "a", readyA)
	}()
	waitWritten(readyA)
	go func() {
		defer wg.Done()
		resB, outB = runCopy(t, b, "echo >&2; sleep 1; cat /w/mine", "b", readyB)
	}()
	waitWritten(readyB)
	var names []string
	if entries, err := os.ReadDir(root); err == nil {
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	wg.Wait()
	if len(names) != 2 {
		t.Errorf("work directories while both runs ran: %q, want two", names)
	}
	if resB.Status != sandbox.StatusOK || outB != "b" {
		t.Errorf("second runner: %+v %q, want ok and \"b\"", resB, outB)
	}
	if resA.Status != sandbox.StatusOK || outA != "a" {
		t.Errorf("first runner, its run overlapping the second's: %+v %q, want ok and \"a\"", resA, outA)
	}
	if got := string(resA.Files["out"]); got != "a\n" {
		t.Errorf("first runner: copied out %q, want \"a\\n\" (%v)", got, resA.FileErrors)
	}
}

// waitWritten returns once f holds something (the program is running) or
// its run failed to write it within a minute.
func waitWritten(f *os.File) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, err := f.Stat(); err != nil || st.Size() > 0 {
			return
		}
	}
}

// runCopy runs script on r with /w/mine holding content and /w/out copied
// out, its stderr to stderr, and returns the result and its stdout.
func runCopy(t *testing.T, r sandbox.Runner, script, content string, stderr *os.File) (sandbox.Result, string) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Error(err)
		return sandbox.Result{}, ""
	}
	defer out.Close()
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", script}, Stdout: out, Stderr: stderr,
		CopyIn: []sandbox.CopyIn{{Name: "mine", Content: []byte(content)}}, CopyOut: []string{"out"}}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(out.Name())
	return res, string(b)
}
