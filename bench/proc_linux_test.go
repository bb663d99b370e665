package bench

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBoxOf(t *testing.T) {
	// 1 ─ 5 (shell) ─ 10 (bench) ─ 20 (box init) ─ 21 ─ 22 (marked) ─ 23
	//   └ 30 (unrelated)            └ 40 (another box)
	tab := procTable{
		1: {ppid: 0}, 5: {ppid: 1}, 10: {ppid: 5},
		20: {ppid: 10}, 21: {ppid: 20}, 22: {ppid: 21, args: []string{"sh", "-c", "x", "mark"}}, 23: {ppid: 22},
		30: {ppid: 1}, 40: {ppid: 10},
	}
	if got := tab.marked("mark"); !slices.Equal(got, []int{22}) {
		t.Fatalf("marked = %v, want [22]", got)
	}
	if got := sortedKeys(tab.boxOf(22, 10)); !slices.Equal(got, []int{20, 21, 22, 23}) {
		t.Errorf("box of 22 = %v, want [20 21 22 23]", got)
	}
	// A program run directly by the bench (backend none) is its own box.
	tab[50] = procInfo{ppid: 10}
	if got := sortedKeys(tab.boxOf(50, 10)); !slices.Equal(got, []int{50}) {
		t.Errorf("box of 50 = %v, want [50]", got)
	}
	// A daemonized box (parent 1) stops below pid 1.
	tab[60], tab[61] = procInfo{ppid: 1}, procInfo{ppid: 60}
	if got := sortedKeys(tab.boxOf(61, 10)); !slices.Equal(got, []int{60, 61}) {
		t.Errorf("box of 61 = %v, want [60 61]", got)
	}
}

func TestScanProcsFindsSelf(t *testing.T) {
	tab, err := scanProcs()
	if err != nil {
		t.Fatal(err)
	}
	me, ok := tab[os.Getpid()]
	if !ok || me.ppid != os.Getppid() {
		t.Fatalf("own entry %+v (found %v), want parent %d", me, ok, os.Getppid())
	}
	n, err := pssBytes(os.Getpid())
	if err != nil {
		t.Skipf("smaps_rollup unreadable here: %v", err)
	}
	if n <= 0 {
		t.Errorf("own PSS = %d, want > 0", n)
	}
}

func TestAllocatedBytes(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := copyFileContent(f, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	n, err := allocatedBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n < 64<<10 {
		t.Errorf("allocated %d bytes for a 64 KiB file, want at least that", n)
	}
	// A hard link is counted once.
	if err := os.Link(f, filepath.Join(dir, "g")); err != nil {
		t.Fatal(err)
	}
	if m, err := allocatedBytes(dir); err != nil || m != n {
		t.Errorf("after a hard link: %d (%v), want %d", m, err, n)
	}
}

func copyFileContent(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\011c`); got != "/a b\tc" {
		t.Errorf("unescape = %q", got)
	}
}
