package workdir

// Tests of BindLook: the output limit in writable binds.

import (
	"os"
	"path/filepath"
	"testing"

	"gosandbox/sandbox"
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
	}, limit)
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
