package suites

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// Pooled reuse (U1-U6): what one run leaves in a reused container must not
// reach the next. These specs need a pool of one container (--pool=1, the
// default), so that the run after a plant is certain to reuse its container.

var leakRuns = flag.Int("leak-runs", 1000, "runs of the U6 host leak check")

// needsReuse skips a spec on backends that do not reuse a box between runs.
func needsReuse() {
	needs(backend.Features().Reuses, "runs do not share a reused container: nothing carries over to check")
	if *poolSize != 1 {
		Skip(fmt.Sprintf("--pool=%d: the next run may land in another container; U1-U5 need --pool=1", *poolSize))
	}
}

// plantAndCheck plants traces in one run (with hostname first) and looks for
// them in the next, returning both outcomes.
func plantAndCheck(token, firstHostname string) (plant, check Outcome) {
	GinkgoHelper()
	spec := probeSpec("reuse-plant", token)
	spec.Hostname = firstHostname
	plant = runBounded(spec)
	Expect(plant.Status).To(Equal(sandbox.StatusOK), "the planting run\n"+describe(plant))
	check = runBounded(probeSpec("reuse-check", token))
	Expect(check.Status).To(Equal(sandbox.StatusOK), "the checking run\n"+describe(check))
	Expect(check.Stdout).To(ContainSubstring("checked="), describe(check))
	return plant, check
}

// leaksOf returns the check's leak= lines that start with one of kinds.
func leaksOf(check Outcome, kinds ...string) []string {
	var found []string
	for _, line := range strings.Split(check.Stdout, "\n") {
		rest, ok := strings.CutPrefix(line, "leak=")
		if !ok {
			continue
		}
		for _, k := range kinds {
			if strings.HasPrefix(rest, k) {
				found = append(found, rest)
			}
		}
	}
	return found
}

