package suites

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point    string
	options  []string // per-mount options: ro, nosuid, nodev, ...
	optional []string // propagation tags: shared:N, master:N, ...
	fstype   string
}

func parseMountinfo(text string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 6 || sep+1 >= len(fields) {
			continue
		}
		out = append(out, mountEntry{
			point:    unescapeMount(fields[4]),
			options:  strings.Split(fields[5], ","),
			optional: fields[6:sep],
			fstype:   fields[sep+1],
		})
	}
	return out
}

// unescapeMount undoes the octal escapes of mountinfo (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf is the mount that holds p: the last one (mounted over the others)
// whose mount point is p or one of its parents.
func mountOf(mounts []mountEntry, p string) (mountEntry, bool) {
	var best mountEntry
	found := false
	for _, m := range mounts {
		if _, ok := underPath(p, m.point); ok && (!found || len(m.point) >= len(best.point)) {
			best, found = m, true
		}
	}
	return best, found
}

func underPath(p, dir string) (string, bool) {
	if dir == "/" || p == dir {
		return p, true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir):], true
	}
	return "", false
}

func boxMountinfo() []mountEntry {
	GinkgoHelper()
	o := runProbe("fs-cat", "/proc/self/mountinfo")
	Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
	mounts := parseMountinfo(o.Stdout)
	Expect(mounts).NotTo(BeEmpty(), describeOutcome(o))
	return mounts
}

