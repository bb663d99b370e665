package suites

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/sandbox"
)

// hostAlive reports whether a host process exists and is not a zombie (a
// killed child of the suite stays a zombie until reaped, and kill(pid, 0)
// still succeeds on it).
func hostAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// describeOutcome is the context a failed assertion prints.
func describeOutcome(o Outcome) string {
	return "status=" + string(o.Status) + " exit=" + strconv.Itoa(o.ExitCode) + " message=" + strconv.Quote(o.Message) +
		"\nstdout:\n" + o.Stdout + "\nstderr:\n" + o.Stderr
}

var _ = Describe("Process", area("process"), func() {
	It("P1: the box has its own pid namespace and sees only its own processes", property("P1"), func() {
		marker := uniqueName("gosandbox-p1-")
		startHostProcess(marker)
		o := runProbe("ps-pids")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		pids := strings.Split(f["pids"], ",")
		// Pid 1 is the box's own init or program, or hidden from the box
		// (hidepid: a pid 1 running as another user); then the probe is
		// among the first processes of a pid namespace of its own.
		self, err := strconv.Atoi(f["self"])
		Expect(err).NotTo(HaveOccurred(), describeOutcome(o))
		if !slices.Contains(pids, "1") {
			Expect(self).To(BeNumerically("<=", 32), "pid 1 is not visible and the probe is pid %d: not in a pid namespace of its own\n%s", self, describeOutcome(o))
		}
		Expect(pids).To(ContainElement(f["self"]), "the probe does not see itself\n%s", describeOutcome(o))
		// The program, perhaps an init and a helper of a pooled container.
		Expect(len(pids)).To(BeNumerically("<=", 4), "the box sees %d processes: %v", len(pids), pids)
		for key, cmdline := range f {
			if strings.HasPrefix(key, "cmdline.") {
				Expect(cmdline).NotTo(ContainSubstring(marker), "a host process is visible in the box as %s", key)
			}
		}
	})

	It("P2: the box cannot signal a process outside it", property("P2"), func() {
		host := startHostProcess(uniqueName("gosandbox-p2-"))
		o := runProbe("ps-signal", strconv.Itoa(host.Pid))
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("probe", "ESRCH"), "kill(host pid, 0)\n%s", describeOutcome(o))
		Expect(f).To(HaveKeyWithValue("kill", "ESRCH"), "kill(host pid, SIGKILL)\n%s", describeOutcome(o))
		Expect(f).To(HaveKey("killall"), "the probe did not get to try kill(-1, SIGKILL)\n%s", describeOutcome(o))
		Expect(hostAlive(host.Pid)).To(BeTrue(), "the host process died while the box ran")
	})

	It("P3: the box cannot ptrace, neither outside nor its own children", property("P3"), func() {
		host := startHostProcess(uniqueName("gosandbox-p3-"))
		o := runProbe("ps-ptrace", strconv.Itoa(host.Pid))
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("attach.outside", Or(Equal("ESRCH"), Equal("EPERM"))), describeOutcome(o))
		Expect(f).To(HaveKeyWithValue("attach.child", Not(Or(Equal("ok"), BeEmpty()))), "PTRACE_ATTACH to a child of the program\n%s", describeOutcome(o))
		Expect(hostAlive(host.Pid)).To(BeTrue(), "the host process died while the box ran")
	})

	It("P4: every descendant is killed and reaped at the end (daemon, stopped, SIGTERM-ignoring)", property("P4"), func() {
		marker := uniqueName("gosandbox-p4-")
		DeferCleanup(func() {
			for _, pid := range hostProcessesWith(marker) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		})
		o := runProbe("ps-leave", marker)
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("left", "3"), "the probe could not leave its three processes\n%s", describeOutcome(o))
		Expect(hostProcessesWith(marker)).To(BeEmpty(), "processes of the box still alive on the host after Run returned")
	})

	It("P4: a process made with clone(CLONE_PARENT) is killed and reaped, and Run returns", property("P4"), func() {
		// Where the program's parent is the supervisor (a pid 1 apart from
		// the program), CLONE_PARENT makes the supervisor the parent of a
		// process inside the box. Killed with the box, it stays a zombie
		// until the supervisor reaps it, and the box's pid 1 cannot finish
		// dying before that: a supervisor that only waits for pid 1 hangs.
		marker := uniqueName("gosandbox-p4cp-")
		DeferCleanup(func() {
			for _, pid := range hostProcessesWith(marker) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			// Unblock a hung backend (and its pid 1): the zombies are
			// this process's children.
			for _, pid := range zombieChildren() {
				var ws syscall.WaitStatus
				syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			}
		})
		o := runBounded(limitedProbe(sandbox.Limits{Wall: scaled(3 * time.Second)}, "ps-clone-parent", marker))
		Expect(o.Stdout).To(ContainSubstring("sibling="), describeOutcome(o))
		Expect(hostProcessesWith(marker)).To(BeEmpty(), "processes of the box still alive on the host after Run returned")
		Eventually(zombieChildren).WithTimeout(5*time.Second).WithPolling(100*time.Millisecond).Should(BeEmpty(),
			"the supervisor keeps unreaped children of the box after Run returned")
	})

	It("P5: the environment is exactly the configured one", property("P5"), func() {
		spec := probeSpec("ps-env")
		spec.Env = []string{"PATH=/usr/bin:/bin", "GOSANDBOX_A=1", "WITH_SPACES=a b  c", "EMPTY=", "EQUALS=x=y"}
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeValues(o.Stdout, "env")).To(ConsistOf(spec.Env))
	})

	It("P5: an empty environment holds only the default PATH", property("P5"), func() {
		// The Spec contract: without a PATH= entry the program gets
		// sandbox.DefaultPath (compilers find their helpers through it),
		// and nothing else leaks in.
		spec := probeSpec("ps-env")
		spec.Env = nil
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeValues(o.Stdout, "env")).To(ConsistOf("PATH=" + sandbox.DefaultPath))
	})

	It("P5: the program starts with every signal at its default, none blocked", property("P5"), func() {
		o := runProbe("ps-signals")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("SigIgn", "0000000000000000"), "signals ignored at start")
		Expect(f).To(HaveKeyWithValue("SigBlk", "0000000000000000"), "signals blocked at start")
	})

	It("P6: argv and the working directory are exactly the configured ones", property("P6"), func() {
		args := []string{"plain", "with space", "", "tab\there", "new\nline", "ünïcødé", "-x", "--", "$HOME", "*", "'\""}
		spec := probeSpec("ps-argv", args...)
		spec.Dir = "/tmp"
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = strconv.Quote(a)
		}
		f := probeFacts(o.Stdout)
		Expect(probeValues(o.Stdout, "arg")).To(Equal(quoted))
		Expect(f).To(HaveKeyWithValue("arg0", strconv.Quote(probeMount+"/probe")))
		Expect(f).To(HaveKeyWithValue("argc", strconv.Itoa(len(args)+2)))
		Expect(f).To(HaveKeyWithValue("cwd", "/tmp"))
	})

	It("P6: the working directory defaults to /w", property("P6"), func() {
		o := runProbe("ps-argv")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("cwd", sandbox.WorkDir))
	})

	It("P6: a huge argv is a clean exec-error, not an internal error", property("P6"), func() {
		// 64 arguments of the largest size one may have (MAX_ARG_STRLEN)
		// make 8 MiB, above ARG_MAX for any stack limit.
		big := strings.Repeat("x", 128<<10-1)
		args := make([]string, 64)
		for i := range args {
			args[i] = big
		}
		o := run(probeSpec("echo", args...))
		Expect(o.Status).To(Equal(sandbox.StatusExecError), describeOutcome(o))
		Expect(o.Message).NotTo(BeEmpty())
		Expect(o.Stdout).To(BeEmpty(), "the program ran")
	})

	It("P7: the program has descriptors 0, 1 and 2 only", property("P7"), func() {
		o := runProbe("ps-fds")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("fds", "0,1,2"), describeOutcome(o))
	})

	It("P7: a host descriptor without close-on-exec does not leak into the box", property("P7"), func() {
		// Deliberately inheritable, as a careless library would leave one.
		leak, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(syscall.Close, leak)
		o := runProbe("ps-fds")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		Expect(probeFacts(o.Stdout)).To(HaveKeyWithValue("fds", "0,1,2"), "host descriptor %d is open in the box\n%s", leak, describeOutcome(o))
	})

	It("P7: extra files become descriptors 3, 4, ... and nothing else is open", property("P7"), func() {
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		DeferCleanup(w.Close)
		spec := probeSpec("ps-fds")
		spec.ExtraFiles = []*os.File{r, w}
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		Expect(f).To(HaveKeyWithValue("fds", "0,1,2,3,4"), describeOutcome(o))
		Expect(f["fd.3"]).To(HavePrefix("pipe:"))
		Expect(f["fd.4"]).To(Equal(f["fd.3"]), "descriptors 3 and 4 are the two ends of one pipe")
	})
})
