package seccomp

// The policy: which calls are denied, and which argument checks apply.

import (
	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are the calls that reach kernel objects a namespace does not
// isolate (S5) or that could loosen the box itself (S6). Calls the kernel has
// since removed stay listed: denying them costs nothing and keeps old kernels
// covered.
var deniedSyscalls = []string{
	// The mount tree is built before exec; the program must not change it or
	// leave it (S6).
	"mount", "umount2", "pivot_root", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
	"open_tree_attr", "mount_setattr",
	// Namespaces: joining others; creating new ones is filtered by flag below.
	"setns",
	// Other processes' memory and file descriptors.
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	// Kernel attack surface with a long record of escapes.
	"bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"modify_ldt",
	// Keyrings are not namespaced (S5).
	"keyctl", "add_key", "request_key",
	// Nor are aio contexts: every one counts against fs.aio-max-nr, one
	// limit for the whole host, which a box could use up (S5). The other
	// aio calls need a context.
	"io_setup",
	// The whole machine: kernel images and modules, power, swap, the kernel
	// log, process accounting, quotas, clocks.
	"kexec_load", "kexec_file_load",
	"init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module",
	"reboot", "swapon", "swapoff", "syslog", "acct",
	"quotactl", "quotactl_fd",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	// File handles bypass the mount tree (the "shocker" escape).
	"open_by_handle_at", "name_to_handle_at",
	// Miscellaneous host-wide or obsolete interfaces.
	"lookup_dcookie", "fanotify_init", "iopl", "ioperm", "vhangup",
	"nfsservctl", "uselib", "_sysctl",
}

// DeniedSyscalls returns the names of the calls the default policy denies
// outright (argument-dependent denials aside), for other sandboxes' filters
// that want the same list (the harness's runc backend).
func DeniedSyscalls() []string {
	return append([]string(nil), deniedSyscalls...)
}

// namespaceFlags are the CLONE_NEW* bits. CLONE_NEWTIME shares its value
// with the exit-signal bits of clone(2), so it only counts for unshare(2).
const (
	namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
		unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
	unshareNamespaceFlags = namespaceFlags | unix.CLONE_NEWTIME
)

// allowedPersonalities are the personality(2) arguments a normal program uses:
// the default, a query, and the 32-bit and uname-2.6 variants. Everything else
// (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weakens the process's own
// hardening and is denied. The comparison is on all 64 bits, so an argument
// with garbage in the upper half is denied, which is the safe direction.
var allowedPersonalities = []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// groups is the default policy for one deny action, as ordered groups: the
// first group that matches a call decides; a call that matches none is
// allowed. A group that tests arguments names exactly one syscall (see
// compile for why).
func groups(deny libseccomp.Action) []libseccomp.SyscallGroup {
	var allowPersonality []libseccomp.NameWithConditions
	for _, p := range allowedPersonalities {
		allowPersonality = append(allowPersonality, libseccomp.NameWithConditions{
			Name:       "personality",
			Conditions: libseccomp.ArgumentConditions{{Argument: 0, Operation: libseccomp.Equal, Value: p}},
		})
	}
	denyIf := func(name string, sets ...libseccomp.ArgumentConditions) libseccomp.SyscallGroup {
		g := libseccomp.SyscallGroup{Action: deny}
		for _, c := range sets {
			g.NamesWithCondtions = append(g.NamesWithCondtions, libseccomp.NameWithConditions{Name: name, Conditions: c})
		}
		return g
	}
	return []libseccomp.SyscallGroup{
		// clone3 passes its flags in memory, where a filter cannot look.
		// ENOSYS makes libc fall back to clone(2), whose flags are a register
		// and are checked below.
		{Names: []string{"clone3"}, Action: actionErrno(unix.ENOSYS)},
		{Names: deniedSyscalls, Action: deny},
		{NamesWithCondtions: allowPersonality, Action: libseccomp.ActionAllow},
		{Names: []string{"personality"}, Action: deny},
		// CLONE_PARENT: where the program's parent is the supervisor (a
		// box whose pid 1 lives apart from the program), the new process
		// would be the supervisor's child, a zombie nobody reaps once the
		// box is killed, and the box's pid 1 cannot finish dying before it
		// is reaped (P4).
		denyIf("clone", anyBitSet(0, namespaceFlags|unix.CLONE_PARENT)),
		denyIf("unshare", anyBitSet(0, unshareNamespaceFlags)),
		// Raw link-layer sockets (N3) and host-VM sockets (S5).
		denyIf("socket", low32Equals(0, unix.AF_PACKET), low32Equals(0, unix.AF_VSOCK)),
		// Typing into, or scripting, the controlling terminal; taking a
		// terminal handed in as a stream as the box's controlling
		// terminal (H4: its job control and hang-ups would then reach the
		// host's session).
		denyIf("ioctl", low32Equals(1, unix.TIOCSTI), low32Equals(1, unix.TIOCLINUX), low32Equals(1, unix.TIOCSCTTY)),
	}
}

func actionErrno(errno unix.Errno) libseccomp.Action {
	return libseccomp.ActionErrno | libseccomp.Action(errno)
}

// anyBitSet matches when any of bits (all in the low 32 bits) is set in the
// argument. The library only tests the low word when the value's high word is
// zero, which is what the kernel reads for these int and flag arguments.
func anyBitSet(arg uint32, bits uint32) libseccomp.ArgumentConditions {
	return libseccomp.ArgumentConditions{{Argument: arg, Operation: libseccomp.BitsSet, Value: uint64(bits)}}
}

// low32Equals matches when the low 32 bits of the argument equal v, whatever
// the high bits hold. The kernel truncates int and unsigned int arguments to 32
// bits, so a plain 64-bit equality could be dodged by setting a high bit; the
// bit tests below only look at the low word: no bit outside v is set, and
// every bit of v is set.
func low32Equals(arg uint32, v uint32) libseccomp.ArgumentConditions {
	conds := libseccomp.ArgumentConditions{{Argument: arg, Operation: libseccomp.BitsNotSet, Value: uint64(^v)}}
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if v&bit != 0 {
			conds = append(conds, libseccomp.Condition{Argument: arg, Operation: libseccomp.BitsSet, Value: uint64(bit)})
		}
	}
	return conds
}