var _ = Describe("Filesystem", area("filesystem"), func() {
	It("F1: the root is read-only except /w, /tmp and /dev/shm", property("F1"), func() {
		readOnly := []string{"/", "/usr", "/usr/bin", "/etc", "/dev", probeMount, "/proc", "/var", "/root"}
		writable := []string{sandbox.WorkDir, "/tmp", "/dev/shm"}
		o := runProbe("fs-writable", append(readOnly, writable...)...)
		w := probeKeyed(o.Stdout, "w")
		for _, d := range readOnly {
			Expect(w).To(HaveKeyWithValue(d, Not(Equal("ok"))), "the box could create a file in %s\n%s", d, describeOutcome(o))
		}
		for _, d := range writable {
			Expect(w).To(HaveKeyWithValue(d, "ok"), "%s must be writable\n%s", d, describeOutcome(o))
		}
	})

	It("F2: the host's look at /w after a run never follows a link the box swapped in (no verdict from host files)", property("F2"), func() {
		// After the program ends the supervisor looks through /w for a
		// file at the output limit while the box's other processes may
		// still be dying. One that swaps a directory the look listed for a
		// symlink to a host path would have the host's files decide the
		// verdict: here a file above the limit in a root-only directory.
		// The swap is a race, so the run is repeated (before the fix of
		// this spec, about 7 runs in 100 were output-limit).
		dir := hostTempDir(os.TempDir())
		Expect(os.Chmod(dir, 0o700)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "big"), make([]byte, 64<<10), 0o600)).To(Succeed())
		spec := probeSpec("fs-swap-links", dir)
		spec.Limits.Output = 32 << 10
		for i := range 60 {
			o := runBounded(spec)
			Expect(o.Stdout).To(ContainSubstring("started=3"), describe(o))
			Expect(o.Status).To(Equal(sandbox.StatusOK), "run %d: the host's look at /w followed a link to a host directory\n%s", i, describe(o))
		}
	})

	It("F2: host files outside the declared mounts are invisible", property("F2"), func() {
		var paths []string
		for _, parent := range []string{os.TempDir(), "/var/tmp", "/dev/shm"} {
			if _, err := os.Stat(parent); err != nil {
				continue
			}
			dir := hostTempDir(parent)
			secret := filepath.Join(dir, uniqueName("secret-"))
			Expect(os.WriteFile(secret, []byte("host secret\n"), 0o644)).To(Succeed())
			paths = append(paths, secret, dir)
		}
		// Host files every host has, and where the host keeps other boxes'
		// work directories.
		paths = append(paths, "/etc/shadow", "/root", "/var/log", "/run/gosandbox", "/boot", "/home")
		o := runProbe("fs-exists", paths...)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		seen := probeKeyed(o.Stdout, "e")
		for _, p := range paths {
			Expect(seen).To(HaveKeyWithValue(p, Not(Equal("ok"))), "host path %s is visible in the box", p)
		}
	})

	It("F3: sensitive /proc paths are masked or read-only", property("F3"), func() {
		o := runProbe("fs-proc")
		reads, opens := probeKeyed(o.Stdout, "read"), probeKeyed(o.Stdout, "open")
		Expect(reads).NotTo(BeEmpty(), describeOutcome(o))
		Expect(opens).NotTo(BeEmpty(), describeOutcome(o))
		// /proc/keys shows the box's own keys; I2 checks the host's are out
		// of reach.
		delete(reads, "/proc/keys")
		for p, v := range reads {
			if n, err := strconv.Atoi(v); err == nil {
				Expect(n).To(BeZero(), "%s is readable in the box (%d bytes)", p, n)
			}
		}
		for p, v := range opens {
			Expect(v).NotTo(Equal("ok"), "%s can be opened for writing in the box", p)
		}
	})

	It("F3: /proc/locks does not show the host's open file description locks", property("F3"), func() {
		// An OFD lock has no owning pid, so the kernel shows it to every
		// pid namespace: a box read the host's locks (device and inode of
		// each locked file), and two boxes at once a channel that costs
		// neither any CPU (one locks files of its own /w, the other counts).
		f := tempFile()
		defer f.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 1}
		Expect(unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)).To(Succeed())
		var st unix.Stat_t
		Expect(unix.Fstat(int(f.Fd()), &st)).To(Succeed())
		o := runBounded(sandbox.Spec{Args: []string{"/bin/sh", "-c", "cat /proc/locks; echo end"}})
		Expect(o.Stdout).To(HaveSuffix("end\n"), describe(o))
		Expect(o.Stdout).NotTo(MatchRegexp(fmt.Sprintf(`OFDLCK .*:%d `, st.Ino)), "the host's lock on inode %d shows in the box\n%s", st.Ino, describe(o))
	})

	It("F4: /proc shows the box, not the host", property("F4"), func() {
		marker := uniqueName("gosandbox-f4-")
		startHostProcess(marker)
		hostInit, err := os.ReadFile("/proc/1/cmdline")
		Expect(err).NotTo(HaveOccurred())
		o := runProbe("ps-pids")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		// A box may hide its pid 1 (hidepid): then it is not the host's init either.
		Expect(f["cmdline.1"]).NotTo(Equal(strings.TrimSpace(strings.ReplaceAll(string(hostInit), "\x00", " "))),
			"/proc/1 in the box is the host's init")
		for key, cmdline := range f {
			if strings.HasPrefix(key, "cmdline.") {
				Expect(cmdline).NotTo(ContainSubstring(marker), "a host process shows in the box's /proc as %s", key)
			}
		}
	})

	It("F4: no process in the box's /proc shows the host's network or mount table", property("F4"), func() {
		// /proc/PID/net and /proc/PID/mountinfo show the namespaces of PID,
		// and are not guarded by ptrace: a box process that lives in the
		// host's namespaces (a supervisor-side pid 1) would show them.
		const script = `own_net=$(cut -d: -f1 /proc/self/net/dev 2>/dev/null | sort | tr -d ' \n')
own_mnt=$(wc -l 2>/dev/null </proc/self/mountinfo)
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  n=$(cut -d: -f1 $d/net/dev 2>/dev/null | sort | tr -d ' \n')
  if [ -n "$n" ] && [ "$n" != "$own_net" ]; then echo "net $p: $n (own: $own_net)"; fi
  m=$(wc -l 2>/dev/null <$d/mountinfo)
  if [ -n "$m" ] && [ "$m" != "$own_mnt" ]; then echo "mounts $p: $m lines (own: $own_mnt)"; fi
done
echo checked`
		o := run(sandbox.Spec{Args: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/usr/bin:/bin"}})
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(strings.TrimSpace(o.Stdout)).To(Equal("checked"), "a process in the box's /proc shows other namespaces: %s", o.Stdout)
	})

	It("F5: device nodes cannot be made anywhere the box can write", property("F5"), func() {
		places := []string{sandbox.WorkDir + "/devnull", "/tmp/devnull", "/dev/shm/devnull"}
		o := runProbe("fs-mknod", places...)
		made := probeKeyed(o.Stdout, "mknod")
		opened := probeKeyed(o.Stdout, "opendev")
		for _, p := range places {
			Expect(made).To(HaveKey(p), describeOutcome(o))
			if made[p] == "ok" {
				Expect(opened).To(HaveKeyWithValue(p, Not(Equal("ok"))), "mknod worked at %s and the device opens (no nodev)", p)
			}
		}
	})

	It("F5: the writable mounts are nosuid and nodev", property("F5"), func() {
		mounts := boxMountinfo()
		writable := []string{sandbox.WorkDir, "/tmp", "/dev/shm"}
		// A box may make one a link to another (the container's /dev/shm
		// is a link to /tmp): what counts is the mount the path reaches.
		o := runProbe("fs-realpath", writable...)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		real := probeKeyed(o.Stdout, "real")
		for _, p := range writable {
			Expect(real[p]).To(HavePrefix("/"), "%s does not resolve in the box\n%s", p, describeOutcome(o))
			m, ok := mountOf(mounts, real[p])
			Expect(ok).To(BeTrue(), "no mount holds %s (%s)", p, real[p])
			Expect(m.options).To(ContainElements("nosuid", "nodev"), "%s (%s) is on %s with options %v", p, real[p], m.point, m.options)
		}
	})

	It("F5: a set-user-ID-root program does not elevate", property("F5"), func() {
		if os.Geteuid() != 0 {
			Skip("the suite needs root to make a set-user-ID-root probe")
		}
		spec := probeSpec("priv-ids")
		spec.Args[0] = probeSetuidMount
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		uids := strings.Split(probeFacts(o.Stdout)["uid"], ",")
		Expect(uids).To(HaveLen(3), describeOutcome(o))
		Expect(uids[1]).NotTo(Equal("0"), "the set-user-ID-root probe runs with euid 0")
		Expect(uids[1]).To(Equal(uids[0]), "the effective uid changed on exec")
	})

	It("F6: /dev has only null, zero, full, random and urandom", property("F6"), func() {
		allowed := map[string]string{
			"/dev/null": "char 1:3", "/dev/zero": "char 1:5", "/dev/full": "char 1:7",
			"/dev/random": "char 1:8", "/dev/urandom": "char 1:9",
		}
		o := runProbe("fs-dev")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		devs := probeKeyed(o.Stdout, "dev")
		for p, want := range allowed {
			Expect(devs).To(HaveKeyWithValue(p, want), "%s missing or not the right device", p)
		}
		for p, kind := range devs {
			if strings.HasPrefix(kind, "char ") || strings.HasPrefix(kind, "block ") {
				Expect(allowed).To(HaveKeyWithValue(p, kind), "device %s (%s) in the box's /dev", p, kind)
			}
		}
	})

	It("F7: a file left in /tmp or /dev/shm is gone in the next box", property("F7"), func() {
		name := uniqueName("gosandbox-f7-")
		paths := []string{"/tmp/" + name, "/dev/shm/" + name}
		for _, p := range paths {
			// With no isolation the marks land on the host.
			DeferCleanup(func() { os.Remove(p) })
		}
		o := runProbe("fs-mark", paths...)
		marks := probeKeyed(o.Stdout, "mark")
		for _, p := range paths {
			Expect(marks).To(HaveKeyWithValue(p, "ok"), describeOutcome(o))
		}
		o = runProbe("fs-exists", paths...)
		seen := probeKeyed(o.Stdout, "e")
		for _, p := range paths {
			Expect(seen).To(HaveKeyWithValue(p, Not(Equal("ok"))), "%s written by an earlier box is visible", p)
		}
	})

	It("F7: boxes running side by side have separate /tmp and /dev/shm", property("F7"), func() {
		needs(!backend.Features().Reuses || *poolSize >= 2, "two runs at once need two containers (--pool 2)")
		name := uniqueName("gosandbox-f7p-")
		paths := []string{"/tmp/" + name, "/dev/shm/" + name}
		for _, p := range paths {
			DeferCleanup(func() { os.Remove(p) })
		}
		stdinR, stdinW, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		outR, outW, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		defer stdinR.Close()
		defer stdinW.Close()
		defer outR.Close()
		defer outW.Close()

		spec := probeSpec("fs-mark-wait", paths...)
		spec.Stdin, spec.Stdout = stdinR, outW
		first := make(chan Outcome, 1)
		go func() {
			defer GinkgoRecover()
			first <- run(spec)
		}()
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
					return
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			Expect(ok).To(BeTrue(), "the first box never got ready")
		case o := <-first:
			Fail("the first box ended before it was ready: " + describeOutcome(o))
		}
		o := runProbe("fs-exists", paths...)
		seen := probeKeyed(o.Stdout, "e")
		stdinW.Close()
		<-first
		for _, p := range paths {
			Expect(seen).To(HaveKeyWithValue(p, Not(Equal("ok"))), "%s of a box running alongside is visible", p)
		}
	})

	It("F8: no mount propagates between the box and the host", property("F8"), func() {
		for _, m := range boxMountinfo() {
			for _, tag := range m.optional {
				Expect(tag).NotTo(Or(HavePrefix("shared:"), HavePrefix("master:")),
					"mount %s is in a propagation group (%s)", m.point, tag)
			}
		}
	})

	It("F9: copy-out never follows planted symlinks, FIFOs, sockets, hard links or huge sparse files", property("F9"), func() {
		refused := []string{"link", "escape/etc/passwd", "fifo", "sock", "hard", "dir", "missing"}
		spec := probeSpec("fs-plant")
		spec.CopyOut = append([]string{"ok.txt", "sparse"}, refused...)
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(o.Files).To(HaveKeyWithValue("ok.txt", []byte("copy me\n")), "file errors: %v", o.FileErrors)
		for _, n := range refused {
			Expect(o.Files).NotTo(HaveKey(n), "copy-out brought %s back", n)
			Expect(o.FileErrors).To(HaveKey(n), "copy-out gave no reason for %s", n)
		}
		limit := sandbox.DefaultLimits.Output
		if probeKeyed(o.Stdout, "plant")["sparse"] == "ok" {
			Expect(o.Files).NotTo(HaveKey("sparse"), "copy-out read a 1 TiB sparse file")
			Expect(o.FileErrors).To(HaveKey("sparse"))
		} else {
			// The file size limit stopped the hole: what exists is small.
			Expect(int64(len(o.Files["sparse"]))).To(BeNumerically("<=", limit))
		}
	})

	It("F10: an input bound read-only cannot be changed", property("F10"), func() {
		dir := hostTempDir("")
		input := filepath.Join(dir, "input.txt")
		Expect(os.WriteFile(input, []byte("original\n"), 0o644)).To(Succeed())
		spec := probeSpec("fs-tamper", "/in/input.txt")
		spec.Binds = append(spec.Binds, sandbox.Bind{Source: dir, Target: "/in"})
		o := run(spec)
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("read", strconv.Quote("original\n")), "the box cannot read its input\n%s", describeOutcome(o))
		for _, op := range []string{"append", "truncate", "chmod", "utimes", "create", "link", "rename", "unlink"} {
			Expect(f).To(HaveKeyWithValue("tamper."+op, Not(Equal("ok"))), "the box could %s its read-only input", op)
		}
		content, err := os.ReadFile(input)
		Expect(err).NotTo(HaveOccurred(), "the input is gone on the host")
		Expect(string(content)).To(Equal("original\n"))
		fi, err := os.Stat(input)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o644)))
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(1), "the box added files to its read-only input directory")
	})

	It("F11: cgroupfs is absent or read-only, and scoped to the box", property("F11"), func() {
		o := runProbe("fs-cgroup")
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKey("cgroupfs"), describeOutcome(o))
		for d, v := range probeKeyed(o.Stdout, "mkdir") {
			Expect(v).NotTo(Equal("ok"), "the box could make a cgroup in %s", d)
		}
		for _, line := range probeValues(o.Stdout, "cgroup") {
			parts := strings.SplitN(line, ":", 3)
			Expect(parts).To(HaveLen(3), "odd /proc/self/cgroup line %q", line)
			Expect(path.Clean(parts[2])).To(Equal("/"), "the box sees its cgroup as %q: not scoped by a cgroup namespace", line)
		}
	})
})
