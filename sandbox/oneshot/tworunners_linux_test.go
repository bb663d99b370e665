package oneshot

// Two Runners in one process keep apart the host work directories of their runs.

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"gosandbox/sandbox"
)

// TestTwoRunnersKeepTheirWorkDirs: each Runner numbered its work
// directories from 0, with the process id, so a second Runner's first copy
// run took the name of the first one's directory in use and, finding it
// there, unmounted and removed it as a leftover: the first run lost /w.
func TestTwoRunnersKeepTheirWorkDirs(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	a, b := &Runner{WorkRoot: root}, &Runner{WorkRoot: root}
	t.Cleanup(func() { a.Close(); b.Close() })
	started := make(chan struct{})
	var wg sync.WaitGroup
	var res sandbox.Result
	var out string
	wg.Add(1)
	go func() {
		defer wg.Done()
		res, out = runCopy(t, a, "sleep 1; cat /w/mine", "a", root, started)
	}()
	<-started
	if r, o := runCopy(t, b, "cat /w/mine", "b", root, nil); r.Status != sandbox.StatusOK || o != "b" {
		t.Errorf("second runner: %+v %q", r, o)
	}
	wg.Wait()
	if res.Status != sandbox.StatusOK || out != "a" {
		t.Errorf("first runner, its run overlapping the second's: %+v %q, want ok and \"a\"", res, out)
	}
}

// runCopy runs script on r with /w/mine holding content and returns the
// result and its stdout; started, when given, is closed once the run's work
// directory is in root.
func runCopy(t *testing.T, r *Runner, script, content, root string, started chan struct{}) (sandbox.Result, string) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Error(err)
		return sandbox.Result{}, ""
	}
	defer out.Close()
	spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", script}, Stdout: out,
		CopyIn: []sandbox.CopyIn{{Name: "mine", Content: []byte(content)}}}
	if started != nil {
		go func() {
			for {
				if entries, _ := os.ReadDir(root); len(entries) > 0 {
					close(started)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	res, err := r.Run(context.Background(), spec)
	if err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(out.Name())
	return res, string(b)
}
