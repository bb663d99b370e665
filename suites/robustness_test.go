package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/sandbox"
)

// Robustness (B1-B6): the sandbox tells its own failures from the program's,
// refuses bad configuration before doing anything, dies with its supervisor,
// and never deadlocks on parallel runs or awkward stdio.

// initKiller is what a pooled backend may offer so that B6 can kill a
// container's init from outside, as a crash would.
type initKiller interface{ KillInit() error }

// initStopper may be offered to stop (SIGSTOP) a container's init: a stuck
// init rather than a dead one.
type initStopper interface{ StopInit() error }

var (
	cliOnce  sync.Once
	cliPath  string
	cliError error
)

// buildCLI builds the gosandbox command once per process, into a temporary
// directory removed when the suite ends, or takes the ready one that
// GOSANDBOX_CLI names.
func buildCLI() (string, error) {
	cliOnce.Do(func() {
		// A machine without Go (the kernel matrix's VMs) brings a ready CLI.
		if ready := os.Getenv("GOSANDBOX_CLI"); ready != "" {
			cliPath = ready
			return
		}
		// Under probeDir, which goes when the suite ends: a DeferCleanup
		// here would remove the CLI after the first spec that asked for it.
		dir, err := os.MkdirTemp(probeDir, "cli-")
		if err != nil {
			cliError = err
			return
		}
		out := filepath.Join(dir, "gosandbox")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/gosandbox")
		cmd.Dir = repoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			text := string(b)
			if len(text) > 800 {
				text = text[:800] + "..."
			}
			cliError = fmt.Errorf("%v\n%s", err, text)
			return
		}
		cliPath = out
	})
	return cliPath, cliError
}

