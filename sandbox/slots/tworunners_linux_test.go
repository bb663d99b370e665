package slots

// Two Runners in one process keep apart their runs' host work directories.

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// TestTwoRunnersKeepTheirWorkDirs: the work directory of a copy run was
// named after the process and the slot number, the same for the first
// slot of every Runner, so a second Runner's copy run found the first's
// directory in use, took it for a leftover and removed it (the first run
// kept its files only because slots reach /w by descriptor: oneshot's did
// not, see its test of the same name).
func TestTwoRunnersKeepTheirWorkDirs(t *testing.T) {
	root := t.TempDir()
	a, b := newRunnerWith(t, Options{Size: 1, WorkRoot: root}), newRunnerWith(t, Options{Size: 1, WorkRoot: root})
	started := make(chan struct{})
	go func() {
		for {
			if entries, _ := os.ReadDir(root); len(entries) > 0 {
				close(started)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var res sandbox.Result
	var out string
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, out = runCopy(t, a, "sleep 1; cat /w/mine; echo a > /w/out", "a")
		if got := string(res.Files["out"]); got != "a\n" {
			t.Errorf("first runner: copied out %q, want \"a\\n\" (%v)", got, res.FileErrors)
		}
	}()
	<-started
	if r, o := runCopy(t, b, "cat /w/mine", "b"); r.Status != sandbox.StatusOK || o != "b" {
		t.Errorf("second runner: %+v %q", r, o)
	}
	wg.Wait()
	if res.Status != sandbox.StatusOK || out != "a" {
		t.Errorf("first runner, its run overlapping the second's: %+v %q, want ok and \"a\"", res, out)
	}
}

// runCopy runs script on r with /w/mine holding content and returns the
// result and its stdout.
func runCopy(t *testing.T, r *Runner, script, content string) (sandbox.Result, string) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Error(err)
		return sandbox.Result{}, ""
	}
	defer out.Close()
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", script}, Stdout: out,
		CopyIn: []sandbox.CopyIn{{Name: "mine", Content: []byte(content)}}, CopyOut: []string{"out"}}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(out.Name())
	return res, string(b)
}
