package mount

// Default: the plan every box gets (read-only /usr, /etc copies, /dev, masked /proc, tmpfs).

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"gosandbox/sandbox"
)

// Options chooses the variable parts of the default plan.
type Options struct {
	// WorkDir is a host directory bound read-write at /w (prepared and
	// chowned to the box's host id by the caller); "" mounts a tmpfs at /w.
	WorkDir string
	// TmpfsSize caps /w (when it is a tmpfs), /tmp and /dev/shm, each; 0
	// takes sandbox.DefaultLimits.Tmpfs. An inode cap goes with it.
	TmpfsSize int64
	// Binds are extra host paths made visible inside (read-only unless
	// Writable). Their targets may not lie below /proc, /dev, /tmp or a
	// tmpfs /w; below a host WorkDir they must exist there.
	Binds []sandbox.Bind
	// ShmLink makes /dev/shm a symbolic link to /tmp instead of a bind of
	// it: the same tmpfs either way, but a pooled container that mounts
	// /tmp afresh after every run then unmounts one mount, not two (each
	// unmount waits for an RCU grace period).
	ShmLink bool
}

// boxDevices are the host device nodes a box gets. Unexported, like the
// masks below: a security default no importer may change at run time.
var boxDevices = []string{"null", "zero", "full", "random", "urandom"}

// maskedFiles are /proc files hidden behind /dev/null: the world-readable
// ones that tell about the host (the list container runtimes use), and the
// host-wide event counters (U7): page faults and allocations (vmstat, and
// zoneinfo per zone), interrupts, softirqs, disk I/O, open files, inodes
// and dentries, counted since boot for every process on the host, so that
// a run reads in them what runs before it or beside it did (a channel
// between two boxes at once that costs neither any CPU). /proc/locks too
// (F3): an open file description lock has no owning pid, so the kernel
// lists it to every pid namespace (the host's locked files by device and
// inode, and another box's). Files only root may read (kmsg, kpage*,
// vmallocinfo) stay closed to the box user anyway. Each costs the child one
// mount, so the list is short. (/proc/meminfo stays: programs size
// themselves by it; /proc/buddyinfo tells no more than it. /proc/cgroups
// stays: runtimes read it to find their memory limit.)
var maskedFiles = []string{
	"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug",
	"/proc/vmstat", "/proc/zoneinfo", "/proc/interrupts", "/proc/softirqs", "/proc/diskstats",
	"/proc/sys/fs/file-nr", "/proc/sys/fs/inode-nr", "/proc/sys/fs/dentry-state",
	"/proc/locks",
}

// maskedFilesHere is maskedFiles without the ones this kernel lacks: each
// exists or not by the kernel's build (no module adds one later), and a
// mask whose target is missing still costs the child a failed mount. The
// directories are all masked every time: /proc/scsi and /proc/asound
// appear when their modules load, which may be after the first look.
var maskedFilesHere = sync.OnceValue(func() []string { return presentInProc(maskedFiles) })

func presentInProc(paths []string) []string {
	// A /proc that lacks a file every kernel has shows only part of what
	// the kernel has (subset=pid, as systemd's ProcSubset=pid mounts it
	// for a service): a box's /proc, a procfs of its own, shows it all,
	// so every mask stays.
	if _, err := os.Lstat("/proc/meminfo"); err != nil {
		return paths
	}
	var here []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			here = append(here, p)
		}
	}
	return here
}

// faked are /proc files that programs read but whose real content is the
// host's, shared by every box, so that one run could learn from it what the
// previous one did (U7): the load average a CPU spinner leaves behind. Each
// shows fixed content instead.
var faked = map[string]string{
	"/proc/loadavg": "0.00 0.00 0.00 1/1 1\n",
}

// maskedDirs are /proc directories hidden behind an empty, root-owned
// directory bound read-only over them (a bind costs the child less than a
// tmpfs mount). /proc/pressure holds the host's pressure stall averages, a
// load average by another name (U7): a box sees none, as on a kernel
// without them.
var maskedDirs = []string{"/proc/acpi", "/proc/scsi", "/proc/asound", "/proc/pressure"}

