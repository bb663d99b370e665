package seccomp

// DeniedSyscall: the audit record that names the call a kill-mode filter denied.

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// DeniedSyscallOfUID finds the audit record (type 1326, SECCOMP) the
// kernel logged when the syscall filter killed a process that ran as host
// uid uid, and names the call: "keyctl (250, x86_64)". It returns "" when
// the record is not there (no access to /dev/kmsg, an audit daemon that
// takes the records, or rate limiting). Only called after a SIGSYS death
// in kill mode, so reading the whole log buffer costs nothing on the
// common path. A box whose host id is its own (sandbox/hostid) is found by
// it even when the supervisor does not know the program's pid; a runner
// that gives a host id to run after run uses a LogMark.
func DeniedSyscallOfUID(uid int) string {
	return deniedSyscallMatching([]byte(" uid=" + strconv.Itoa(uid) + " "))
}

func deniedSyscallMatching(want []byte) string {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	return readDenied(fd, want)
}

// LogMark is a place in the kernel log, taken before a run starts: the
// records after it are the run's. A runner that gives a box's host id to
// run after run (slots) must look there only, or a run that died of a
// SIGSYS it raised itself would be named the call an earlier run was
// killed for.
//
// The log's record of a kill holds the program's path before the call's
// number, and a log line is cut at about 1 KiB: a program run from a long
// path (deep below /w) would lose the name. So the mark also listens to
// the audit system's read-only multicast group, which gets each record
// whole, from the mark on, and is asked first.
type LogMark struct {
	fd    int // /dev/kmsg, at the mark
	audit int // NETLINK_AUDIT socket in AUDIT_NLGRP_READLOG; -1 when none
}

// MarkLog marks the end of the kernel log as it is now; nil when the log
// cannot be read (DeniedSyscallOf then finds nothing, as it would).
func MarkLog() *LogMark {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil
	}
	return &LogMark{fd: fd, audit: listenAudit()}
}

// listenAudit joins the audit records' multicast group (root's: it takes
// CAP_AUDIT_READ); -1 where it cannot. An audit daemon, when one runs,
// still gets every record: the group is a copy for readers.
func listenAudit() int {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return -1
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (auditGroupReadLog - 1)}); err != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// auditGroupReadLog is AUDIT_NLGRP_READLOG (linux/audit.h).
const auditGroupReadLog = 1

// auditSeccomp is AUDIT_SECCOMP, a seccomp kill's record type.
const auditSeccomp = 1326

// DeniedSyscallOf is DeniedSyscallOfUID over the records logged since the
// mark, for the process pid that ran as host uid uid; pid <= 0 or uid < 0
// when the caller does not know it. A record printed after the mark may still
// be an earlier run's (the kernel's kauditd prints it some time after the
// kill, and a box's host uid is given to run after run), so the pid is
// matched wherever the supervisor knows it; and a pid alone may be an
// earlier process's (pids wrap), so records from before the mark are
// never read.
func (m *LogMark) DeniedSyscallOf(pid, uid int) string {
	if m == nil || m.fd < 0 {
		return ""
	}
	want := recordOf(pid, uid)
	if m.audit < 0 {
		return readDenied(m.fd, want...)
	}
	// The audit thread sends the group its copy before it prints the
	// record in the log (a long record reached the log seconds late
	// here): the socket is waited on, the log only read as it is, for a
	// record the group missed (its queue was full).
	if name := readSeccompRecords(m.audit, auditRecord, true, want); name != "" {
		return name
	}
	return readSeccompRecords(m.fd, kmsgRecord, false, want)
}

// auditRecord receives one message of the audit group on fd (nonblocking)
// into buf: the record's text when it is a seccomp record, else empty.
func auditRecord(fd int, buf []byte) ([]byte, error) {
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err == unix.ENOBUFS {
		return nil, nil // records dropped from a full queue; go on
	}
	if err != nil {
		return nil, err
	}
	// The audit thread sends one record per message.
	if n < unix.NLMSG_HDRLEN {
		return nil, nil
	}
	h := (*unix.NlMsghdr)(unsafe.Pointer(&buf[0]))
	if h.Type != auditSeccomp || int(h.Len) < unix.NLMSG_HDRLEN || int(h.Len) > n {
		return nil, nil
	}
	return buf[unix.NLMSG_HDRLEN:h.Len], nil
}

