package seccomp

// Tests of reading the denied syscall from an audit record.

import "testing"

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