// maskProc adds the masks of /proc (after the mount of /proc): files
// behind /dev/null, directories behind an empty one, faked files.
func maskProc(b *Builder) {
	for _, p := range maskedFilesHere() {
		b.MaskFile(p)
	}
	for _, p := range maskedDirs {
		b.MaskDir(p)
	}
	for _, p := range sortedKeys(faked) {
		b.MaskWith(p, []byte(faked[p]))
	}
	b.MaskWith("/proc/stat", fakeStat())
}

// fakeStat is /proc/stat as a box sees it: the host's processors (programs
// count them there) and boot time (ps reads it), every counter zero and one
// process running. The real one counts every fork on the host since boot
// (processes), which each process of an earlier run raised, and the running
// part of the load average (U7).
func fakeStat() []byte {
	fakeStatOnce.Do(func() {
		host, _ := os.ReadFile("/proc/stat")
		var b strings.Builder
		cpus := 0
		for _, line := range strings.Split(string(host), "\n") {
			fields := strings.Fields(line)
			switch {
			case len(fields) > 1 && strings.HasPrefix(fields[0], "cpu"):
				b.WriteString(fields[0])
				if fields[0] == "cpu" {
					b.WriteString(" ")
				}
				b.WriteString(strings.Repeat(" 0", len(fields)-1) + "\n")
				cpus++
			case len(fields) == 2 && fields[0] == "btime":
				b.WriteString(line + "\n")
			}
		}
		if cpus == 0 {
			// No host /proc/stat to follow: the processors this process
			// may use.
			b.WriteString("cpu " + strings.Repeat(" 0", 10) + "\n")
			for i := 0; i < runtime.NumCPU(); i++ {
				b.WriteString(fmt.Sprintf("cpu%d", i) + strings.Repeat(" 0", 10) + "\n")
			}
		}
		b.WriteString("intr 0\nctxt 0\nprocesses 1\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n")
		fakeStatContent = []byte(b.String())
	})
	return fakeStatContent
}

var (
	fakeStatOnce    sync.Once
	fakeStatContent []byte
)

// etcCopies are host files and directories that dynamic programs and common
// runtimes read, copied into the box's /etc when the first plan is built.
// (No CA certificates: a box has no network.)
var etcCopies = []string{
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
	"/etc/localtime",
}

// mergedUsrLinks are the top-level names that merged-/usr hosts make
// symlinks into /usr.
var mergedUsrLinks = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// Default returns the plan of a box: read-only /usr and the merged-/usr
// names, a few /etc files (passwd and group naming the box user), /dev with
// null, zero, full, random and urandom, a fresh read-only /proc with its
// sensitive parts masked, a tmpfs /tmp also seen at /dev/shm (a bind, or a
// link with Options.ShmLink), /w (a tmpfs,
// or Options.WorkDir bound read-write), and the extra binds; everything
// nosuid and nodev, the root and /proc read-only.
func Default(o Options) (*Plan, error) {
	size := o.TmpfsSize
	if size <= 0 {
		size = sandbox.DefaultLimits.Tmpfs
	}
	b := NewBuilder()
	addBoxBase(b)
	// One tmpfs serves /tmp and /dev/shm (a bind of it): a mount less in
	// every start, one size cap for both, still private to the box.
	b.Tmpfs("/tmp", TmpfsOptions{Size: size, Mode: 0o777 | os.ModeSticky})
	if o.ShmLink {
		b.Symlink("/tmp", "/dev/shm")
	} else {
		b.Rebind("/tmp", "/dev/shm", true)
	}

	b.Proc("/proc")
	maskProc(b)

	// A host work directory comes before the extra binds, which may lie
	// inside it. A tmpfs /w owned by the box user comes last: it needs the
	// id map, which the parent writes while the child does every step
	// above and pivots (see Plan.Tail); nothing may be bound inside it.
	if o.WorkDir != "" {
		b.Bind(o.WorkDir, sandbox.WorkDir, true)
	}
	reserved := []string{"/proc", "/dev"}
	if o.WorkDir == "" {
		reserved = append(reserved, sandbox.WorkDir)
	}
	if err := addBinds(b, o.Binds, reserved); err != nil {
		return nil, err
	}
	if o.WorkDir == "" {
		b.Tmpfs(sandbox.WorkDir, TmpfsOptions{Size: size, Mode: 0o755, BoxOwned: true})
	}

	// Build's errors already say "mount:"; another prefix here would stack.
	return b.Build()
}

