package hostid

// Tests that leases are distinct and skip the ids other processes hold.

import (
	"os"
	"os/exec"
	"testing"

	"gosandbox/internal/testhost"
)

func TestLeasesAreDistinct(t *testing.T) {
	testhost.NeedRoot(t, "leases from the range")
	seen := map[int]bool{}
	var leases []*Lease
	for range 50 {
		l, err := Acquire()
		if err != nil {
			t.Fatal(err)
		}
		if l.UID < Base || l.UID >= Base+Count || l.GID != l.UID || l.Owner != l.UID+Count {
			t.Fatalf("lease %d/%d owner %d outside the range", l.UID, l.GID, l.Owner)
		}
		if seen[l.UID] {
			t.Fatalf("id %d leased twice", l.UID)
		}
		seen[l.UID] = true
		leases = append(leases, l)
	}
	for _, l := range leases {
		l.Release()
		l.Release() // idempotent
	}
}

// A lock held by another process keeps that id out of this one's leases.
func TestLeaseSkipsIdsOfOtherProcesses(t *testing.T) {
	testhost.NeedRoot(t, "leases from the range")
	if os.Getenv("HOSTID_HOLD") != "" {
		l, err := Acquire()
		if err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("held\n")
		_ = l
		os.Stdin.Read(make([]byte, 1)) // hold until the parent closes stdin
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestLeaseSkipsIdsOfOtherProcesses")
	cmd.Env = append(os.Environ(), "HOSTID_HOLD=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Start the search at the id the other process holds: it must be
	// skipped.
	next.Lock()
	next.i, next.started = cmd.Process.Pid%Count, true
	next.Unlock()
	l, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.UID == Base+cmd.Process.Pid%Count {
		t.Fatalf("id %d is held by process %d and was leased again", l.UID, cmd.Process.Pid)
	}
}
