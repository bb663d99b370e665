package suites

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"gosandbox/harness"
	"gosandbox/sandbox"
)

// Host resources (H1-H4): what a box can take from the host through kernel
// objects that are not namespaced: per-user counters, core dumps, the
// descriptors it is handed, the terminal.

// runHolding runs spec (a probe action that prints ready, then waits for
// its stdin to close) in the background; once the probe has printed ready,
// during runs on the host while the box holds what it made. It returns the
// outcome with the probe's stdout, and whether ready was seen.
func runHolding(spec sandbox.Spec, ready string, during func()) (Outcome, bool) {
	GinkgoHelper()
	return runHoldingOn(backend, spec, ready, during)
}

// runHoldingOn is runHolding on a given backend.
func runHoldingOn(b harness.Backend, spec sandbox.Spec, ready string, during func()) (Outcome, bool) {
	GinkgoHelper()
	stdinR, stdinW, err := os.Pipe()
	Expect(err).NotTo(HaveOccurred())
	outR, outW, err := os.Pipe()
	Expect(err).NotTo(HaveOccurred())
	defer stdinR.Close()
	defer outR.Close()
	spec.Stdin, spec.Stdout = stdinR, outW
	if spec.Limits.Wall == 0 {
		spec.Limits.Wall = 30 * time.Second
	}

	var mu sync.Mutex
	var seen strings.Builder
	readyCh, readerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(outR)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			seen.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !signalled && strings.HasPrefix(sc.Text(), ready) {
				signalled = true
				close(readyCh)
			}
		}
	}()
	type answer struct {
		o   Outcome
		err error
	}
	done := make(chan answer, 1)
	go func() {
		defer GinkgoRecover()
		o, err := runBoundedOn(b, spec)
		done <- answer{o, err}
	}()
	var a answer
	wasReady := false
	select {
	case <-readyCh:
		wasReady = true
		func() {
			defer stdinW.Close()
			during()
		}()
		a = <-done
	case a = <-done:
		stdinW.Close()
	}
	outW.Close()
	<-readerDone
	Expect(a.err).NotTo(HaveOccurred(), "backend %s refused the spec", b.Name())
	mu.Lock()
	a.o.Stdout = seen.String()
	mu.Unlock()
	return a.o, wasReady
}

// inotifyInstancesOf counts the inotify instances held by host processes
// whose real uid is uid.
func inotifyInstancesOf(uid int) int {
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		status, err := os.ReadFile(p + "/status")
		if err != nil {
			continue
		}
		if u, _ := factOf(strings.ReplaceAll(string(status), ":\t", "="), "Uid"); strings.Fields(u + " x")[0] != strconv.Itoa(uid) {
			continue
		}
		fds, _ := os.ReadDir(p + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink(p + "/fd/" + fd.Name()); err == nil && target == "anon_inode:inotify" {
				n++
			}
		}
	}
	return n
}

// inotifyRoom creates up to n inotify instances in this process, closes
// them again at once, and returns how many it could create.
func inotifyRoom(n int) int {
	var fds []int
	for len(fds) < n {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			break
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	return len(fds)
}

// ioctl numbers of namespace file descriptors (linux/nsfs.h).
const (
	nsGetParent   = 0xb702
	nsGetOwnerUID = 0xb704
)

// topUserNSOwner returns the host uid that owns the outermost user
// namespace of pid below this process's own: the uid the kernel charges
// that process's per-user counters to on the host. A process in this
// process's user namespace is its own owner: its real uid.
func topUserNSOwner(pid int) (int, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		return -1, err
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Ino == self.Ino && st.Dev == self.Dev {
		unix.Close(fd)
		return realUID(pid)
	}
	for {
		parent, err := unix.IoctlRetInt(fd, nsGetParent)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("NS_GET_PARENT: %w", err)
		}
		if err := unix.Fstat(parent, &st); err != nil {
			unix.Close(parent)
			unix.Close(fd)
			return -1, err
		}
		if st.Ino == self.Ino && st.Dev == self.Dev {
			unix.Close(parent)
			break
		}
		unix.Close(fd)
		fd = parent
	}
	defer unix.Close(fd)
	var uid uint32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), nsGetOwnerUID, uintptr(unsafe.Pointer(&uid))); e != 0 {
		return -1, fmt.Errorf("NS_GET_OWNER_UID: %w", e)
	}
	return int(uid), nil
}

