package memfd

// Tests of memory files: content, read-only reopen, bounded reads.

import (
	"fmt"
	"os"
	"testing"
)

// readOnlyOf is WithContent and ReadOnly, both closed when t ends.
func readOnlyOf(t *testing.T, content string) (f, ro *os.File) {
	t.Helper()
	f, err := WithContent("t", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if ro, err = ReadOnly(f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return f, ro
}

func TestContentReadOnlyAndBoundedRead(t *testing.T) {
	f, ro := readOnlyOf(t, "hello world")
	if _, err := ro.Write([]byte("x")); err == nil {
		t.Fatal("wrote through the read-only descriptor")
	}
	got, exceeded, err := ReadBounded(f, 5)
	if err != nil || string(got) != "hello" || !exceeded {
		t.Fatalf("got %q exceeded=%v err=%v", got, exceeded, err)
	}
	got, exceeded, err = ReadBounded(ro, 100)
	if err != nil || string(got) != "hello world" || exceeded {
		t.Fatalf("got %q exceeded=%v err=%v", got, exceeded, err)
	}
}

func TestNewIsEmpty(t *testing.T) {
	f, err := New("e")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() != 0 || !st.Mode().IsRegular() {
		t.Fatalf("stat %v %v", st, err)
	}
	_ = os.DevNull
}

// TestReadOnlyCannotBeReopenedForWriting: whoever holds the read-only
// descriptor (a box, as its stdin) can open it again through
// /proc/self/fd with other flags; a memfd's mode is 0777, so the reopen
// for writing passes the permission check even for a box's user. The
// content must still not change.
func TestReadOnlyCannotBeReopenedForWriting(t *testing.T) {
	_, ro := readOnlyOf(t, "hello")
	if w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", ro.Fd()), os.O_WRONLY, 0); err == nil {
		w.Write([]byte("HELLO"))
		w.Close()
	}
	if w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", ro.Fd()), os.O_WRONLY|os.O_TRUNC, 0); err == nil {
		w.Close()
	}
	if got, _, err := ReadBounded(ro, 100); err != nil || string(got) != "hello" {
		t.Fatalf("the content after a reopen of the read-only descriptor for writing: %q, %v; want \"hello\"", got, err)
	}
}
