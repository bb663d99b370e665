package catalogue

import (
	"regexp"
	"strconv"
	"sync"
)

// Property is one entry of the catalogue.
type Property struct {
	ID    string // "R5": the area's letter and a number, never reused
	Area  string // the area's label, as in Areas
	Title string // the property in a few words, as reports print it
	// Detail says what the property covers beyond the title: the cases a
	// spec must try and what counts as holding. Empty when the title says it.
	Detail string
}

// Area is a group of properties; Label is the Ginkgo label the suites put on
// the area's specs.
type Area struct {
	Label   string // "limits"
	Heading string // "Limits and accounting"
}

var areas = []Area{
	{"process", "Process"},
	{"filesystem", "Filesystem"},
	{"limits", "Limits and accounting"},
	{"syscalls", "Syscalls"},
	{"privilege", "Privilege"},
	{"network", "Network"},
	{"ipc", "IPC and identity"},
	{"host", "Host resources"},
	{"reuse", "Pooled reuse"},
	{"robustness", "Robustness"},
}

// properties are in the catalogue's order: by area, then by number.
var properties = []Property{
	{"P1", "process", "own pid namespace, only box pids visible", ""},
	{"P2", "process", "cannot signal outside", ""},
	{"P3", "process", "no ptrace", "The box can trace neither a process outside it nor its own children."},
	{"P4", "process", "every descendant killed and reaped at the end", "Daemons, stopped processes and processes that ignore SIGTERM included."},
	{"P5", "process", "environment exactly as configured", "Nothing of the supervisor's environment leaks in."},
	{"P6", "process", "argv/cwd exact, huge argv is a clean exec-error", ""},
	{"P7", "process", "only fds 0,1,2 plus those passed", ""},

	{"F1", "filesystem", "read-only root except /w, /tmp, /dev/shm", ""},
	{"F2", "filesystem", "host files outside the declared mounts invisible", ""},
	{"F3", "filesystem", "sensitive /proc paths masked or read-only", ""},
	{"F4", "filesystem", "/proc shows only the box", ""},
	{"F5", "filesystem", "nosuid and nodev", "A set-user-ID binary does not elevate and mknod fails everywhere the box can write."},
	{"F6", "filesystem", "/dev has only null, zero, full, random, urandom", "Plus tty and ptmx when asked for."},
	{"F7", "filesystem", "private /tmp and /dev/shm per box", ""},
	{"F8", "filesystem", "no mount propagation either way", ""},
	{"F9", "filesystem", "copy-out never follows planted links, FIFOs, sparse files", "Symlinks, FIFOs, sockets, hard links and huge sparse files planted in /w are refused with the reason, never followed."},
	{"F10", "filesystem", "read-only inputs cannot be tampered with", "Where an input is declared read-only."},
	{"F11", "filesystem", "cgroupfs scoped to the box and read-only", ""},

	{"R1", "limits", "CPU limit gives cpu-limit near the limit", ""},
	{"R2", "limits", "CPU counts all threads and children", ""},
	{"R3", "limits", "wall limit (sleep, pause, SIGSTOP) gives wall-limit", ""},
	{"R4", "limits", "the enforcing kill can't be caught", ""},
	{"R5", "limits", "memory limit gives memory-limit (oom_killed)", "Not a crash status."},
	{"R6", "limits", "address-space mode where configured", ""},
	{"R7", "limits", "accurate peak memory, supervisor excluded", "A program that touches 100 MiB is reported at 100 MiB or more."},
	{"R8", "limits", "tmpfs and /dev/shm count against memory or are capped", ""},
	{"R9", "limits", "process cap holds a fork bomb", "And the host stays stable."},
	{"R10", "limits", "output limit gives output-limit (write failed or file truncated), host buffer bounded, copy-in never counts", "Whether the write failed or the file was silently truncated, and wherever the file is (/w, /tmp, /dev/shm, a writable bind), also when a process the program left behind wrote it as the run ended; files placed by copy-in, those a writable bind held before the run, and those another box running at once wrote there (owned by its host uid, writable by it alone), never count as output."},
	{"R11", "limits", "rlimits exact, hard limits can't be raised", ""},
	{"R12", "limits", "cpu set/quota where configured", ""},
	{"R13", "limits", "wall time uses a monotonic clock", ""},
	{"R14", "limits", "socket buffers count against memory", "Data a box queues in its own sockets (TCP and UDP over loopback, unix stream and datagram pairs) is bounded near its memory limit or ends the run with memory-limit, and the peak memory reported includes it."},

	{"S1", "syscalls", "denied calls reported or fail with the configured errno", "Reported as syscall-denied with the call's number, or failing with the configured errno."},
	{"S2", "syscalls", "unknown new syscalls return ENOSYS", "So that libc falls back to the older call."},
	{"S3", "syscalls", "filter covers every thread, NO_NEW_PRIVS set", ""},
	{"S4", "syscalls", "foreign ABIs (int 0x80, x32) blocked", ""},
	{"S5", "syscalls", "non-namespaced kernel objects closed", "keyctl, add_key, io_uring, AF_VSOCK, aio contexts (io_setup)."},
	{"S6", "syscalls", "escape-class calls fail", "mount, setns, unshare (nested user namespaces included), bpf, userfaultfd, syslog, kexec, module loading."},

	{"C1", "privilege", "all capability sets empty", ""},
	{"C2", "privilege", "non-root uid, no supplementary groups", ""},
	{"C3", "privilege", "setuid doesn't elevate", ""},

	{"N1", "network", "no network but a private lo", ""},
	{"N2", "network", "no host unix sockets", ""},
	{"N3", "network", "no raw/packet sockets", ""},
	{"N4", "network", "the private loopback is up (127.0.0.1 and ::1)", "A program can listen on and connect to 127.0.0.1 and ::1 inside its box."},
	{"N5", "network", "no host kernel events (uevent netlink receives nothing)", ""},

	{"I1", "ipc", "hostname as configured", ""},
	{"I2", "ipc", "SysV IPC, mqueues, keyrings private", ""},
	{"I3", "ipc", "namespace ids differ from the host", ""},

	{"H1", "host", "per-user kernel counters bounded per box, host root's share untouched", "Inotify instances and watches, queued signals, POSIX message queue bytes, pipe buffer pages, locked memory: no box can use up host root's share or another box's."},
	{"H2", "host", "no core dumps, no host crash helper (RLIMIT_CORE 1)", "A crashing program writes no core file and starts no host crash helper, whatever the host's core_pattern (a pipe pattern ignores RLIMIT_CORE 0 but honours 1)."},
	{"H3", "host", "handed descriptors never reach the host file system", "Stdio and extra files: a directory is refused, fchdir and openat through them fail."},
	{"H4", "host", "no controlling terminal from the host, terminal modes restored", ""},

	{"U1", "reuse", "no process survives into the next run", ""},
	{"U2", "reuse", "every writable path wiped", "Also what a wipe may trip on: trees deeper than any descriptor limit, directories without permissions, FIFOs, sockets, odd names, links; the reset does not fail on them."},
	{"U3", "reuse", "IPC objects, hostname, mounts reset", ""},
	{"U4", "reuse", "accounting per run, also after the page cache was filled", "An idle run after a heavy one reports small figures, also when the heavy one filled the page cache, left files in /w or /tmp, or left files open only in flight in a unix socket cycle."},
	{"U5", "reuse", "limits restored between runs", ""},
	{"U6", "reuse", "no host leak over 1000 runs", "Descriptors, goroutines, cgroups, mounts, temporary directories."},
	{"U7", "reuse", "nothing observable tells a run about the previous one", "Pid numbers and the pid counter, network counters (/proc/net/snmp, netstat), times and modes of /w, /tmp and /dev/shm, the birth time of /tmp and the inode numbers its new files get, the load average, the pressure stall figures, the counters of /proc/stat and the host's event counters (vmstat, zoneinfo, interrupts, softirqs, diskstats, fs/file-nr, inode-nr, dentry-state) (host-wide, which earlier runs raise)."},

	{"B1", "robustness", "internal errors distinct from program errors", ""},
	{"B2", "robustness", "exec failures distinct", ""},
	{"B3", "robustness", "invalid config rejected before running", ""},
	{"B4", "robustness", "supervisor death kills the box", ""},
	{"B5", "robustness", "parallel runs and stdio edge cases without deadlock", "Closed stdout, unread stdin."},
	{"B6", "robustness", "a pool heals itself", "A killed or stuck init is replaced and no caller hangs."},
	{"B7", "robustness", "verdicts at the edges (self-raised signals, final CPU, output, tiny limits)", "A program that raises SIGTERM, SIGABRT, SIGXCPU or SIGXFSZ itself is signalled with that signal in both runners (the program must not get pid-1 signal immunity); a run whose final CPU total is over the limit is cpu-limit whatever ended it; output over the limit is output-limit whether the file was truncated or not; files placed by copy-in never count as output; the smallest accepted limits end cleanly."},
	{"B8", "robustness", "output fidelity: byte-exact and bounded", "Captured bytes come back byte-exact (binary safe) and the result stays bounded by the output limits."},
}

