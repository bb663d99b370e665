package seccomp

// Tests of reading the denied syscall from an audit record.

import (
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestDescribeAuditRecord(t *testing.T) {
	for rec, want := range map[string]string{
		`6,1,2,-;audit: type=1326 audit(1.7:41): auid=4294967295 uid=1073741824 pid=16091 comm="probe" sig=31 arch=c000003e syscall=250 compat=0 ip=0x1 code=0x80000000`: "keyctl (250, x86_64)",
		`audit: type=1326 pid=1 sig=31 arch=40000003 syscall=20 compat=1 ip=0x5246e7`:                                                                                    "getpid (20, i386)",
		`audit: type=1326 pid=1 sig=31 arch=c000003e syscall=1073741863 compat=0`:                                                                                        "getpid (39, x32)",
		`audit: type=1326 pid=1 sig=31 arch=deadbeef syscall=7 compat=0`:                                                                                                 "syscall 7 (arch 0xdeadbeef)",
		`audit: type=1326 pid=1 sig=31`: "",
	} {
		if got := describeAuditRecord([]byte(rec)); got != want {
			t.Errorf("%s:\ngot %q, want %q", rec, got, want)
		}
	}
}

// TestReadDeniedWaitsThroughSignals: the wait for the kernel's record of a
// kill goes on when a signal interrupts it (the Go runtime's preemption
// signal, SIGURG, comes often on a busy machine): the record logged after
// the signal still names the call.
func TestReadDeniedWaitsThroughSignals(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	tid := make(chan int)
	got := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		got <- readDenied(p[0], []byte(" uid=1000 "))
	}()
	reader := <-tid
	// The signal comes while the reader waits (recordWait is far longer),
	// the record after it.
	time.Sleep(recordWait / 10)
	if err := unix.Tgkill(unix.Getpid(), reader, unix.SIGURG); err != nil {
		t.Fatal(err)
	}
	time.Sleep(recordWait / 10)
	rec := "audit: type=1326 uid=1000 pid=7 sig=31 arch=c000003e syscall=250 compat=0"
	if _, err := unix.Write(p[1], []byte(rec)); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "keyctl (250, x86_64)" {
		t.Errorf("a signal during the wait: got %q, want the record's call", s)
	}
}

// TestLateRecordOfEarlierRun: the kernel prints a kill's record some time
// after the kill, so a record of an earlier run's process (another pid,
// the same host uid: a box's host uid is given to run after run) can come
// after the mark of the next run, and after that run's own record. The
// run's own call is named, not the earlier run's.
func TestLateRecordOfEarlierRun(t *testing.T) {
	p := recordPair(t)
	for _, rec := range []string{
		"6,1,2,-;audit: type=1326 audit(1.1:1): auid=4294967295 uid=1000 gid=1000 ses=4294967295 pid=700 comm=\"a\" sig=31 arch=c000003e syscall=250 compat=0",
		"6,2,3,-;audit: type=1326 audit(1.0:2): auid=4294967295 uid=1000 gid=1000 ses=4294967295 pid=699 comm=\"a\" sig=31 arch=c000003e syscall=321 compat=0",
	} {
		if _, err := unix.Write(p[1], []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	if s := readDenied(p[0], recordOf(700, 1000)...); s != "keyctl (250, x86_64)" {
		t.Errorf("the run's process 700 was killed for keyctl, a process of an earlier run for bpf: got %q", s)
	}
}

// TestAuditGroupRecordOfLongPath: a record from the audit group is read
// whole, past the ~1 KiB a kernel log line holds (a program run from a long
// path: the path comes before the call's number), and only seccomp records
// of the run's process count.
func TestAuditGroupRecordOfLongPath(t *testing.T) {
	p := recordPair(t)
	path := "/w/" + strings.Repeat("d", 3000) + "/probe"
	for _, m := range []struct {
		typ uint16
		rec string
	}{
		{auditSeccomp, `audit(1.7:41): auid=4294967295 uid=1000 gid=1000 ses=4294967295 pid=700 comm="probe" exe="` + path + `" sig=31 arch=c000003e syscall=250 compat=0 ip=0x1 code=0x80000000`},
		{1300, `audit(1.7:42): arch=c000003e syscall=321 success=no exit=-1 pid=700 uid=1000`}, // not a seccomp record
		{auditSeccomp, `audit(1.7:43): auid=4294967295 uid=1000 gid=1000 ses=4294967295 pid=699 comm="probe" exe="/w/p" sig=31 arch=c000003e syscall=321 compat=0`},
	} {
		msg := make([]byte, unix.NLMSG_HDRLEN+len(m.rec))
		*(*unix.NlMsghdr)(unsafe.Pointer(&msg[0])) = unix.NlMsghdr{Len: uint32(len(msg)), Type: m.typ}
		copy(msg[unix.NLMSG_HDRLEN:], m.rec)
		if _, err := unix.Write(p[1], msg); err != nil {
			t.Fatal(err)
		}
	}
	if s := readSeccompRecords(p[0], auditRecord, false, recordOf(700, 1000)); s != "keyctl (250, x86_64)" {
		t.Errorf("a record with a %d-byte path: got %q, want keyctl", len(path), s)
	}
}

// recordPair is a connected pair of sockets that stands for a record
// source: datagrams keep one record per read, as the log and the audit
// group do. p[0] (the reading end) is nonblocking; both close at the
// test's end.
func recordPair(t *testing.T) [2]int {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	unix.SetNonblock(p[0], true)
	return [2]int{p[0], p[1]}
}