var _ = Describe("Pooled reuse", area("reuse"), func() {
	It("U1: no process survives into the next run (daemon, stopped, SIGTERM-ignoring)", property("U1"), func() {
		needsReuse()
		token := newMarker("u1")
		DeferCleanup(killMarked, token)
		plant, check := plantAndCheck(token, "")
		Expect(plant.Stdout).To(MatchRegexp(`daemon_run=\d+`), "the daemon was not started\n"+describe(plant))
		Expect(plant.Stdout).To(MatchRegexp(`daemon_stop=\d+`), "the stopped daemon was not started\n"+describe(plant))
		Expect(leaksOf(check, "process")).To(BeEmpty(), describe(check))
		Eventually(func() []int { return hostPidsWith(token) }).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).
			Should(BeEmpty(), "the planted daemons are still alive on the host")
	})

	It("U2: every writable path is wiped (/w, /tmp, /dev/shm)", property("U2"), func() {
		needsReuse()
		token := newMarker("u2")
		plant, check := plantAndCheck(token, "")
		Expect(plant.Stdout).To(ContainSubstring("file_/w=ok"), describe(plant))
		Expect(plant.Stdout).To(ContainSubstring("file_/tmp=ok"), describe(plant))
		Expect(leaksOf(check, "file", "entries")).To(BeEmpty(), describe(check))
	})

	It("U2: entries a wipe may trip on are wiped (no-permission and read-only directories, FIFOs, sockets, odd names, links)", property("U2"), func() {
		needsReuse()
		replacedBefore, pooled := replacedSoFar()
		for _, dir := range []string{"/w", "/tmp"} {
			plant := runBounded(probeSpec("reuse-awkward", dir))
			Expect(plant.Status).To(Equal(sandbox.StatusOK), describe(plant))
			Expect(plant.Stdout).NotTo(MatchRegexp(`made_\w+=[^o]`), "an entry could not be made, so this spec proves less\n"+describe(plant))
			check := runBounded(probeSpec("reuse-check", newMarker("u2odd")))
			Expect(check.Status).To(Equal(sandbox.StatusOK), describe(check))
			Expect(leaksOf(check, "file", "entries")).To(BeEmpty(), "after awkward entries in %s\n%s", dir, describe(check))
		}
		if pooled {
			replaced, why, _ := poolReplacements()
			Expect(replaced).To(Equal(replacedBefore), "the pool replaced its container after awkward entries: its reset failed (%v)", why)
		}
	})

	It("U2: a tree deeper than a supervisor's descriptor limit is wiped from /w without tripping the reset", property("U2"), func() {
		needsReuse()
		// 30000 nested directories: more than a wipe that holds one
		// descriptor per level can open (RLIMIT_NOFILE of 20000 here, and
		// often less), within the inodes of a 256 MiB /w.
		const depth = 30000
		roomy := sandbox.DefaultLimits
		roomy.Tmpfs = 256 * mib
		roomy.Memory = 512 * mib
		roomy.Wall = scaled(60 * time.Second)
		roomy.CPU = scaled(30 * time.Second)
		replacedBefore, pooled := replacedSoFar()
		deep := runBounded(limitedProbe(roomy, "reuse-deep", "/w", strconv.Itoa(depth)))
		Expect(deep.Status).To(Equal(sandbox.StatusOK), describe(deep))
		Expect(deep.Stdout).To(ContainSubstring("depth="+strconv.Itoa(depth)), "the tree could not be made, so this spec proves nothing\n"+describe(deep))
		// The same limits: a pool that keeps a container per tmpfs size
		// gives the check the deep run's container.
		check := runBounded(limitedProbe(roomy, "reuse-check", newMarker("u2deep")))
		Expect(check.Status).To(Equal(sandbox.StatusOK), describe(check))
		Expect(leaksOf(check, "file", "entries")).To(BeEmpty(), describe(check))
		if pooled {
			replaced, why, _ := poolReplacements()
			Expect(replaced).To(Equal(replacedBefore), "the pool replaced its container after a run left a deep tree in /w: its reset failed (%v)", why)
		}
	})

	It("U3: IPC objects and the hostname are reset", property("U3"), func() {
		needsReuse()
		token := newMarker("u3")
		plant, check := plantAndCheck(token, "u3-first")
		for _, kind := range []string{"shm", "msg", "sem", "mqueue"} {
			Expect(plant.Stdout).To(ContainSubstring(kind+"=ok"), kind+" could not be planted\n"+describe(plant))
		}
		Expect(leaksOf(check, "sysv", "mqueue", "hostname")).To(BeEmpty(), describe(check))
		host, _ := factOf(check.Stdout, "hostname")
		Expect(host).To(Equal(sandbox.DefaultHostname), "the second run (no hostname configured) sees the first run's\n"+describe(check))
	})

	It("U3: a bind shows its host path as it is at the run, also after the caller replaced it (rename over a file or a directory)", property("U3"), func() {
		// A runner that keeps a box's mounts between runs (a slot, a pooled
		// container) must not keep a bind source the caller has since
		// replaced: the run would read stale data, write where the host no
		// longer looks, and see what the previous run wrote there.
		dir, err := os.MkdirTemp("", "gosandbox-u3-bind-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		Expect(os.Chmod(dir, 0o755)).To(Succeed())
		// fill makes dir/NAME (a directory holding input, world-writable)
		// and dir/NAME.txt, both saying what.
		fill := func(name, what string) {
			d := filepath.Join(dir, name)
			Expect(os.Mkdir(d, 0o777)).To(Succeed())
			Expect(os.Chmod(d, 0o777)).To(Succeed())
			Expect(os.WriteFile(filepath.Join(d, "input"), []byte(what+"-dir\n"), 0o644)).To(Succeed())
			Expect(os.WriteFile(d+".txt", []byte(what+"-file\n"), 0o644)).To(Succeed())
		}
		fill("data", "first")
		binds := []sandbox.Bind{
			{Source: filepath.Join(dir, "data"), Target: "/data", Writable: true},
			{Source: filepath.Join(dir, "data.txt"), Target: "/data.txt"},
		}
		withBinds := func(action string, args ...string) sandbox.Spec {
			spec := probeSpec(action, args...)
			spec.Binds = append(spec.Binds, binds...)
			return spec
		}
		first := runBounded(withBinds("fs-cat", "/data/input", "/data.txt"))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		Expect(first.Stdout).To(Equal("first-dir\nfirst-file\n"), describe(first))
		mark := runBounded(withBinds("fs-mark", "/data/left"))
		Expect(mark.Stdout).To(ContainSubstring("mark:/data/left=ok"), describe(mark))

		// The caller replaces both sources the usual atomic way: a new copy
		// renamed over the old name.
		fill("data.new", "second")
		Expect(os.Rename(filepath.Join(dir, "data"), filepath.Join(dir, "data.old"))).To(Succeed())
		Expect(os.Rename(filepath.Join(dir, "data.new"), filepath.Join(dir, "data"))).To(Succeed())
		Expect(os.Rename(filepath.Join(dir, "data.new.txt"), filepath.Join(dir, "data.txt"))).To(Succeed())

		second := runBounded(withBinds("fs-cat", "/data/input", "/data.txt"))
		Expect(second.Status).To(Equal(sandbox.StatusOK), describe(second))
		Expect(second.Stdout).To(Equal("second-dir\nsecond-file\n"), "a run after the caller replaced its bind sources sees the old ones\n"+describe(second))
		look := runBounded(withBinds("fs-exists", "/data/left"))
		Expect(look.Stdout).To(ContainSubstring("e:/data/left=ENOENT"), "a run sees what an earlier run wrote into a bind source the caller has since replaced\n"+describe(look))
		written := runBounded(withBinds("fs-mark", "/data/written"))
		Expect(written.Stdout).To(ContainSubstring("mark:/data/written=ok"), describe(written))
		Expect(filepath.Join(dir, "data", "written")).To(BeAnExistingFile(), "a run's write into a writable bind did not reach the host path as it is now")
	})

	It("U3: a run after one that used all its POSIX message queue bytes can make a queue", property("U3"), func() {
		needsReuse()
		// The bytes are charged to the box's host uid, which the next run
		// keeps, until the queues go: with the run's IPC namespace, which
		// the kernel frees in the background.
		fill := runBounded(probeSpec("reuse-mq", "fill"))
		Expect(fill.Status).To(Equal(sandbox.StatusOK), describe(fill))
		Expect(fill.Stdout).To(MatchRegexp(`stop=E`), "the queues did not reach the limit, so this spec proves nothing\n"+describe(fill))
		try := runBounded(probeSpec("reuse-mq", "try"))
		Expect(try.Status).To(Equal(sandbox.StatusOK), describe(try))
		Expect(try.Stdout).To(ContainSubstring("mq=ok"), "the run after one that filled its message queue bytes cannot make a queue\n"+describe(try))
	})

	It("U4: accounting is per run: an idle run after a heavy one reports small figures", property("U4"), func() {
		needsReuse()
		// CPU figures scaled: under emulation an idle probe alone takes
		// some 400 ms, so the burn that tells a carried figure apart is too.
		heavy := runBounded(probeSpec("mem-touch", "100MiB", "-burn", scaled(500*time.Millisecond).String()))
		Expect(heavy.Status).To(Equal(sandbox.StatusOK), describe(heavy))
		Expect(heavy.MemoryBytes).To(BeNumerically(">=", 100*mib), "the heavy run itself is not accounted\n"+describe(heavy))
		Expect(heavy.CPU()).To(BeNumerically(">=", scaled(450*time.Millisecond)), "the heavy run itself is not accounted\n"+describe(heavy))

		idle := runBounded(probeSpec("true"))
		Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
		Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the heavy run's peak\n"+describe(idle))
		Expect(idle.CPU()).To(BeNumerically("<", scaled(250*time.Millisecond)), "the idle run carries the heavy run's CPU\n"+describe(idle))
	})

	It("U4: an idle run after one that filled the page cache reports small figures", property("U4"), func() {
		needsReuse()
		needs(backend.Features().Cgroups, "no cgroup accounting: page cache is not charged to the box")
		skipIfUnsupported("U4")
		// 120 MiB on a disk file system, dropped from the page cache, so that
		// the heavy run's reads fill the cache and are charged to its box.
		dir := hostTempDir("/var/tmp")
		big := filepath.Join(dir, "big")
		f, err := os.OpenFile(big, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		Expect(err).NotTo(HaveOccurred())
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte(i*7 + 1)
		}
		for i := 0; i < 120; i++ {
			_, err := f.Write(chunk)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(f.Sync()).To(Succeed())
		Expect(unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)).To(Succeed())
		Expect(f.Close()).To(Succeed())

		spec := probeSpec("read-files", "/data/big")
		spec.Binds = append(spec.Binds, sandbox.Bind{Source: dir, Target: "/data"})
		heavy := runBounded(spec)
		Expect(heavy.Status).To(Equal(sandbox.StatusOK), describe(heavy))
		Expect(heavy.Stdout).To(ContainSubstring("read=125829120"), describe(heavy))

		// The same binds, so that a pool that keeps a container per mount
		// plan gives the idle run the reading run's container.
		idleSpec := probeSpec("true")
		idleSpec.Binds = spec.Binds
		idle := runBounded(idleSpec)
		AddReportEntry("U4 page cache", fmt.Sprintf("reading run %s, idle run after it %s", sizeText(heavy.MemoryBytes), sizeText(idle.MemoryBytes)))
		Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
		Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the page cache the previous run filled\n"+describe(idle))
	})

	It("U4: an idle run after one that filled /w and /tmp reports small figures", property("U4"), func() {
		needsReuse()
		needs(backend.Features().Cgroups, "no cgroup accounting: tmpfs pages are not charged to the box")
		// tmpfs pages are charged to the box that wrote them until the
		// reset wipes /w and mounts /tmp afresh; a peak counter reset
		// before that starts the next run at what the previous one left.
		for _, dir := range []string{"/w", "/tmp"} {
			fill := runBounded(probeSpec("tmpfs-fill", dir, "40MiB"))
			Expect(fill.Status).To(Equal(sandbox.StatusOK), describe(fill))
			Expect(fill.Stdout).To(ContainSubstring("fill=done"), describe(fill))
			idle := runBounded(probeSpec("true"))
			Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
			Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the 40 MiB the previous run left in %s\n%s", dir, describe(idle))
		}
	})

	It("U4: an idle run after one that held socket buffers reports small figures", property("U4"), func() {
		needsReuse()
		needs(backend.Features().Cgroups, "socket buffers are charged to a box only through its memory cgroup")
		// Socket buffers have a peak counter of their own on cgroup v1,
		// which the reset must start afresh as well.
		heavy := runBounded(limitedProbe(sandbox.Limits{OpenFiles: 256}, "sock-fill", "tcp", "40MiB"))
		Expect(heavy.Status).To(Equal(sandbox.StatusOK), describe(heavy))
		Expect(heavy.Stdout).To(ContainSubstring("fill=done"), describe(heavy))
		Expect(heavy.MemoryBytes).To(BeNumerically(">=", 40*mib), "the socket buffers of the heavy run itself are not accounted\n"+describe(heavy))
		idle := runBounded(limitedProbe(sandbox.Limits{OpenFiles: 256}, "true"))
		Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
		Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the socket buffers of the run before\n"+describe(idle))
	})

	It("U4: an idle run after one that left files open only in flight (a unix socket cycle) reports small figures", property("U4"), func() {
		needsReuse()
		needs(backend.Features().Cgroups, "no cgroup accounting: tmpfs pages are not charged to the box")
		// A file whose only reference is a message in flight on a socket
		// that is itself in flight outlives every process of the box,
		// with its pages charged to the box, until the kernel's unix
		// garbage collector runs.
		replacedBefore, pooled := replacedSoFar()
		for _, path := range []string{"/w/held", "/tmp/held", "memfd"} {
			// An output limit above the file: RLIMIT_FSIZE would cut it.
			roomy := sandbox.DefaultLimits
			roomy.Output = 64 * mib
			held := runBounded(limitedProbe(roomy, "reuse-held", path, "40MiB"))
			Expect(held.Status).To(Equal(sandbox.StatusOK), describe(held))
			Expect(held.Stdout).To(ContainSubstring("held=ok"), "the file could not be put in flight, so this spec proves nothing\n"+describe(held))
			idle := runBounded(probeSpec("true"))
			Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
			Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the 40 MiB file the previous run left in flight at %s\n%s", path, describe(idle))
		}
		// Nor may the reset trip over the file in flight (an unmount of
		// /tmp that finds it busy): each such run would cost a rebuild.
		if pooled {
			replaced, why, _ := poolReplacements()
			Expect(replaced).To(Equal(replacedBefore), "the pool replaced its container after a run left a file in flight (%v)", why)
		}
	})

	It("U4: an idle run after one that left SysV shared memory and messages reports small figures", property("U4"), func() {
		needsReuse()
		needs(backend.Features().Cgroups, "no cgroup accounting: IPC memory is not charged to the box")
		// Objects without IPC_RMID live as long as the run's IPC
		// namespace, which the kernel frees in the background some time
		// after the run's last process is gone: until then their memory
		// stays charged to the box.
		left := runBounded(probeSpec("reuse-sysv", "40MiB"))
		Expect(left.Status).To(Equal(sandbox.StatusOK), describe(left))
		Expect(left.Stdout).To(ContainSubstring("shm=ok"), "no segment was left, so this spec proves nothing\n"+describe(left))
		idle := runBounded(probeSpec("true"))
		Expect(idle.Status).To(Equal(sandbox.StatusOK), describe(idle))
		Expect(idle.MemoryBytes).To(BeNumerically("<", 30*mib), "the idle run carries the 40 MiB segment the previous run left\n%s", describe(idle))
	})

	It("U7: file locks a run took on the standard input it was handed do not reach the next run", property("U7"), func() {
		// Every backend: OFD and flock locks belong to the open file, not
		// to a process, so they outlive the run as long as the supervisor
		// keeps the open file it handed in (a /dev/null for a nil Stdin).
		// The next run handed the same one would see them (a message from
		// the run before), and runs could pile up locks for good.
		plant := runBounded(probeSpec("reuse-locks", "plant"))
		Expect(plant.Status).To(Equal(sandbox.StatusOK), describe(plant))
		Expect(plant.Stdout).To(ContainSubstring("locked=64"), "the locks could not be taken, so this spec proves nothing\n"+describe(plant))
		Expect(plant.Stdout).To(ContainSubstring("flock=ok"), describe(plant))
		check := runBounded(probeSpec("reuse-locks", "check"))
		Expect(check.Status).To(Equal(sandbox.StatusOK), describe(check))
		Expect(check.Stdout).To(ContainSubstring("checked=2"), describe(check))
		Expect(leaksOf(check, "lock", "flock")).To(BeEmpty(), "the run after one that locked its standard input finds the locks\n"+describe(check))
	})

	It("U7: the load average does not show the host's, which earlier runs raise", property("U7"), func() {
		// Every backend: /proc/loadavg is host-wide, so a run would read
		// what runs before it (or beside it) did. Its fourth field is
		// running/total threads: the host's total is far above what a
		// box may hold.
		spec := sandbox.Spec{Args: []string{"/bin/cat", "/proc/loadavg"}, Limits: sandbox.Limits{Procs: 16}}
		o := runBounded(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		fields := strings.Fields(o.Stdout)
		Expect(len(fields)).To(BeNumerically(">=", 4), describe(o))
		_, total, found := strings.Cut(fields[3], "/")
		Expect(found).To(BeTrue(), describe(o))
		n, err := strconv.Atoi(total)
		Expect(err).NotTo(HaveOccurred(), describe(o))
		Expect(n).To(BeNumerically("<=", 16+1), "/proc/loadavg counts %d threads: the host's, not the box's\n%s", n, describe(o))
	})

	It("U7: the pressure stall figures do not show the host's, which earlier runs raise", property("U7"), func() {
		// Every backend, as the load average: /proc/pressure is host-wide,
		// and its CPU averages are a load average by another name.
		spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", "for f in cpu memory io irq; do [ -r /proc/pressure/$f ] && sed \"s/^/$f /\" /proc/pressure/$f; done; echo end"},
			Limits: sandbox.Limits{Procs: 16}}
		o := runBounded(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		Expect(o.Stdout).To(HaveSuffix("end\n"), describe(o))
		for _, line := range strings.Split(strings.TrimSpace(o.Stdout), "\n") {
			for _, field := range strings.Fields(line)[1:] {
				name, value, ok := strings.Cut(field, "=")
				if !ok {
					continue
				}
				Expect(strings.Trim(value, "0.")).To(BeEmpty(), "%s: %s=%s is the host's pressure, which earlier runs raise\n%s", strings.Fields(line)[0], name, value, describe(o))
			}
		}
	})

	It("U7: /proc/stat does not show the host's process counter and running count", property("U7"), func() {
		// Every backend: its "processes" is the host's count of forks since
		// boot, which every process an earlier run made raises, and
		// "procs_running" the running part of the load average.
		spec := sandbox.Spec{Args: []string{"/bin/cat", "/proc/stat"}, Limits: sandbox.Limits{Procs: 16}}
		o := runBounded(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		Expect(o.Stdout).To(MatchRegexp(`(?m)^cpu0 `), "programs count the processors in /proc/stat\n"+describe(o))
		Expect(o.Stdout).To(MatchRegexp(`(?m)^btime \d+$`), "programs read the boot time in /proc/stat (ps)\n"+describe(o))
		for _, key := range []string{"processes", "procs_running"} {
			v, _ := factOf(strings.ReplaceAll(o.Stdout, key+" ", key+"="), key)
			n, err := strconv.Atoi(v)
			Expect(err).NotTo(HaveOccurred(), "no %s line\n%s", key, describe(o))
			Expect(n).To(BeNumerically("<=", 16+1), "/proc/stat counts %s %d: the host's, not the box's\n%s", key, n, describe(o))
		}
	})

	It("U7: host-wide event counters (vmstat, zoneinfo, interrupts, softirqs, diskstats, file-nr, inode-nr, dentry-state) are not the host's", property("U7"), func() {
		// Every backend: each counts events of the whole host since boot,
		// which every run before this one (and beside it) raised: page
		// faults, interrupts, open files. A run reading them learns what
		// others did, and two runs at once have a channel that costs
		// neither any CPU time. A box sees them empty (or all zero).
		files := []string{"/proc/vmstat", "/proc/zoneinfo", "/proc/interrupts", "/proc/softirqs", "/proc/diskstats",
			"/proc/sys/fs/file-nr", "/proc/sys/fs/inode-nr", "/proc/sys/fs/dentry-state"}
		spec := sandbox.Spec{Args: []string{"/bin/sh", "-c", `for f in "$@"; do echo "== $f"; cat "$f" 2>/dev/null; done; echo "== end"`, "sh"}, Limits: sandbox.Limits{Procs: 16}}
		spec.Args = append(spec.Args, files...)
		o := runBounded(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		Expect(o.Stdout).To(HaveSuffix("== end\n"), describe(o))
		file := ""
		for _, line := range strings.Split(o.Stdout, "\n") {
			if name, ok := strings.CutPrefix(line, "== "); ok {
				file = name
				continue
			}
			for _, field := range strings.Fields(line) {
				if n, err := strconv.ParseUint(field, 10, 64); err == nil && n != 0 {
					Fail(fmt.Sprintf("%s counts %d (%q): the host's, which earlier runs raise\n%s", file, n, line, describe(o)))
				}
			}
		}
	})

	It("U7: pid numbers and the pid counter do not tell a run how many processes the previous one made", property("U7"), func() {
		needsReuse()
		const forks = 200
		first := runBounded(limitedProbe(sandbox.Limits{CPU: scaled(20 * time.Second), Wall: scaled(60 * time.Second)}, "reuse-pids", strconv.Itoa(forks)))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		Expect(first.Stdout).To(ContainSubstring("forked="+strconv.Itoa(forks)), describe(first))
		second := runBounded(probeSpec("reuse-pids", "0"))
		Expect(second.Status).To(Equal(sandbox.StatusOK), describe(second))
		a, b := probeFacts(first.Stdout), probeFacts(second.Stdout)
		Expect(b["pid"]).To(Equal(a["pid"]), "the program's own pid moved after the previous run made %d processes\nfirst:\n%s\nsecond:\n%s", forks, describe(first), describe(second))
		// The Go runtime's threads take a few pid numbers of their own, at
		// times that vary; the previous run's processes would move the
		// counter by all of them.
		ca, _ := strconv.Atoi(a["child"])
		cb, _ := strconv.Atoi(b["child"])
		Expect(cb-ca).To(BeNumerically("<", forks/2), "a fresh child's pid is %d after the previous run made %d processes (then %d)\nfirst:\n%s\nsecond:\n%s", cb, forks, ca, describe(first), describe(second))
	})

	It("U7: network counters do not carry the previous run's traffic", property("U7"), func() {
		needsReuse()
		first := runBounded(probeSpec("reuse-net", "traffic"))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		startA, endA := probeKeyed(first.Stdout, "start"), probeKeyed(first.Stdout, "end")
		Expect(startA).NotTo(BeEmpty(), "no /proc/net/snmp in the box\n"+describe(first))
		Expect(endA).NotTo(Equal(startA), "the first run's traffic changed no counter, so this spec proves nothing\n"+describe(first))
		second := runBounded(probeSpec("reuse-net"))
		Expect(second.Status).To(Equal(sandbox.StatusOK), describe(second))
		Expect(probeKeyed(second.Stdout, "start")).To(Equal(startA), "the second run starts with other counters than the first did: the first run's traffic shows\nfirst:\n%s\nsecond:\n%s", describe(first), describe(second))
	})

	It("U7: the mode and times of /w, /tmp and /dev/shm do not carry over", property("U7"), func() {
		needsReuse()
		// Marks no fresh directory can have: an access time in 2001 and a
		// modification time about three years ahead, both with a random part.
		past := int64(978307200 + rand.IntN(1e6))
		future := time.Now().Add(1000*24*time.Hour).Unix() + int64(rand.IntN(1e6))
		first := runBounded(probeSpec("reuse-times", "plant", strconv.FormatInt(past, 10), strconv.FormatInt(future, 10)))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		Expect(probeKeyed(first.Stdout, "chmod")).To(HaveKeyWithValue("/w", "ok"), describe(first))
		Expect(probeKeyed(first.Stdout, "utimes")).To(HaveKeyWithValue("/w", "ok"), describe(first))
		second := runBounded(probeSpec("reuse-times"))
		Expect(second.Status).To(Equal(sandbox.StatusOK), describe(second))

		modeA, modeB := probeKeyed(first.Stdout, "mode"), probeKeyed(second.Stdout, "mode")
		atimeB, mtimeB := probeKeyed(second.Stdout, "atime"), probeKeyed(second.Stdout, "mtime")
		start, _ := factOf(second.Stdout, "start")
		planted := probeKeyed(first.Stdout, "utimes")
		chmodded := probeKeyed(first.Stdout, "chmod")
		for _, dir := range []string{"/w", "/tmp", "/dev/shm"} {
			if chmodded[dir] == "ok" {
				Expect(modeB[dir]).To(Equal(modeA[dir]), "%s keeps the mode the previous run gave it\n%s", dir, describe(second))
			}
			if planted[dir] != "ok" {
				continue
			}
			Expect(atimeB[dir]).NotTo(Equal(fmt.Sprintf("%d.000000000", past)), "%s keeps the access time the previous run set\n%s", dir, describe(second))
			Expect(decimalNotAfter(mtimeB[dir], start)).To(BeTrue(), "%s was modified at %s, after the run's start %s: the previous run's time\n%s", dir, mtimeB[dir], start, describe(second))
			Expect(decimalNotAfter(atimeB[dir], start)).To(BeTrue(), "%s was accessed at %s, after the run's start %s\n%s", dir, atimeB[dir], start, describe(second))
		}
	})

	It("U7: /tmp is made after the previous run ended, with inode numbers that do not count earlier runs' files", property("U7"), func() {
		needsReuse()
		// A wipe in place would keep the tmpfs: its birth time (which no
		// call can set) would tell when a run last had it made afresh, and
		// its inode counter how many files the runs since made, whether
		// they left them or not.
		const files = 50
		first := runBounded(probeSpec("reuse-fresh", strconv.Itoa(files)))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		Expect(first.Stdout).To(ContainSubstring("tmpfile=ok"), "no O_TMPFILE file could be made, so this spec proves less\n"+describe(first))
		quiet := runBounded(probeSpec("reuse-fresh", "quiet"))
		Expect(quiet.Status).To(Equal(sandbox.StatusOK), describe(quiet))
		quietEnd, _ := factOf(quiet.Stdout, "end")
		third := runBounded(probeSpec("reuse-fresh", "0"))
		Expect(third.Status).To(Equal(sandbox.StatusOK), describe(third))

		inoA, _ := factOf(first.Stdout, "ino")
		inoC, _ := factOf(third.Stdout, "ino")
		Expect(inoC).To(Equal(inoA), "a new file in /tmp has inode %s, after %s in a run before that made %d files more: /tmp's inode counter carries earlier runs' files\nfirst:\n%s\nthird:\n%s", inoC, inoA, files, describe(first), describe(third))
		for dir, born := range probeKeyed(third.Stdout, "btime") {
			if born == "none" {
				continue
			}
			Expect(decimalNotAfter(quietEnd, born)).To(BeTrue(), "%s was made at %s, before the previous run ended (%s): it was not made afresh, and its age tells what earlier runs did with it\n%s", dir, born, quietEnd, describe(third))
		}
	})

	It("U7: descriptors a run left in flight in unix sockets do not stop the next run passing descriptors", property("U7"), func() {
		needsReuse()
		// The kernel charges descriptors in flight to the sender's host
		// uid and refuses more (ETOOMANYREFS) over RLIMIT_NOFILE. A garbage
		// cycle of sockets stays charged until its garbage collector runs,
		// which only the release of some unix socket starts: a box that
		// keeps its host uid across runs hands the next run a spent budget.
		first := runBounded(probeSpec("reuse-scm", "cycle"))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		Expect(first.Stdout).To(ContainSubstring("stop=ETOOMANYREFS"), "the first run did not reach the kernel's limit, so this spec proves nothing\n"+describe(first))
		second := runBounded(probeSpec("reuse-scm"))
		Expect(second.Status).To(Equal(sandbox.StatusOK), describe(second))
		Expect(second.Stdout).To(ContainSubstring("scm=ok"), "the run after one that left descriptors in flight cannot pass one\nfirst:\n%s\nsecond:\n%s", describe(first), describe(second))
	})

	It("U5: limits are restored between runs", property("U5"), func() {
		needsReuse()
		// Memory: 96 MiB, not less: without cgroups the limit is
		// RLIMIT_DATA, and the Go runtime of the probe reserves over 64 MiB
		// of writable memory before main (its heap arena map), failing with
		// a fatal error below that.
		tight := sandbox.Limits{CPU: scaled(300 * time.Millisecond), Wall: scaled(2 * time.Second), Memory: 96 * mib, Procs: 12,
			Output: 64 << 10, Stack: mib, OpenFiles: 10, Tmpfs: 4 * mib}
		first := runBounded(limitedProbe(tight, "rlimits"))
		Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
		nofile, _ := factOf(first.Stdout, "NOFILE")
		Expect(nofile).To(Equal("10/10"), "the tight run did not get its own limits\n"+describe(first))

		d := sandbox.DefaultLimits
		after := runBounded(probeSpec("rlimits"))
		Expect(after.Status).To(Equal(sandbox.StatusOK), describe(after))
		for name, want := range map[string]int64{"NOFILE": int64(d.OpenFiles), "STACK": d.Stack, "FSIZE": d.Output} {
			got, _ := factOf(after.Stdout, name)
			Expect(got).To(Equal(fmt.Sprintf("%d/%d", want, want)), "RLIMIT_"+name+" after a tight run\n"+describe(after))
		}
		// What the tight limits would have stopped: 100 MiB, 0.5 s of CPU
		// (scaled as the tight limit is), 2 MiB of output, 8 MiB in /w.
		work := runBounded(probeSpec("mem-touch", "100MiB", "-burn", scaled(500*time.Millisecond).String()))
		Expect(work.Status).To(Equal(sandbox.StatusOK), "memory or CPU limit left over\n"+describe(work))
		out := runBounded(probeSpec("flood", "2MiB"))
		Expect(out.Status).To(Equal(sandbox.StatusOK), "output limit left over\n"+describe(out))
		fill := runBounded(probeSpec("tmpfs-fill", "/w", "8MiB"))
		Expect(fill.Stdout).To(ContainSubstring("fill=done"), "tmpfs cap left over\n"+describe(fill))
	})

	It("U5: a CPU set does not carry over into the next run", property("U5"), func() {
		needsReuse()
		skipIfUnsupported("R12", "Limits.CPUSet")
		if runtime.NumCPU() < 2 {
			Skip("one processor: a CPU set of 0 is every processor")
		}
		pinned := runBounded(limitedProbe(sandbox.Limits{CPUSet: "0"}, "cpu-affinity"))
		Expect(pinned.Status).To(Equal(sandbox.StatusOK), describe(pinned))
		cpus, _ := factOf(pinned.Stdout, "cpus")
		Expect(cpus).To(Equal("0"), "the pinned run was not pinned, so this spec proves nothing\n"+describe(pinned))
		free := runBounded(probeSpec("cpu-affinity"))
		Expect(free.Status).To(Equal(sandbox.StatusOK), describe(free))
		cpus, _ = factOf(free.Stdout, "cpus")
		Expect(cpus).NotTo(Equal("0"), "the run after a pinned one is still pinned\n"+describe(free))
	})

	It("U6: no host leak over many runs (fds, goroutines, cgroups, mounts, temp dirs)", property("U6"), Serial, func() {
		needs(backend.Features().Reuses, "runs do not share a reused container (the leak check is for pools)")
		n := *leakRuns
		if n < 1 {
			Skip("--leak-runs=0")
		}
		// A varied workload: plain exits, exit codes, copy-in and copy-out,
		// and every tenth run killed at its wall limit.
		runOne := func(i int) {
			spec := probeSpec("true")
			switch {
			case i%10 == 9:
				spec = limitedProbe(sandbox.Limits{Wall: 100 * time.Millisecond}, "wall-pause")
			case i%3 == 1:
				spec = probeSpec("robust-exit", "3")
			case i%3 == 2:
				spec = probeSpec("echo", "hi")
				spec.CopyIn = []sandbox.CopyIn{{Name: "in.txt", Content: []byte("x"), Mode: 0o644}}
				spec.CopyOut = []string{"in.txt"}
			}
			o, err := runBoundedErr(spec)
			Expect(err).NotTo(HaveOccurred(), "run %d", i)
			Expect(o.Status).NotTo(Equal(sandbox.StatusInternalError), "run %d\n%s", i, describe(o))
		}
		for i := 0; i < 20; i++ { // warm-up: the pool is full, caches are made
			runOne(i)
		}
		before := takeLeakSnapshot()
		started := time.Now()
		for i := 0; i < n; i++ {
			runOne(i)
		}
		AddReportEntry("U6 runs", fmt.Sprintf("%d runs in %v", n, time.Since(started).Round(time.Millisecond)))
		Eventually(func() string { return takeLeakSnapshot().growthSince(before) }).
			WithTimeout(30*time.Second).WithPolling(500*time.Millisecond).
			Should(BeEmpty(), "host resources grew over %d runs", n)
	})
})

// replacedSoFar is how many boxes the backend's pool has replaced, and
// whether it reports that at all.
func replacedSoFar() (uint64, bool) {
	replaced, _, ok := poolReplacements()
	return replaced, ok
}

// poolReplacements is replacedSoFar with the pool's last error (why the
// last box was replaced, or a build failed).
func poolReplacements() (replaced uint64, lastErr error, ok bool) {
	p, ok := backend.(interface {
		PoolStats() (size, idle int, replaced uint64, lastErr error)
	})
	if !ok {
		return 0, nil, false
	}
	_, _, replaced, lastErr = p.PoolStats()
	return replaced, lastErr, true
}

// leakSnapshot counts what a backend could leak on the host.
type leakSnapshot struct {
	fds, goroutines           int
	cgroups, mounts, tempDirs map[string]bool
}

func takeLeakSnapshot() leakSnapshot {
	s := leakSnapshot{goroutines: runtime.NumGoroutine(), cgroups: map[string]bool{}, mounts: map[string]bool{}, tempDirs: map[string]bool{}}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.fds = len(fds)
	}
	controllers, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, c := range controllers {
		filepath.WalkDir(c, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.Contains(d.Name(), "gosandbox") {
				s.cgroups[p] = true
			}
			return nil
		})
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.Contains(sc.Text(), "gosandbox") {
				s.mounts[fields[4]] = true
			}
		}
		f.Close()
	}
	if entries, err := os.ReadDir(os.TempDir()); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "gosandbox") {
				s.tempDirs[filepath.Join(os.TempDir(), e.Name())] = true
			}
		}
	}
	// Backends keep per-box directories (work dirs, mount points) here.
	if dirs, err := filepath.Glob("/run/gosandbox/*/*"); err == nil {
		for _, d := range dirs {
			s.tempDirs[d] = true
		}
	}
	return s
}