var _ = Describe("Robustness", area("robustness"), func() {
	Context("B1: internal errors are distinct from program errors", property("B1"), func() {
		It("reports a bind of a missing host path as an error or internal-error, never as the program's", func() {
			spec := probeSpec("true")
			spec.Binds = append(spec.Binds, sandbox.Bind{Source: "/nonexistent-gosandbox-b1/" + newMarker("b1"), Target: "/data"})
			o, err := runBoundedErr(spec)
			if err != nil {
				return // refused before running: an error, as it should be
			}
			Expect(o.Status).To(Equal(sandbox.StatusInternalError), describe(o))
			Expect(o.Message).NotTo(BeEmpty(), describe(o))
		})
		It("reports a program that exits 3 as nonzero-exit with exit_code 3", func() {
			o := runBounded(probeSpec("robust-exit", "3"))
			Expect(o.Status).To(Equal(sandbox.StatusNonzeroExit), describe(o))
			Expect(o.ExitCode).To(Equal(3), describe(o))
			Expect(o.Signal).To(BeEmpty(), describe(o))
			Expect(o.Stdout).To(ContainSubstring("exiting=3"), describe(o))
		})
	})

	Context("B2: exec failures are exec-error", property("B2"), func() {
		expectExecError := func(o Outcome) {
			GinkgoHelper()
			Expect(o.Status).To(Equal(sandbox.StatusExecError), describe(o))
			Expect(o.Message).NotTo(BeEmpty(), "exec-error says why\n"+describe(o))
		}
		It("for a missing program", func() {
			spec := probeSpec("true")
			spec.Args = []string{"/w/no-such-program"}
			expectExecError(runBounded(spec))
		})
		It("for a program copied in without the execute bit", func() {
			spec := probeSpec("true")
			spec.CopyIn = []sandbox.CopyIn{{Name: "probe-noexec", HostPath: filepath.Join(probeDir, "probe"), Mode: 0o644}}
			spec.Args = []string{"/w/probe-noexec", "true"}
			expectExecError(runBounded(spec))
		})
		It("for an executable file in no known format", func() {
			spec := probeSpec("true")
			spec.CopyIn = []sandbox.CopyIn{{Name: "garbage", Content: []byte("\x01\x02\x03 not a program\n"), Mode: 0o755}}
			spec.Args = []string{"/w/garbage"}
			expectExecError(runBounded(spec))
		})
	})

	Context("B3: invalid configuration is rejected before anything runs", property("B3"), func() {
		// Each spec would create a marker in a writable bind if it ran.
		var markDir string
		BeforeEach(func() {
			markDir = hostDirForBoxes("gosandbox-b3-")
		})
		marking := func() sandbox.Spec {
			s := probeSpec("robust-touch", "/mark/ran")
			s.Binds = append(s.Binds, sandbox.Bind{Source: markDir, Target: "/mark", Writable: true})
			return s
		}
		It("runs the valid spec (the marker works)", func() {
			o := runBounded(marking())
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			Expect(filepath.Join(markDir, "ran")).To(BeAnExistingFile())
		})
		for _, c := range []struct {
			what  string
			spoil func(*sandbox.Spec)
		}{
			{"a negative CPU limit", func(s *sandbox.Spec) { s.Limits.CPU = -time.Second }},
			{"a negative memory limit", func(s *sandbox.Spec) { s.Limits.Memory = -1 }},
			{"a negative process limit", func(s *sandbox.Spec) { s.Limits.Procs = -1 }},
			{"a negative wall limit", func(s *sandbox.Spec) { s.Limits.Wall = -time.Second }},
			{"empty args", func(s *sandbox.Spec) { s.Args = nil }},
			{"an empty program name", func(s *sandbox.Spec) { s.Args[0] = "" }},
			{"an unknown syscall mode", func(s *sandbox.Spec) { s.Syscalls = "ignore" }},
			{"a relative working directory", func(s *sandbox.Spec) { s.Dir = "w" }},
			{"an environment entry without '='", func(s *sandbox.Spec) { s.Env = append(s.Env, "NOEQUALS") }},
		} {
			It("rejects "+c.what+" with ErrInvalidSpec", func() {
				spec := marking()
				c.spoil(&spec)
				_, err := runBoundedErr(spec)
				Expect(err).To(HaveOccurred(), "the backend accepted "+c.what)
				Expect(errors.Is(err, sandbox.ErrInvalidSpec)).To(BeTrue(), "error does not wrap ErrInvalidSpec: %v", err)
				Expect(filepath.Join(markDir, "ran")).NotTo(BeAnExistingFile(), "the program ran although the spec was invalid")
			})
		}
	})

	It("B4: the box dies with its supervisor", property("B4"), func() {
		name := backend.Name()
		if name != "oneshot" && name != "container" && name != "slots" {
			Skip("backend " + name + " has no supervisor process of its own in the gosandbox CLI (oneshot, container and slots only)")
		}
		cli, err := buildCLI()
		if err != nil {
			Skip("the gosandbox CLI does not build yet: " + err.Error())
		}
		marker := newMarker("b4")
		DeferCleanup(killMarked, marker)
		cmd := exec.Command(cli, "run", "--backend", name, "--bind", probeDir+":"+probeMount, "--wall", "60s",
			"--", probeMount+"/probe", "wall-sleep", "60s", marker)
		// A file, not a pipe: a surviving box holding the CLI's stderr must not
		// keep this test's Wait from returning.
		stderr := tempFile()
		defer stderr.Close()
		cmd.Stderr = stderr
		Expect(cmd.Start()).To(Succeed())
		cliPid := cmd.Process.Pid
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		defer func() { // never leave the CLI behind, whatever happened
			cmd.Process.Kill()
			<-exited
		}()
		cliStderr := func() string {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", stderr.Fd()))
			return string(b)
		}
		// The box's program is a process other than the CLI with the marker.
		deadline := time.Now().Add(30 * time.Second)
		for len(hostPidsWith(marker, cliPid)) == 0 {
			select {
			case err := <-exited:
				exited <- err
				Fail(fmt.Sprintf("the CLI ended before the box was seen: %v\n%s", err, cliStderr()))
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				Fail("the box never started\n" + cliStderr())
			}
		}

		Expect(syscall.Kill(cliPid, syscall.SIGKILL)).To(Succeed())
		Eventually(exited).WithTimeout(10 * time.Second).Should(Receive())
		exited <- nil
		Eventually(func() []int { return hostPidsWith(marker, cliPid) }).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).
			Should(BeEmpty(), "box processes outlive their killed supervisor")
		// Nobody is left to remove the dead supervisor's cgroups and mounts:
		// sweep them, and say what there was.
		if left := sweepSupervisorLeftovers(cliPid); len(left) > 0 {
			AddReportEntry("B4: left on the host by the killed supervisor (removed by the test)", strings.Join(left, "\n"))
		}
	})

	Context("B5: parallel runs and stdio edge cases finish without deadlock", property("B5"), func() {
		It("runs 8 specs at once, each with its own output", func() {
			const n = 8
			outs := make([]Outcome, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					outs[i], errs[i] = runBoundedErr(probeSpec("echo", "run-"+strconv.Itoa(i)))
				}()
			}
			wg.Wait()
			for i := 0; i < n; i++ {
				Expect(errs[i]).NotTo(HaveOccurred(), "run %d", i)
				Expect(outs[i].Status).To(Equal(sandbox.StatusOK), "run %d\n%s", i, describe(outs[i]))
				Expect(outs[i].Stdout).To(Equal("run-"+strconv.Itoa(i)+"\n"), "run %d\n%s", i, describe(outs[i]))
			}
		})

		It("finishes when stdout is a pipe whose reader is gone", func() {
			r, w, err := os.Pipe()
			Expect(err).NotTo(HaveOccurred())
			r.Close()
			defer w.Close()
			spec := probeSpec("flood", "1MiB")
			spec.Stdout = w
			o := runBounded(spec)
			Expect(o.Status).NotTo(Equal(sandbox.StatusInternalError), describe(o))
			Expect(o.Status).NotTo(Equal(sandbox.StatusOK), "1 MiB went into a pipe nobody reads\n"+describe(o))
		})

		It("finishes when 1 MB is offered on stdin and never read", func() {
			r, w, err := os.Pipe()
			Expect(err).NotTo(HaveOccurred())
			writerDone := make(chan error, 1)
			go func() {
				_, err := w.Write(make([]byte, 1<<20))
				w.Close()
				writerDone <- err
			}()
			spec := probeSpec("true")
			spec.Stdin = r
			o := runBounded(spec)
			r.Close() // the writer now gets EPIPE, unless a box process still holds stdin
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			Eventually(writerDone).WithTimeout(10*time.Second).Should(Receive(), "stdin's writer still blocked: a copy of the read end is held after the run")
		})

		It("drains a 4 MiB stderr flood and closes stderr at the end", func() {
			r, w, err := os.Pipe()
			Expect(err).NotTo(HaveOccurred())
			defer r.Close()
			got := make(chan int64, 1)
			go func() { n, _ := io.Copy(io.Discard, r); got <- n }()
			spec := probeSpec("flood", "4MiB", "stderr")
			spec.Stderr = w
			o := runBounded(spec)
			w.Close()
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			var n int64
			Eventually(got).WithTimeout(10*time.Second).Should(Receive(&n), "stderr still open after the run: a copy of the write end is held")
			Expect(n).To(Equal(4*mib), "bytes through stderr")
		})

		It("ends a program blocked on a full, unread stderr at its wall limit", func() {
			r, w, err := os.Pipe()
			Expect(err).NotTo(HaveOccurred())
			defer r.Close()
			defer w.Close()
			spec := limitedProbe(sandbox.Limits{Wall: time.Second}, "flood", "4MiB", "stderr")
			spec.Stderr = w
			o := runBounded(spec)
			Expect(o.Status).To(Equal(sandbox.StatusWallLimit), describe(o))
		})
	})

	Context("B6: a pool heals itself", property("B6"), func() {
		// idleInits finds the pool's container inits from the host: children
		// of this test process that live in another pid namespace. Between
		// runs they are the only ones (specs of this process run one at a
		// time; other Ginkgo processes' pools are their children, not ours).
		idleInits := func() []int {
			ownNS, _ := os.Readlink("/proc/self/ns/pid")
			self := strconv.Itoa(os.Getpid())
			var inits []int
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				status, err := os.ReadFile("/proc/" + e.Name() + "/status")
				if err != nil {
					continue
				}
				ppid, _ := factOf(strings.ReplaceAll(string(status), ":\t", "="), "PPid")
				ns, _ := os.Readlink("/proc/" + e.Name() + "/ns/pid")
				if ppid == self && ns != "" && ns != ownNS {
					inits = append(inits, pid)
				}
			}
			return inits
		}
		// servesAgain runs specs until one is ok: the pool must recover, and
		// no run may hang on the way (runBoundedErr fails the spec on a hang).
		servesAgain := func(why string) {
			GinkgoHelper()
			var last Outcome
			Eventually(func() sandbox.Status {
				o, err := runBoundedErr(probeSpec("echo", "again"))
				if err != nil {
					return sandbox.Status("error: " + err.Error())
				}
				last = o
				return o.Status
			}).WithTimeout(scaled(60*time.Second)).WithPolling(200*time.Millisecond).Should(Equal(sandbox.StatusOK), "the pool does not recover after "+why)
			Expect(last.Stdout).To(Equal("again\n"), describe(last))
		}
		// killInit kills the init the way a crash would, through the backend
		// when it offers a way, else from the host.
		killInit := func(sig syscall.Signal) {
			GinkgoHelper()
			if killer, ok := backend.(initKiller); ok && sig == syscall.SIGKILL {
				Expect(killer.KillInit()).To(Succeed())
				return
			}
			if stopper, ok := backend.(initStopper); ok && sig == syscall.SIGSTOP {
				Expect(stopper.StopInit()).To(Succeed())
				return
			}
			inits := idleInits()
			if len(inits) == 0 {
				Skip(fmt.Sprintf("backend %s: no container init found among this process's children in another pid namespace, "+
					"and no KillInit()/StopInit() method to ask for it", backend.Name()))
			}
			AddReportEntry("B6: signalled from the host", fmt.Sprintf("%v to container inits %v", sig, inits))
			for _, pid := range inits {
				Expect(syscall.Kill(pid, sig)).To(Succeed())
				if sig == syscall.SIGSTOP {
					// Never leave a stopped init behind, healed or not.
					DeferCleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
				}
			}
		}

		It("replaces a container whose init was killed", func() {
			needs(backend.Features().Reuses, "no pooled containers to heal")
			first := runBounded(probeSpec("echo", "before"))
			Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
			killInit(syscall.SIGKILL)
			servesAgain("its init was killed")
		})

		It("replaces a container whose init is stuck (stopped)", func() {
			needs(backend.Features().Reuses, "no pooled containers to heal")
			first := runBounded(probeSpec("echo", "before"))
			Expect(first.Status).To(Equal(sandbox.StatusOK), describe(first))
			killInit(syscall.SIGSTOP)
			servesAgain("its init got stuck")
		})
	})
})