// layout is what Default takes from the host: looked up once per process.
type layout struct {
	links [][2]string // merged-/usr symlinks: name, destination
	dirs  []string    // top-level directories bound instead (not merged /usr)
	etc   []string    // /etc paths copied in
}

var (
	layoutOnce sync.Once
	hostLay    layout
)

func hostLayout() layout {
	layoutOnce.Do(func() {
		for _, name := range mergedUsrLinks {
			switch st, err := os.Lstat(name); {
			case err != nil:
			case st.Mode()&os.ModeSymlink != 0:
				if dest, err := os.Readlink(name); err == nil {
					hostLay.links = append(hostLay.links, [2]string{name, dest})
				}
			case st.IsDir():
				hostLay.dirs = append(hostLay.dirs, name)
			}
		}
		for _, p := range etcCopies {
			if _, err := os.Lstat(p); err == nil {
				hostLay.etc = append(hostLay.etc, p)
			}
		}
		// Java finds its configuration through symlinks into /etc/java-N.
		javas, _ := filepath.Glob("/etc/java-*")
		hostLay.etc = append(hostLay.etc, javas...)
	})
	return hostLay
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addBoxBase adds what every box has and no run changes: /usr and the
// merged-/usr names, a few /etc files, /dev with its devices and links.
func addBoxBase(b *Builder) {
	host := hostLayout()
	b.Bind("/usr", "/usr", false)
	for _, l := range host.links {
		b.Symlink(l[1], l[0])
	}
	for _, d := range host.dirs {
		b.Bind(d, d, false)
	}
	b.File("/etc/passwd", []byte(fmt.Sprintf(
		"root:x:0:0:root:/root:/usr/sbin/nologin\nbox:x:%d:%d:box:%s:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		sandbox.BoxUID, sandbox.BoxGID, sandbox.WorkDir)), 0o644)
	b.File("/etc/group", []byte(fmt.Sprintf("root:x:0:\nbox:x:%d:\nnogroup:x:65534:\n", sandbox.BoxGID)), 0o644)
	b.File("/etc/hosts", []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n"), 0o644)
	b.File("/etc/nsswitch.conf", []byte("passwd: files\ngroup: files\nhosts: files\n"), 0o644)
	for _, p := range host.etc {
		b.Copy(p, p)
	}

	b.Devices("/dev", boxDevices...)
	b.Symlink("/proc/self/fd", "/dev/fd")
	b.Symlink("/proc/self/fd/0", "/dev/stdin")
	b.Symlink("/proc/self/fd/1", "/dev/stdout")
	b.Symlink("/proc/self/fd/2", "/dev/stderr")
}

// addBinds adds the caller's binds, whose targets may not lie in reserved.
func addBinds(b *Builder, binds []sandbox.Bind, reserved []string) error {
	for i, bd := range binds {
		if !path.IsAbs(bd.Source) || !path.IsAbs(bd.Target) {
			return fmt.Errorf("%w: bind %d %s:%s: want absolute paths", ErrBadPlan, i, bd.Source, bd.Target)
		}
		t := path.Clean(bd.Target)
		for _, r := range reserved {
			if t == r || strings.HasPrefix(t, r+"/") {
				return fmt.Errorf("%w: bind %d: target %s lies inside %s", ErrBadPlan, i, t, r)
			}
		}
		b.Bind(path.Clean(bd.Source), t, bd.Writable)
	}
	return nil
}
