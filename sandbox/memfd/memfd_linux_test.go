package memfd

// Tests of memory files: content, read-only reopen, bounded reads.

import (
	"os"
	"testing"
)

func TestContentReadOnlyAndBoundedRead(t *testing.T) {
	f, err := WithContent("t", []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ro, err := ReadOnly(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
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
