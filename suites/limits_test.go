package suites

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/sandbox"
)

// Limits and accounting (R1-R14). Bounds on reported figures are correctness
// bounds on the accounting (cpu_ns within 0.9x-2x of the CPU limit that ended
// the run), never timings of the machine; wall limits are generous so that a
// loaded host ends CPU-bound runs by CPU, not by wall.

var _ = Describe("Limits and accounting", area("limits"), func() {
	// A spinner's CPU limit and a wall limit long enough for a loaded 2-core
	// machine (or an emulated one) to deliver that much CPU first.
	cpuLimit := sandbox.Limits{CPU: time.Second, Wall: scaled(8 * time.Second)}

	expectCPULimitOf := func(o Outcome, limit time.Duration) {
		GinkgoHelper()
		Expect(o.Status).To(Equal(sandbox.StatusCPULimit), describe(o))
		Expect(o.CPU()).To(BeNumerically(">=", limit*9/10), "cpu_ns below 0.9x the limit that ended the run\n"+describe(o))
		Expect(o.CPU()).To(BeNumerically("<=", 2*limit), "cpu_ns above 2x the limit\n"+describe(o))
	}
	expectCPULimit := func(o Outcome) {
		GinkgoHelper()
		expectCPULimitOf(o, cpuLimit.CPU)
	}

	Context("R1: a CPU limit ends the run with cpu-limit near the limit", property("R1"), func() {
		It("stops a spinner at 1 s of CPU", func() {
			expectCPULimit(runBounded(limitedProbe(cpuLimit, "cpu-spin")))
		})
		It("stops a spinner that ignores SIGXCPU", func() {
			expectCPULimit(runBounded(limitedProbe(cpuLimit, "cpu-spin", "-ignore")))
		})
		It("stops a spinner at a limit of no whole seconds (700 ms)", func() {
			l := sandbox.Limits{CPU: 700 * time.Millisecond, Wall: scaled(8 * time.Second)}
			expectCPULimitOf(runBounded(limitedProbe(l, "cpu-spin")), l.CPU)
		})
	})

	Context("R2: CPU counts every thread and every child", property("R2"), func() {
		It("counts a multi-threaded spinner", func() {
			o := runBounded(limitedProbe(cpuLimit, "cpu-spin", "-threads", "2"))
			expectCPULimit(o)
			Expect(o.Stdout).To(ContainSubstring("spinning threads=2"), describe(o))
		})
		It("counts spinners in child processes while the parent idles", func() {
			needs(backend.Features().Cgroups, "the CPU of children that are not reaped needs cgroup accounting")
			skipIfUnsupported("R2")
			// Three children with a per-process backstop a second above the
			// limit would burn over three times the limit: only a box-wide
			// count stops them near it. The limit is scaled (and checked as
			// scaled): under emulation starting three Go children takes a
			// good part of a second of CPU before the parent can say so.
			l := sandbox.Limits{CPU: scaled(time.Second), Wall: scaled(8 * time.Second)}
			o := runBounded(limitedProbe(l, "cpu-spin", "-children", "3", "-cap", l.Wall.String()))
			expectCPULimitOf(o, l.CPU)
			Expect(o.Stdout).To(ContainSubstring("spinning children=3"), describe(o))
		})
	})

	Context("R3: a wall limit ends a run that uses no CPU", property("R3"), func() {
		// Long enough for the probe to start and say it waits, also
		// under emulation; the limit it checks is this one.
		wall := sandbox.Limits{Wall: scaled(time.Second)}
		for _, c := range []struct{ what, action, started string }{
			{"a long sleep", "wall-sleep", "sleeping"},
			{"a pause(2)", "wall-pause", "pausing"},
			{"a program that stops itself with SIGSTOP", "wall-stop", "stopping pid="},
		} {
			It("ends "+c.what+" with wall-limit", func() {
				args := []string{}
				if c.action == "wall-sleep" {
					args = []string{"60s"}
				}
				o := runBounded(limitedProbe(wall, c.action, args...))
				Expect(o.Stdout).To(ContainSubstring(c.started), "the program never got to wait\n"+describe(o))
				Expect(o.Status).To(Equal(sandbox.StatusWallLimit), describe(o))
				Expect(o.Wall()).To(BeNumerically(">=", wall.Wall), "wall_ns below the wall limit that ended the run\n"+describe(o))
			})
		}
	})

	Context("R4: the enforcing kill cannot be caught", property("R4"), func() {
		It("ends a spinner that handles SIGXCPU, SIGTERM and SIGINT with cpu-limit", func() {
			o := runBounded(limitedProbe(cpuLimit, "cpu-spin", "-catch"))
			expectCPULimit(o)
		})
		It("ends a sleeper that handles those signals with wall-limit", func() {
			o := runBounded(limitedProbe(sandbox.Limits{Wall: scaled(time.Second)}, "wall-sleep", "60s", "-catch"))
			Expect(o.Status).To(Equal(sandbox.StatusWallLimit), describe(o))
			Expect(o.Stdout).NotTo(ContainSubstring("slept="), describe(o))
		})
	})

	It("R5: a memory bomb under 64 MiB ends with memory-limit and oom_killed", property("R5"), func() {
		needs(backend.Features().Cgroups, "an OOM kill is only observable with a memory cgroup")
		o := runBounded(limitedProbe(sandbox.Limits{Memory: 64 * mib, Wall: scaled(10 * time.Second)}, "mem-bomb"))
		Expect(o.Stdout).To(ContainSubstring("bomb=start"), "the bomb never started\n"+describe(o))
		Expect(o.Status).To(Equal(sandbox.StatusMemoryLimit), describe(o))
		Expect(o.OOMKilled).To(BeTrue(), describe(o))
	})

	Context("R6: address-space mode caps virtual memory", property("R6"), func() {
		It("makes a mapping larger than Limits.AddressSpace fail with ENOMEM", func() {
			skipIfUnsupported("R6", "Limits.AddressSpace")
			// A Go program needs ~700 MiB of address space to start at all
			// (and reserves over 1 GiB when it may): 2 GiB leaves it room.
			l := sandbox.Limits{AddressSpace: 2 << 30}
			small := runBounded(limitedProbe(l, "mem-mmap", "16MiB"))
			Expect(small.Status).To(Equal(sandbox.StatusOK), "a small mapping under the cap\n"+describe(small))
			Expect(small.Stdout).To(ContainSubstring("mmap=ok"), describe(small))

			big := runBounded(limitedProbe(l, "mem-mmap", "8GiB"))
			Expect(big.Stdout).To(ContainSubstring("mmap=ENOMEM"), describe(big))
		})
	})

	Context("R7: peak memory is accurate and excludes the supervisor", property("R7"), func() {
		It("reports at least 100 MiB for a program that touches 100 MiB, and far less for a trivial one", func() {
			skipIfUnsupported("R7")
			heavy := runBounded(limitedProbe(sandbox.Limits{}, "mem-touch", "100MiB"))
			Expect(heavy.Status).To(Equal(sandbox.StatusOK), describe(heavy))
			Expect(heavy.Stdout).To(ContainSubstring("touched=104857600"), describe(heavy))
			Expect(heavy.MemoryBytes).To(BeNumerically(">=", 100*mib), describe(heavy))

			trivial := runBounded(probeSpec("true"))
			Expect(trivial.Status).To(Equal(sandbox.StatusOK), describe(trivial))
			Expect(trivial.MemoryBytes).To(BeNumerically("<", 30*mib), "a trivial run's peak includes more than the program\n"+describe(trivial))
		})
	})

	Context("R8: tmpfs and /dev/shm count against memory or have their own cap", property("R8"), func() {
		// refused says a 100 MiB fill did not get through: the run hit the
		// memory limit, or the writes failed before 100 MiB.
		expectRefused := func(o Outcome, bound int64) {
			GinkgoHelper()
			if o.Status == sandbox.StatusMemoryLimit {
				return
			}
			Expect(o.Stdout).To(ContainSubstring("written="), "the fill never started\n"+describe(o))
			Expect(o.Stdout).NotTo(ContainSubstring("fill=done"), "100 MiB went into a box that should hold less\n"+describe(o))
			errText, _ := factOf(o.Stdout, "error")
			Expect(errText).To(BeElementOf("ENOSPC", "ENOMEM", "EDQUOT", "EFBIG"), describe(o))
			written, _ := factOf(o.Stdout, "written")
			n, _ := strconv.ParseInt(written, 10, 64)
			Expect(n).To(BeNumerically("<=", bound+mib), describe(o))
		}
		for _, dir := range []string{"/w", "/tmp"} {
			It("caps "+dir+" at Limits.Tmpfs (32 MiB)", func() {
				o := runBounded(limitedProbe(sandbox.Limits{Tmpfs: 32 * mib, Wall: scaled(10 * time.Second)}, "tmpfs-fill", dir, "100MiB"))
				Expect(o.Status).NotTo(Equal(sandbox.StatusMemoryLimit), "a 32 MiB tmpfs under a 256 MiB memory limit should fill up first\n"+describe(o))
				expectRefused(o, 32*mib)
			})
			It("charges "+dir+" to a 64 MiB memory limit when its own cap is larger", func() {
				needs(backend.Features().Cgroups, "tmpfs pages are charged to a box only through its memory cgroup")
				skipIfUnsupported("R8")
				o := runBounded(limitedProbe(sandbox.Limits{Memory: 64 * mib, Tmpfs: 512 * mib, Wall: scaled(10 * time.Second)}, "tmpfs-fill", dir, "100MiB"))
				expectRefused(o, 64*mib)
			})
		}
		It("bounds /dev/shm under a 64 MiB memory limit", func() {
			o := runBounded(limitedProbe(sandbox.Limits{Memory: 64 * mib, Wall: scaled(10 * time.Second)}, "tmpfs-fill", "/dev/shm", "100MiB"))
			if v, _ := factOf(o.Stdout, "dir"); v == "ENOENT" {
				Skip("the box has no /dev/shm: nothing to fill")
			}
			expectRefused(o, 64*mib)
		})
	})

	Context("R14: socket buffers count against the memory limit", property("R14"), func() {
		// The box fills sockets it never reads, pair after pair, up to four
		// times its limit: the kernel must either refuse more near the limit
		// or end the run at it, and the peak must show what it held. Past
		// any limit the kernel still lets each TCP socket queue one packet
		// (a forced charge, so that a connection never stalls for good):
		// that much per descriptor is allowed above the limit. 256
		// descriptors (128 pairs) give 16 MiB of it; the unbounded box
		// reaches 128 MiB in 34 pairs.
		const limit, openFiles = 32 * mib, 256
		const perSocket = 64 << 10
		for _, kind := range []string{"tcp", "udp", "unix-stream", "unix-dgram"} {
			It("bounds and reports "+kind+" buffers a box queues under a 32 MiB limit", func() {
				needs(backend.Features().Cgroups, "socket buffers are charged to a box only through its memory cgroup")
				skipIfUnsupported("R14")
				o := runBounded(limitedProbe(sandbox.Limits{Memory: limit, OpenFiles: openFiles, Wall: scaled(20 * time.Second)}, "sock-fill", kind, "128MiB"))
				Expect(o.Stdout).To(ContainSubstring("kind="+kind), "the fill never started\n"+describe(o))
				heldText, _ := factOf(o.Stdout, "held")
				held, _ := strconv.ParseInt(heldText, 10, 64)
				if o.Status != sandbox.StatusMemoryLimit {
					Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
					Expect(o.Stdout).NotTo(ContainSubstring("fill=done"), "128 MiB of socket buffers in a box limited to 32 MiB\n"+describe(o))
					Expect(held).To(BeNumerically("<=", limit+openFiles*perSocket), "socket buffers held past the memory limit\n"+describe(o))
				}
				Expect(o.MemoryBytes).To(BeNumerically(">=", held), "memory_bytes below the socket buffers the box held ("+sizeText(held)+")\n"+describe(o))
			})
		}
	})

	It("R9: a process cap of 32 holds a fork bomb and the host stays stable", property("R9"), func() {
		marker := newMarker("bomb")
		DeferCleanup(killMarked, marker)
		o := runBounded(limitedProbe(sandbox.Limits{Procs: 32, Wall: 3 * time.Second}, "fork-bomb", marker))
		Expect(o.Stdout).To(ContainSubstring("bomb=started"), "the bomb never started\n"+describe(o))
		Expect(o.Stdout).NotTo(ContainSubstring("bomb=unheld"), "the bomb got every process it asked for\n"+describe(o))
		Expect(o.Status).To(BeElementOf(sandbox.StatusWallLimit, sandbox.StatusNonzeroExit, sandbox.StatusSignalled,
			sandbox.StatusMemoryLimit, sandbox.StatusCPULimit), describe(o))
		if o.ProcsPeak != 0 {
			Expect(o.ProcsPeak).To(BeNumerically("<=", 32), describe(o))
		}
		Expect(exec.Command("/bin/true").Run()).To(Succeed(), "the host cannot fork after the bomb")
		Eventually(func() []int { return hostPidsWith(marker) }).WithTimeout(10*time.Second).WithPolling(100*time.Millisecond).
			Should(BeEmpty(), "processes of the bomb survive the run on the host")
	})

	Context("R10: an output limit gives output-limit and bounds what reaches the host", property("R10"), func() {
		limit := sandbox.Limits{Output: mib, Wall: scaled(10 * time.Second)}
		It("stops a flood into a stdout file at 1 MiB", func() {
			o := runBounded(limitedProbe(limit, "flood", "64MiB"))
			Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), describe(o))
			Expect(len(o.Stdout)).To(BeNumerically("<=", mib+64<<10), "bytes on the host: "+sizeText(int64(len(o.Stdout))))
			Expect(len(o.Stdout)).To(BeNumerically(">", 0), describe(o))
		})
		It("finds a file at the limit deeper below /w than PATH_MAX", func() {
			// The host looks through /w for a file at the output limit
			// after the run; a look by path stops at PATH_MAX, and a box
			// could hide its output at the bottom of a deep chain and end
			// ok (40 directories of 250-byte names: a 10 KB path).
			o := runBounded(limitedProbe(limit, "fs-deep-file", "40", "2MiB"))
			Expect(o.Stdout).To(ContainSubstring("depth=40"), describe(o))
			Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), describe(o))
		})
		for _, dir := range []string{"/w", "/tmp", "/dev/shm"} {
			It("gives output-limit for a write past the limit in "+dir+" that the program survived", func() {
				// The output limit is the largest file the program may
				// write, wherever: a write past it fails (EFBIG, SIGXFSZ
				// ignored) or is cut short in /tmp as in /w, and the run
				// must not end ok because the file lies outside /w.
				o := runBounded(limitedProbe(limit, "fs-big-file", dir, "2MiB"))
				if strings.Contains(o.Stdout, "error=") {
					Skip(dir + " is not writable in this box: " + o.Stdout)
				}
				Expect(o.Stdout).To(ContainSubstring("dir="+dir+" written="+strconv.FormatInt(mib, 10)), "the write was not stopped at the limit\n"+describe(o))
				Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), describe(o))
			})
		}
		Context("in a writable bind", func() {
			var dir string
			BeforeEach(func() {
				dir = hostDirForBoxes("gosandbox-r10-")
			})
			bound := func(action string, args ...string) sandbox.Spec {
				s := limitedProbe(limit, action, args...)
				s.Binds = append(s.Binds, sandbox.Bind{Source: dir, Target: "/out", Writable: true})
				return s
			}
			It("gives output-limit for a write past the limit there that the program survived", func() {
				// A writable bind is a directory the program writes like
				// /w: the largest file it may write there is the output
				// limit too, and a file cut short there must not end ok.
				o := runBounded(bound("fs-big-file", "/out", "2MiB"))
				Expect(o.Stdout).To(ContainSubstring("dir=/out written="+strconv.FormatInt(mib, 10)), "the write was not stopped at the limit\n"+describe(o))
				Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), describe(o))
			})
			It("gives output-limit for a file a leftover process grew to the limit as the run ended", func() {
				// The look for a file at the limit must come after every
				// process of the box is gone: one left behind writes the
				// last page of a file at some delay after the program's
				// end, and whichever of the look and the end of the box
				// comes first, a file at the limit after the run must be
				// output-limit. Delays swept: the window is microseconds.
				for i := range 40 {
					delay := time.Duration(i) * 5 * time.Microsecond
					name := filepath.Join(dir, "late")
					os.Remove(name)
					o := runBounded(bound("fs-late-write", "/out", delay.String()))
					Expect(o.Stdout).To(ContainSubstring("late=armed"), describe(o))
					st, err := os.Stat(name)
					Expect(err).NotTo(HaveOccurred())
					GinkgoWriter.Printf("delay %v: size %d, status %s\n", delay, st.Size(), o.Status)
					if st.Size() >= mib {
						Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), "a leftover grew a file to the limit %v after the program's end\n%s", delay, describe(o))
					}
				}
			})
			It("R2: counts the CPU a leftover process spent as the run ended", func() {
				// The box's CPU total is read once every process of it is
				// gone: one the program left behind spins after the
				// program's end until the box's end kills it, and a figure
				// read before misses that (a run over its CPU limit by
				// then would be judged by a total below it).
				for range 40 {
					name := filepath.Join(dir, "cpu")
					os.Remove(name)
					o := runBounded(bound("cpu-leftover", "/out"))
					parentText, found := factOf(o.Stdout, "parent_cpu_ns")
					Expect(found).To(BeTrue(), describe(o))
					parent, err := strconv.ParseInt(parentText, 10, 64)
					Expect(err).NotTo(HaveOccurred())
					data, err := os.ReadFile(name)
					Expect(err).NotTo(HaveOccurred())
					left, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
					if err != nil {
						continue // killed before its first figure
					}
					Expect(o.CPUNanos).To(BeNumerically(">=", parent+left), "cpu_ns below the program's %v and the leftover's %v\n%s",
						time.Duration(parent), time.Duration(left), describe(o))
				}
			})
			It("does not count a file the host left there before the run", func() {
				// The bind is the caller's directory: what was in it before
				// the run, however large, is input, not output.
				Expect(os.WriteFile(filepath.Join(dir, "input"), make([]byte, 2*mib), 0o644)).To(Succeed())
				o := runBounded(bound("fs-exists", "/out/input"))
				Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			})
		})
	})

	Context("R11: rlimits are exact and hard limits cannot be raised", property("R11"), func() {
		It("sets NOFILE, STACK, FSIZE and CPU as configured", func() {
			l := sandbox.Limits{OpenFiles: 40, Stack: 16 * mib, Output: 2 * mib, CPU: 1500 * time.Millisecond}
			o := runBounded(limitedProbe(l, "rlimits"))
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			exact := map[string]string{
				"NOFILE": "40/40",
				"STACK":  strconv.FormatInt(16*mib, 10) + "/" + strconv.FormatInt(16*mib, 10),
				"FSIZE":  strconv.FormatInt(2*mib, 10) + "/" + strconv.FormatInt(2*mib, 10),
			}
			for name, want := range exact {
				got, _ := factOf(o.Stdout, name)
				Expect(got).To(Equal(want), "RLIMIT_"+name+"\n"+describe(o))
			}
			// RLIMIT_CPU is a per-process backstop in whole seconds: 1.5 s
			// rounds up to 2 (one more second of grace is allowed).
			cpu, _ := factOf(o.Stdout, "CPU")
			soft, hard, _ := strings.Cut(cpu, "/")
			Expect(soft).To(BeElementOf("2", "3"), "RLIMIT_CPU soft\n"+describe(o))
			Expect(hard).NotTo(Equal("inf"), "RLIMIT_CPU hard\n"+describe(o))
		})
		It("refuses to raise a hard limit (EPERM)", func() {
			o := runBounded(probeSpec("rlimit-raise"))
			Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
			for _, name := range []string{"NOFILE", "STACK", "FSIZE"} {
				got, _ := factOf(o.Stdout, "raise_"+name)
				Expect(got).To(Equal("EPERM"), "raising RLIMIT_"+name+"\n"+describe(o))
			}
		})
	})

	It("R12: a CPU set pins the box", property("R12"), func() {
		skipIfUnsupported("R12", "Limits.CPUSet")
		o := runBounded(limitedProbe(sandbox.Limits{CPUSet: "0"}, "cpu-affinity"))
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		cpus, _ := factOf(o.Stdout, "cpus")
		Expect(cpus).To(Equal("0"), describe(o))
	})

	It("R13: wall time is at least what the program slept and never more than the caller waited", property("R13"), func() {
		started := time.Now()
		o := runBounded(probeSpec("wall-sleep", "200ms"))
		waited := time.Since(started)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describe(o))
		Expect(o.Wall()).To(BeNumerically(">=", 200*time.Millisecond), describe(o))
		Expect(o.Wall()).To(BeNumerically("<=", waited), "the run's wall time exceeds the time Run took\n"+describe(o))
		Expect(o.CPUNanos).To(BeNumerically(">=", 0), describe(o))
	})
})
