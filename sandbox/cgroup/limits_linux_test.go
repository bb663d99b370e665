package cgroup

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// limitFiles are the files Reset writes limits to.
var limitFiles = []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", tcpLimitFile, "pids.max",
	"memory.max", "memory.swap.max"}

// TestResetSkipsUnchangedLimits: a Reset to the limits the group has
// already writes none of them (a pooled box between runs); a change writes
// again.
func TestResetSkipsUnchangedLimits(t *testing.T) {
	m := manager(t)
	l := Limits{Memory: 64 << 20, Procs: 16}
	g := create(t, m, "skip", l)
	var written []string
	writeSeen = func(path string) {
		if slices.Contains(limitFiles, filepath.Base(path)) {
			written = append(written, filepath.Base(path))
		}
	}
	defer func() { writeSeen = nil }()
	if err := g.Reset(l); err != nil {
		t.Fatal(err)
	}
	if len(written) > 0 {
		t.Errorf("Reset to unchanged limits wrote %v", written)
	}
	written = nil
	if err := g.Reset(Limits{Memory: 32 << 20, Procs: 16}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(written, "pids.max") || len(written) == 0 {
		t.Errorf("Reset changing the memory limit only wrote %v", written)
	}
	written = nil
	if err := g.Reset(Limits{Memory: 32 << 20, Procs: 8}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(written, []string{"pids.max"}) {
		t.Errorf("Reset changing the process limit only wrote %v", written)
	}
}

// TestResetAfterFailedLimit: v1 refuses a memory limit below what the
// group holds and cannot reclaim (anonymous memory, no swap) after the
// socket buffer limit took it; the next Reset to the old limits writes them
// all again, the two limits in step.
func TestResetAfterFailedLimit(t *testing.T) {
	m := manager(t)
	if m.Info().Mode != V1 {
		t.Skip("v2 OOM-kills at a memory.max below the usage instead of refusing it")
	}
	if strings.Count(readString("/proc/swaps"), "\n") > 0 {
		t.Skip("swap in use: the group's memory could be swapped out, and the lower limit taken")
	}
	l := Limits{Memory: 64 << 20, Procs: 16}
	g := create(t, m, "failed-limit", l)
	cmd, stdin, out := startToucher(t, g, 32)
	if line, err := out.ReadString('\n'); err != nil || line != "touched\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	err := g.Reset(Limits{Memory: 8 << 20, Procs: 16})
	stdin.Close()
	cmd.Wait()
	if err == nil {
		t.Fatal("Reset to 8 MiB with 32 MiB of anonymous memory held and no swap: no error")
	}
	t.Logf("refused as expected: %v", err)
	if err := g.Reset(l); err != nil {
		t.Fatal(err)
	}
	impl := g.impl.(*v1Group)
	files := []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", tcpLimitFile}
	for _, f := range files {
		path := filepath.Join(impl.memory, f)
		if !exists(path) {
			continue
		}
		if got := readString(path); got != strconv.Itoa(64<<20) {
			t.Errorf("%s = %s after the Reset back, want %d", f, got, 64<<20)
		}
	}
}

// TestLimitsAfterReclaimAndEnterThread: reclaim and EnterThread write the
// memory and process limits for a while; a Reset after them still leaves
// the limits asked for.
func TestLimitsAfterReclaimAndEnterThread(t *testing.T) {
	m := manager(t)
	if m.Info().Mode != V1 {
		t.Skip("v1 only: reclaim and EnterThread touch no limit on v2")
	}
	l := Limits{Memory: 64 << 20, Procs: 4}
	g := create(t, m, "reclaim-enter", l)
	impl := g.impl.(*v1Group)
	leave, err := g.EnterThread()
	if err != nil {
		t.Fatal(err)
	}
	if got := readString(filepath.Join(impl.pids, "pids.max")); got != "5" {
		t.Errorf("pids.max %s inside EnterThread, want 5", got)
	}
	if err := leave(); err != nil {
		t.Fatal(err)
	}
	if err := g.Reset(l); err != nil {
		t.Fatal(err)
	}
	if got := readString(filepath.Join(impl.pids, "pids.max")); got != "4" {
		t.Errorf("pids.max %s after EnterThread and Reset, want 4", got)
	}
}