// realUID is the real uid of pid as the host sees it.
func realUID(pid int) (int, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, err
	}
	u, ok := factOf(strings.ReplaceAll(string(status), ":\t", "="), "Uid")
	if !ok {
		return -1, fmt.Errorf("no Uid in /proc/%d/status", pid)
	}
	return strconv.Atoi(strings.Fields(u)[0])
}

// openPty opens a new pseudo-terminal pair; both ends are closed after the spec.
func openPty() (master, slave *os.File) {
	GinkgoHelper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		Skip("no pseudo-terminals on this host: " + err.Error())
	}
	DeferCleanup(m.Close)
	Expect(unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)).To(Succeed())
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	Expect(err).NotTo(HaveOccurred())
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return m, s
}

// expectRefusedBeforeStart checks that a spec handing the box something it
// must not have was refused: an error wrapping ErrInvalidSpec, or a run that
// failed before the program started (the probe prints started=1 first).
func expectRefusedBeforeStart(o Outcome, err error, what string) {
	GinkgoHelper()
	if err != nil {
		Expect(errors.Is(err, sandbox.ErrInvalidSpec)).To(BeTrue(), "%s was refused, but not as an invalid spec: %v", what, err)
		return
	}
	Expect(o.Stdout).NotTo(ContainSubstring("started=1"), "the program ran with %s\n%s", what, describe(o))
	Expect(o.Status).To(BeElementOf(sandbox.StatusInternalError, sandbox.StatusExecError), "%s: the run must fail before the program starts\n%s", what, describe(o))
}

