package mount

// Tests of skeleton directories: pruning old ones, sparing recent and held ones.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeSkeleton makes a skeleton-named directory with a file in it, last
// used at used.
func fakeSkeleton(t *testing.T, base, name string, used time.Time) string {
	t.Helper()
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("box\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dir, used, used); err != nil {
		t.Fatal(err)
	}
	return dir
}

func skelName(i int) string { return strings.Repeat(string(rune('a'+i)), 32) }

func entries(t *testing.T, base string) []string {
	t.Helper()
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// useElsewhere registers another live process as a user of the skeleton
// at dir, as a supervisor running boxes on it is. Killing it is a crash.
func useElsewhere(t *testing.T, base, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	start, err := startTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(base, usersDir), 0o755)
	name := filepath.Base(dir) + "." + strconv.Itoa(cmd.Process.Pid) + "." + start
	if err := os.WriteFile(filepath.Join(base, usersDir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestPruneSkeletons(t *testing.T) {
	base := t.TempDir()
	now := time.Now()
	for i := 0; i < 5; i++ {
		fakeSkeleton(t, base, skelName(i), now.Add(-time.Duration(i+1)*time.Hour))
	}
	os.Mkdir(filepath.Join(base, "empty"), 0o555)
	os.Mkdir(filepath.Join(base, "not-a-skeleton"), 0o755)
	// A skeleton a live supervisor uses, the oldest of all.
	busy := fakeSkeleton(t, base, skelName(5), now.Add(-30*24*time.Hour))
	holder := useElsewhere(t, base, busy)
	// What crashed builders and removers left, and a build in progress.
	fakeSkeleton(t, base, buildingPrefix+"1", now.Add(-time.Hour))
	fakeSkeleton(t, base, removingPrefix+"2", now)
	building := fakeSkeleton(t, base, buildingPrefix+"3", now.Add(-time.Hour))
	lock, err := lockDir(building, unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}

	n := pruneSkeletons(base, prunePolicy{keep: 2, minIdle: time.Minute, maxIdle: 7 * 24 * time.Hour}, now)
	want := []string{buildingPrefix + "3", usersDir, skelName(0), skelName(1), "empty", skelName(5), "not-a-skeleton"}
	if got := entries(t, base); strings.Join(got, " ") != strings.Join(want, " ") || n != 5 {
		t.Fatalf("after prune (%d removed): %q, want %q", n, got, want)
	}

	// The supervisor crashes, the build ends: at the next start its
	// skeleton, over the count and idle for long, goes too.
	holder.Process.Kill()
	holder.Wait()
	unix.Close(lock)
	os.Chtimes(building, now.Add(-time.Hour), now.Add(-time.Hour))
	n = pruneSkeletons(base, prunePolicy{keep: 2, minIdle: time.Minute, maxIdle: 7 * 24 * time.Hour}, now)
	want = []string{usersDir, skelName(0), skelName(1), "empty", "not-a-skeleton"}
	if got := entries(t, base); strings.Join(got, " ") != strings.Join(want, " ") || n != 2 {
		t.Fatalf("after the crash (%d removed): %q, want %q", n, got, want)
	}

	// Idle past the limit: removed even within the count.
	n = pruneSkeletons(base, prunePolicy{keep: 2, minIdle: time.Minute, maxIdle: 90 * time.Minute}, now)
	want = []string{usersDir, skelName(0), "empty", "not-a-skeleton"}
	if got := entries(t, base); strings.Join(got, " ") != strings.Join(want, " ") || n != 1 {
		t.Fatalf("idle (%d removed): %q, want %q", n, got, want)
	}
}

// TestPruneSparesRecentSkeletons: beyond the count but taken within
// minIdle, a skeleton may be about to be taken (or used by a process that
// takes no lock): it stays.
func TestPruneSparesRecentSkeletons(t *testing.T) {
	base := t.TempDir()
	now := time.Now()
	for i := 0; i < 3; i++ {
		fakeSkeleton(t, base, skelName(i), now.Add(-time.Duration(i)*time.Minute))
	}
	if n := pruneSkeletons(base, prunePolicy{keep: 1, minIdle: time.Hour, maxIdle: 7 * 24 * time.Hour}, now); n != 0 {
		t.Fatalf("pruned %d recent skeletons: %q", n, entries(t, base))
	}
	if n := pruneSkeletons(base, prunePolicy{keep: 1, minIdle: 90 * time.Second, maxIdle: 7 * 24 * time.Hour}, now); n != 1 {
		t.Fatalf("pruned %d, want the one idle past minIdle: %q", n, entries(t, base))
	}
}

// TestEnsureSkeletonHoldsIt: a skeleton this process took is never pruned
// while it lives, however many others there are; one pruned before it was
// taken is built again.
func TestEnsureSkeletonHoldsIt(t *testing.T) {
	base := t.TempDir()
	nodes := []skelNode{{kind: 'd', path: "/etc", mode: 0o755}, {kind: 'f', path: "/etc/passwd", mode: 0o644, content: []byte("box\n")}}
	dir, err := ensureSkeletonIn(base, nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release(dir) })
	if n := pruneSkeletons(base, prunePolicy{}, time.Now().Add(time.Hour)); n != 0 {
		t.Fatalf("pruned %d, want nothing", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/passwd")); err != nil {
		t.Fatalf("held skeleton pruned: %v", err)
	}
	// Held once per process: taking it again costs no descriptor.
	again, err := ensureSkeletonIn(base, nodes)
	if err != nil || again != dir {
		t.Fatalf("again: %s %v", again, err)
	}

	// Released (as by a process that exited), pruned, then wanted again.
	release(dir)
	if n := pruneSkeletons(base, prunePolicy{}, time.Now().Add(time.Hour)); n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("released skeleton still there: %v", err)
	}
	dir2, err := ensureSkeletonIn(base, nodes)
	if err != nil || dir2 != dir {
		t.Fatalf("rebuilt: %s %v", dir2, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/passwd")); err != nil || string(b) != "box\n" {
		t.Fatalf("rebuilt content %q %v", b, err)
	}
	if got := entries(t, base); strings.Join(got, " ") != usersDir+" "+filepath.Base(dir) {
		t.Fatalf("leftovers beside the skeleton: %q", got)
	}
}

// release drops this process's registration for dir, as its exit would.
func release(dir string) {
	heldMu.Lock()
	defer heldMu.Unlock()
	me, _ := self()
	os.Remove(filepath.Join(filepath.Dir(dir), usersDir, filepath.Base(dir)+"."+me))
	delete(held, dir)
}