// kmsgRecord reads one record of the kernel log from fd (nonblocking) into
// buf: the record when it is a seccomp one, else empty.
func kmsgRecord(fd int, buf []byte) ([]byte, error) {
	n, err := unix.Read(fd, buf)
	if err == unix.EPIPE {
		return nil, nil // records overwritten while we read: go on with the next
	}
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, unix.EAGAIN
	}
	if rec := buf[:n]; bytes.Contains(rec, []byte("type=1326")) {
		return rec, nil
	}
	return nil, nil
}

// recordOf is what a record of process pid, host uid uid, contains.
func recordOf(pid, uid int) [][]byte {
	var want [][]byte
	if pid > 0 {
		want = append(want, []byte(" pid="+strconv.Itoa(pid)+" "))
	}
	if uid >= 0 {
		want = append(want, []byte(" uid="+strconv.Itoa(uid)+" "))
	}
	return want
}

// Close releases the mark; a nil mark is none.
func (m *LogMark) Close() {
	if m != nil && m.fd >= 0 {
		unix.Close(m.fd)
		m.fd = -1
	}
	if m != nil && m.audit >= 0 {
		unix.Close(m.audit)
		m.audit = -1
	}
}

// readDenied reads the log from fd's place on and describes the last
// seccomp record that contains every one of want.
func readDenied(fd int, want ...[]byte) string {
	return readSeccompRecords(fd, kmsgRecord, true, want)
}

// readSeccompRecords reads records from fd with next, from its place on,
// and describes the last seccomp record that contains every one of want;
// with wait, it waits up to recordWait for one when there is none yet.
func readSeccompRecords(fd int, next func(fd int, buf []byte) ([]byte, error), wait bool, want [][]byte) string {
	buf := make([]byte, 16<<10) // one record per read; a record with a PATH_MAX path fits
	var last []byte
	// Without an audit daemon the kernel's kauditd thread prints the
	// record some time after the kill: on a slow machine (an emulated
	// one) after the supervisor has reaped the program. Once the log is
	// read to its end, wait a little for new records.
	deadline := time.Now().Add(recordWait)
	for {
		rec, err := next(fd, buf)
		if err == unix.EAGAIN && last == nil && wait {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			// A signal (the runtime's preemption, on a busy machine)
			// ends a poll early with EINTR: the wait goes on.
			if n, perr := unix.Poll(fds, int(left.Milliseconds())+1); n > 0 || perr == unix.EINTR {
				continue
			}
			break
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break // EAGAIN: the end of the log
		}
		if rec != nil && containsAll(rec, want) {
			last = append(last[:0], rec...)
		}
	}
	if last == nil {
		return ""
	}
	return describeAuditRecord(last)
}

func containsAll(rec []byte, want [][]byte) bool {
	for _, w := range want {
		if !bytes.Contains(rec, w) {
			return false
		}
	}
	return true
}

// recordWait bounds the wait for the audit record of a kill: it is paid
// only after a SIGSYS death in kill mode, and in full only where the kernel
// logs no record at all.
const recordWait = 500 * time.Millisecond

// describeAuditRecord turns the syscall= and arch= fields of a seccomp
// audit record into "name (number, arch)".
func describeAuditRecord(rec []byte) string {
	nr, err := strconv.ParseInt(field(rec, "syscall="), 10, 64)
	if err != nil {
		return ""
	}
	archID, err := strconv.ParseUint(field(rec, "arch="), 16, 32)
	if err != nil {
		return fmt.Sprintf("syscall %d", nr)
	}
	info := archByAudit(uint32(archID), nr)
	if info == nil {
		return fmt.Sprintf("syscall %d (arch %#x)", nr, archID)
	}
	if info == arch.X32 {
		nr &^= x32SyscallBit
	}
	if name, ok := info.SyscallNumbers[int(nr)]; ok {
		return fmt.Sprintf("%s (%d, %s)", name, nr, info.Name)
	}
	return fmt.Sprintf("syscall %d (%s)", nr, info.Name)
}

func archByAudit(id uint32, nr int64) *arch.Info {
	for _, a := range []*arch.Info{arch.X86_64, arch.I386, arch.AARCH64, arch.ARM} {
		if uint32(a.ID) == id {
			if a == arch.X86_64 && nr&x32SyscallBit != 0 {
				return arch.X32
			}
			return a
		}
	}
	return nil
}

// field returns the value after key up to the next space.
func field(rec []byte, key string) string {
	i := bytes.Index(rec, []byte(" "+key))
	if i < 0 {
		return ""
	}
	v := rec[i+1+len(key):]
	if j := bytes.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	return string(v)
}