var _ = Describe("Host resources", area("host"), func() {
	Context("H1: per-user kernel counters are bounded per box", property("H1"), func() {
		// Serial: it measures what the host user has left, and on a sandbox
		// with the hole it leaves that user almost nothing for a moment.
		It("leaves the supervisor's user its inotify instances while a box holds all it can get", Serial, func() {
			max, err := readIntFile("/proc/sys/fs/inotify/max_user_instances")
			if err != nil {
				Skip("no inotify limit to read: " + err.Error())
			}
			// The box is asked to stop short of the host's limit by a margin,
			// so that even a box charged to the host user never leaves it
			// with nothing; the host then checks it still has twice that.
			const margin = 8
			own := inotifyInstancesOf(os.Getuid())
			target := max - own - margin
			if target < 2*margin {
				Skip(fmt.Sprintf("this host's uid %d already holds %d of its %d inotify instances", os.Getuid(), own, max))
			}
			spec := probeSpec("h1-inotify", strconv.Itoa(target))
			spec.Limits.OpenFiles = target + 64
			room := -1
			o, ready := runHolding(spec, "held=1", func() { room = inotifyRoom(2 * margin) })
			Expect(ready).To(BeTrue(), "the box never held its inotify instances\n%s", describe(o))
			AddReportEntry("H1 inotify", fmt.Sprintf("limit %d, host uid %d held %d; the box made %s (%s); the host could then still make %d of %d",
				max, os.Getuid(), own, probeFacts(o.Stdout)["inotify"], probeFacts(o.Stdout)["stop"], room, 2*margin))
			Expect(room).To(Equal(2*margin), "with the box holding %s inotify instances the host's uid %d could make only %d more: the box's instances count against the host user\n%s",
				probeFacts(o.Stdout)["inotify"], os.Getuid(), room, describe(o))
		})

		It("bounds the real-time signals a box can queue far below the supervisor's RLIMIT_SIGPENDING", func() {
			var rl unix.Rlimit
			Expect(unix.Getrlimit(unix.RLIMIT_SIGPENDING, &rl)).To(Succeed())
			if rl.Cur == unix.RLIM_INFINITY || rl.Cur < 64 {
				Skip(fmt.Sprintf("host RLIMIT_SIGPENDING is %d: nothing to compare", rl.Cur))
			}
			host := int(rl.Cur)
			// The cap keeps a box charged to the host user from taking all of
			// its share; a bounded box is refused long before.
			o := runBounded(probeSpec("h1-sigqueue", strconv.Itoa(host/2)))
			f := probeFacts(o.Stdout)
			Expect(f).To(HaveKey("queued"), describe(o))
			queued, _ := strconv.Atoi(f["queued"])
			AddReportEntry("H1 sigqueue", fmt.Sprintf("host RLIMIT_SIGPENDING %d; box %s queued %d (%s)", host, f["SIGPENDING"], queued, f["stop"]))
			Expect(queued).To(BeNumerically("<", host/4), "the box queued %d real-time signals (stopped by %s); the host user's RLIMIT_SIGPENDING is %d\n%s",
				queued, f["stop"], host, describe(o))
		})

		It("runs two concurrent boxes as two host uids, neither the supervisor's", func() {
			markers := []string{newMarker("h1a"), newMarker("h1b")}
			// A pool of one runs one box at a time: the second box then comes
			// from a second instance of the backend (a second pool).
			backends := []harness.Backend{backend, backend}
			if backend.Features().Reuses && *poolSize < 2 {
				second, err := harness.Open(backend.Name(), harness.Options{PoolSize: 1})
				Expect(err).NotTo(HaveOccurred(), "a second instance of backend %s", backend.Name())
				DeferCleanup(second.Close)
				backends[1] = second
			}
			for _, m := range markers {
				DeferCleanup(killMarked, m)
			}
			uids, owners := make([]int, 2), make([]int, 2)
			errs := make([]error, 2)
			outs := make([]Outcome, 2)
			readies := make([]bool, 2)
			var wg sync.WaitGroup
			bothUp := make(chan struct{})
			var upOnce sync.WaitGroup
			upOnce.Add(2)
			go func() { upOnce.Wait(); close(bothUp) }()
			for i := range markers {
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					outs[i], readies[i] = runHoldingOn(backends[i], probeSpec("hold-stdin", markers[i]), "ready=", func() {
						upOnce.Done()
						<-bothUp // both boxes alive at once while the host looks
						pids := hostPidsWith(markers[i])
						if len(pids) == 0 {
							errs[i] = fmt.Errorf("no host process carries %s", markers[i])
							return
						}
						uids[i], errs[i] = realUID(pids[0])
						if errs[i] == nil {
							owners[i], errs[i] = topUserNSOwner(pids[0])
						}
					})
					if !readies[i] {
						upOnce.Done()
					}
				}()
			}
			wg.Wait()
			for i := range markers {
				Expect(readies[i]).To(BeTrue(), "box %d never started\n%s", i, describe(outs[i]))
				Expect(errs[i]).NotTo(HaveOccurred())
			}
			AddReportEntry("H1 box uids", fmt.Sprintf("host uids %v, user namespaces owned by %v, supervisor %d", uids, owners, os.Getuid()))
			self := os.Getuid()
			Expect(uids).NotTo(ContainElement(self), "a box runs as the supervisor's own host uid %d", self)
			Expect(uids[0]).NotTo(Equal(uids[1]), "two concurrent boxes run as the same host uid %d: they share its per-user counters (pipe pages, locked memory)", uids[0])
			Expect(owners).NotTo(ContainElement(self), "a box's user namespace is owned by the supervisor's uid %d: its inotify, mqueue and signal counts are charged to it", self)
			Expect(owners[0]).NotTo(Equal(owners[1]), "two concurrent boxes' user namespaces are owned by the same host uid %d: they share its counters", owners[0])
		})
	})

	Context("H2: no core dumps", property("H2"), func() {
		It("sets RLIMIT_CORE to 1, soft and hard (a pipe core_pattern ignores 0)", func() {
			o := runProbe("rlimits")
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("CORE", "1/1"), describe(o))
		})

		It("lets a crashing program write no core file", func() {
			pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
			AddReportEntry("H2 host core_pattern", strings.TrimSpace(string(pattern)))
			o := runProbe("core-crash")
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			f := probeFacts(o.Stdout)
			Expect(f).To(HaveKeyWithValue("child_signal", "SIGSEGV"), "the child did not crash\n"+describe(o))
			Expect(f).To(HaveKeyWithValue("cored", "false"), "the kernel dumped the crashed program's core\n"+describe(o))
			for _, name := range probeValues(o.Stdout, "w") {
				Expect(name).NotTo(HavePrefix("core"), "a core file in the work directory\n"+describe(o))
			}
		})
	})

	Context("H3: descriptors handed to the box never reach the host file system", property("H3"), func() {
		var hostDir string
		const secret = "h3-secret.txt"
		BeforeEach(func() {
			hostDir = hostTempDir("/var/tmp")
			Expect(os.WriteFile(filepath.Join(hostDir, secret), []byte("host file\n"), 0o644)).To(Succeed())
		})
		openDir := func(flags int) *os.File {
			GinkgoHelper()
			fd, err := unix.Open(hostDir, flags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			Expect(err).NotTo(HaveOccurred())
			f := os.NewFile(uintptr(fd), hostDir)
			DeferCleanup(f.Close)
			return f
		}

		It("refuses a directory as stdin", func() {
			spec := probeSpec("fd-escape", "0", secret)
			spec.Stdin = openDir(unix.O_RDONLY)
			o, err := runBoundedErr(spec)
			expectRefusedBeforeStart(o, err, "a host directory as stdin")
		})

		It("refuses a directory as stderr", func() {
			spec := probeSpec("fd-escape", "2", secret)
			spec.Stderr = openDir(unix.O_RDONLY)
			o, err := runBoundedErr(spec)
			expectRefusedBeforeStart(o, err, "a host directory as stderr")
		})

		It("refuses a directory as an extra file", func() {
			spec := probeSpec("fd-escape", "3", secret)
			spec.ExtraFiles = []*os.File{openDir(unix.O_RDONLY)}
			o, err := runBoundedErr(spec)
			expectRefusedBeforeStart(o, err, "a host directory as descriptor 3")
		})

		It("refuses an O_PATH directory as an extra file", func() {
			spec := probeSpec("fd-escape", "3", secret)
			spec.ExtraFiles = []*os.File{openDir(unix.O_PATH)}
			o, err := runBoundedErr(spec)
			expectRefusedBeforeStart(o, err, "an O_PATH host directory as descriptor 3")
		})

		It("gives no way from a handed regular file to its directory", func() {
			f, err := os.Open(filepath.Join(hostDir, secret))
			Expect(err).NotTo(HaveOccurred())
			defer f.Close()
			spec := probeSpec("fd-escape", "0", secret)
			spec.Stdin = f
			o := runBounded(spec)
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			got := probeFacts(o.Stdout)
			Expect(got).To(HaveKeyWithValue("fd_type", "reg"), describe(o))
			Expect(got).To(HaveKeyWithValue("parent", Not(Equal("ok"))), "openat(0, \"..\") reached the host directory\n"+describe(o))
			Expect(got).To(HaveKeyWithValue("fchdir", Not(Equal("ok"))), describe(o))
			Expect(got).To(HaveKeyWithValue("open:"+secret, Not(Equal("ok"))), describe(o))
		})
	})

	It("H4: a stream handed in keeps its status flags (O_NONBLOCK set inside does not stay)", property("H4"), func() {
		// The box shares the caller's file description: a flag it sets
		// there would stay after the run (an interactive shell whose
		// terminal turned non-blocking fails its next read with EAGAIN).
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		DeferCleanup(w.Close)
		spec := probeSpec("host-nonblock")
		spec.Stdin = r
		o := runBounded(spec)
		Expect(o.Stdout).To(ContainSubstring("set=ok"), describe(o))
		// Through the raw descriptor: File.Fd would put it back in
		// blocking mode itself.
		rc, err := r.SyscallConn()
		Expect(err).NotTo(HaveOccurred())
		var fl int
		Expect(rc.Control(func(fd uintptr) { fl, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })).To(Succeed())
		Expect(err).NotTo(HaveOccurred())
		Expect(fl&unix.O_NONBLOCK).To(BeZero(), "the caller's stdin is non-blocking after the run\n"+describe(o))
	})

	It("H4: a terminal on stdin cannot become the box's controlling terminal and keeps its modes", property("H4"), func() {
		master, slave := openPty()
		_ = master // kept open for the run: without it the terminal hangs up
		t, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		Expect(err).NotTo(HaveOccurred())
		t.Lflag |= unix.ECHO | unix.ICANON
		Expect(unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, t)).To(Succeed())

		spec := probeSpec("tty-steal")
		spec.Stdin = slave
		o := runBounded(spec)
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("isatty", "true"), "the box did not get the terminal on stdin, so this spec proves nothing\n"+describe(o))
		Expect(f).To(HaveKeyWithValue("sctty", Not(Equal("ok"))), "the box took the host's terminal as its controlling terminal (TIOCSCTTY)\n"+describe(o))

		after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		Expect(err).NotTo(HaveOccurred())
		Expect(after.Lflag&unix.ECHO).NotTo(BeZero(), "ECHO stays cleared after the run (the box %s)\n%s", f["modes"], describe(o))
		Expect(after.Lflag&unix.ICANON).NotTo(BeZero(), "ICANON stays cleared after the run\n"+describe(o))
	})
})

// readIntFile reads a file holding one integer (a sysctl).
func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
