package workdir

// Tests of BindLook: the output limit in writable binds.

import (
	"os"
	"path/filepath"
	"testing"

	"gosandbox/sandbox"
	"gosandbox/sandbox/hostid"
)

func TestBindLookFindsWhatTheRunGrew(t *testing.T) {
	const limit = 1 << 20
	dir, ro := t.TempDir(), t.TempDir()
	file := filepath.Join(t.TempDir(), "bound")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "input"), make([]byte, limit), 0o644))
	must(os.WriteFile(file, nil, 0o644))
	l := LookAtBinds([]sandbox.Bind{
		{Source: dir, Target: "/out", Writable: true},
		{Source: ro, Target: "/ro"},
		{Source: file, Target: "/f", Writable: true},
		{Source: filepath.Join(dir, "gone"), Target: "/gone", Writable: true},
	}, limit, os.Geteuid())
	defer l.Close()
	if l.AtLimit() {
		t.Fatal("a file at the limit there before the run counts as output")
	}
	// A read-only bind is not looked at: nothing of the box grows there.
	must(os.WriteFile(filepath.Join(ro, "big"), make([]byte, limit), 0o644))
	if l.AtLimit() {
		t.Fatal("a read-only bind was looked at")
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "big"), make([]byte, limit), 0o644))
	if !l.AtLimit() {
		t.Fatal("a file grown to the limit in a writable bind's subdirectory is not seen")
	}
	must(os.Remove(filepath.Join(dir, "a", "b", "big")))
	must(os.WriteFile(file, make([]byte, limit), 0o644))
	if !l.AtLimit() {
		t.Fatal("a writable file bind grown to the limit is not seen")
	}
	var none *BindLook
	if none.AtLimit() {
		t.Fatal("a nil look found something")
	}
	none.Close()
}

// TestBindLookPassesOverAnotherBoxsFile: concurrent runs may share a
// writable bind. A file another box grew to the limit there during this run
// is that run's output, owned by that box's host uid: this run's verdict
// must not be output-limit for it. A file of this run's own uid, or one not
// owned by a box (the caller's), still counts.
func TestBindLookPassesOverAnotherBoxsFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: files owned by box host ids")
	}
	const limit = 1 << 20
	own, other := hostid.Base+7, hostid.Base+hostid.Count-1
	dir := t.TempDir()
	l := LookAtBinds([]sandbox.Bind{{Source: dir, Target: "/out", Writable: true}}, limit, own)
	defer l.Close()
	grow := func(name string, uid int) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, limit), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	grow("theirs", other)
	if l.AtLimit() {
		t.Fatalf("a file another box (host uid %d) grew to the limit in a shared bind counts as this run's output", other)
	}
	// One the other box left writable to all: this run may have grown
	// it, and it counts.
	if err := os.Chmod(filepath.Join(dir, "theirs"), 0o666); err != nil {
		t.Fatal(err)
	}
	if !l.AtLimit() {
		t.Fatal("another box's file left writable to this run, at the limit, is not seen")
	}
	if err := os.Remove(filepath.Join(dir, "theirs")); err != nil {
		t.Fatal(err)
	}
	grow("ours", own)
	if !l.AtLimit() {
		t.Fatal("a file of the run's own host uid grown to the limit is not seen")
	}
	if err := os.Remove(filepath.Join(dir, "ours")); err != nil {
		t.Fatal(err)
	}
	// The caller's, or a program's that grew a file the caller left
	// writable to it: not another box's.
	grow("callers", 0)
	if !l.AtLimit() {
		t.Fatal("a file at the limit not owned by another box is not seen")
	}
}