// pidTagged matches the names backends give per-process resources,
// KIND-PID-SUFFIX ("container-4242-1", "oneshot-4242-7", the stocked
// "oneshot-4242-s1-3"), capturing the PID.
var pidTagged = regexp.MustCompile(`^[a-z]+-(\d+)-[a-z0-9-]+$`)

// untaggedSlack is how many new resources with no owner in their name
// ("gosandbox-w-123456") may appear during the check: other processes on a
// shared host make and keep their own. A per-run leak would show as hundreds.
const untaggedSlack = 5

// growthSince describes what grew since before, "" when nothing did. A named
// thing (cgroup, mount, temp dir) counts when it is new and still there; one
// tagged with another process's pid is that process's and is not counted.
func (s leakSnapshot) growthSince(before leakSnapshot) string {
	var grew []string
	// A few descriptors and goroutines come and go with the runtime (timers,
	// the netpoller); a leak per run would show as hundreds.
	if s.fds > before.fds+3 {
		grew = append(grew, "fds "+strconv.Itoa(before.fds)+" -> "+strconv.Itoa(s.fds))
	}
	if s.goroutines > before.goroutines+5 {
		grew = append(grew, "goroutines "+strconv.Itoa(before.goroutines)+" -> "+strconv.Itoa(s.goroutines))
	}
	self := strconv.Itoa(os.Getpid())
	for _, set := range []struct {
		what        string
		now, before map[string]bool
	}{{"cgroups", s.cgroups, before.cgroups}, {"mounts", s.mounts, before.mounts}, {"temp dirs", s.tempDirs, before.tempDirs}} {
		var ours, untagged []string
		for k := range set.now {
			if set.before[k] {
				continue
			}
			m := pidTagged.FindStringSubmatch(filepath.Base(k))
			switch {
			case m == nil:
				untagged = append(untagged, k)
			case m[1] == self:
				ours = append(ours, k)
			}
		}
		if len(ours) > 0 || len(untagged) > untaggedSlack {
			fresh := append(ours, untagged...)
			sort.Strings(fresh)
			if len(fresh) > 10 {
				fresh = append(fresh[:10], "...")
			}
			grew = append(grew, fmt.Sprintf("%s: %d new of this process, %d new unattributed: %s",
				set.what, len(ours), len(untagged), strings.Join(fresh, ", ")))
		}
	}
	return strings.Join(grew, "; ")
}

// decimalNotAfter reports whether the time a ("SEC.NSEC") is not later than
// b; false when either does not parse.
func decimalNotAfter(a, b string) bool {
	parse := func(s string) (sec, nsec int64, ok bool) {
		whole, frac, _ := strings.Cut(s, ".")
		sec, err1 := strconv.ParseInt(whole, 10, 64)
		nsec, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		return sec, nsec, err1 == nil && err2 == nil
	}
	as, an, ok1 := parse(a)
	bs, bn, ok2 := parse(b)
	return ok1 && ok2 && (as < bs || as == bs && an <= bn)
}