// byID and idPattern are made on first use, not by the package initialiser,
// which every program linking this package runs (the pooled containers'
// inits among them).
var byID = sync.OnceValue(func() map[string]Property {
	m := make(map[string]Property, len(properties))
	for _, p := range properties {
		m[p.ID] = p
	}
	return m
})

// idPattern is the form of a property ID: an area letter and a number.
var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][1-9][0-9]*$`) })

// All returns the properties in the catalogue's order (a copy).
func All() []Property { return append([]Property(nil), properties...) }

// Areas returns the areas in the catalogue's order (a copy).
func Areas() []Area { return append([]Area(nil), areas...) }

// Lookup returns the property with the given ID.
func Lookup(id string) (Property, bool) {
	p, ok := byID()[id]
	return p, ok
}

// IsArea reports whether label is the label of an area.
func IsArea(label string) bool {
	for _, a := range areas {
		if a.Label == label {
			return true
		}
	}
	return false
}

// LooksLikeID reports whether s has the form of a property ID (a capital
// letter and a number), whether or not the catalogue has it: a label such as
// "Z9" on a spec is a property the catalogue lacks, not an ordinary label.
func LooksLikeID(s string) bool { return idPattern().MatchString(s) }

// Less orders property IDs by letter, then by number (F2 before F10).
func Less(a, b string) bool {
	if a[0] != b[0] {
		return a[0] < b[0]
	}
	na, errA := strconv.Atoi(a[1:])
	nb, errB := strconv.Atoi(b[1:])
	if errA != nil || errB != nil {
		return a < b
	}
	return na < nb
}
