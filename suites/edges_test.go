package suites

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/sandbox"
)

// Verdicts at the edges (B7) and output fidelity (B8). Tiny limits and
// batch output are checked through the gosandbox CLI, in a process of its
// own: a supervisor that breaks on them must not take the suite with it.

// cliBackend skips the spec unless the backend under test is one the CLI
// runs, and returns the built CLI.
func cliBackend() string {
	GinkgoHelper()
	switch backend.Name() {
	case "oneshot", "container", "slots":
	default:
		Skip("backend " + backend.Name() + " is not one the gosandbox CLI runs")
	}
	cli, err := buildCLI()
	if err != nil {
		Skip("the gosandbox CLI does not build: " + err.Error())
	}
	return cli
}

// cliRun is one finished gosandbox invocation.
type cliRun struct {
	exit           int
	stdout, stderr string
	pid            int
}

// runCLI runs the CLI with args and stdin, failing the spec if it does not
// end within bound (a hang is a failure, not a slow pass).
func runCLI(cli string, stdin []byte, bound time.Duration, args ...string) cliRun {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
	cmd.Dir = hostTempDir("")
	err := cmd.Run()
	if cmd.Process == nil {
		Fail(fmt.Sprintf("gosandbox %s did not start: %v", strings.Join(args, " "), err))
	}
	if ctx.Err() != nil {
		if left := sweepSupervisorLeftovers(cmd.Process.Pid); len(left) > 0 {
			AddReportEntry("left on the host by the killed CLI (removed by the test)", strings.Join(left, "\n"))
		}
		Fail(fmt.Sprintf("gosandbox %s did not end within %v\nstderr:\n%s", strings.Join(args, " "), bound, clipText(errb.String())))
	}
	r := cliRun{stdout: out.String(), stderr: errb.String(), pid: cmd.Process.Pid}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.exit = ee.ExitCode()
	default:
		Fail(fmt.Sprintf("gosandbox %s: %v\nstderr:\n%s", strings.Join(args, " "), err, clipText(r.stderr)))
	}
	return r
}

func clipText(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "...(clipped)"
	}
	return s
}

// tinyLimitBound is how long a run of echo under a tiny limit may take,
// container build included, before the spec calls it a hang.
const tinyLimitBound = 45 * time.Second

// tinyLimits are the smallest values of each limit a caller might try. Each
// must be refused as a usage error naming its flag, or end in a clean status.
var tinyLimits = [][2]string{
	{"--memory", "4KiB"}, {"--memory", "64KiB"}, {"--memory", "1MiB"}, {"--memory", "4MiB"}, {"--memory", "16MiB"},
	{"--procs", "1"}, {"--cpu", "1ms"}, {"--wall", "1ms"}, {"--output", "1B"},
	{"--stack", "4KiB"}, {"--open-files", "1"}, {"--tmpfs", "4KiB"},
}

var _ = Describe("Robustness at the edges", area("robustness"), func() {
	Context("B7: verdicts at the edges", property("B7"), func() {
		for _, sig := range []string{"SIGTERM", "SIGXCPU", "SIGXFSZ"} {
			It("reports a program that raises "+sig+" itself as signalled with "+sig, func() {
				o := runBounded(probeSpec("raise", sig))
				Expect(o.Status).To(Equal(sandbox.StatusSignalled), describe(o))
				Expect(o.Signal).To(Equal(sig), describe(o))
			})
		}

		It("reports a program that calls abort() as signalled with SIGABRT", func() {
			o := runBounded(probeSpec("raise", "abort"))
			Expect(o.Status).To(Equal(sandbox.StatusSignalled), describe(o))
			Expect(o.Signal).To(Equal("SIGABRT"), describe(o))
		})

		It("reports a write past the output limit to a stdout file as output-limit, even when the program ignores the error", func() {
			out := tempFile()
			defer out.Close()
			spec := limitedProbe(sandbox.Limits{Output: mib}, "flood-dfl", "3MiB")
			spec.Stdout = out
			o := runBounded(spec)
			Expect(o.Status).To(Equal(sandbox.StatusOutputLimit), describe(o))
			st, err := out.Stat()
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Size()).To(BeNumerically("<=", mib), "the stdout file grew past the output limit")
		})

		It("does not count a copied-in file bigger than the output limit as output", func() {
			spec := limitedProbe(sandbox.Limits{Output: mib}, "robust-exit", "1")
			spec.CopyIn = []sandbox.CopyIn{{Name: "input.bin", Content: bytes.Repeat([]byte("i"), int(2*mib)), Mode: 0o644}}
			o := runBounded(spec)
			Expect(o.Status).To(Equal(sandbox.StatusNonzeroExit), describe(o))
			Expect(o.ExitCode).To(Equal(1), describe(o))
		})

		It("reports a spinner whose final CPU total is over the limit as cpu-limit, however it ended", func() {
			// The spinner stops on its own 1 ms past the limit, between two
			// looks of a supervisor that polls: whether or not it is caught in
			// time, the total is over the limit. Several runs, since a poll
			// may catch any one of them.
			for i := 0; i < 8; i++ {
				o := runBounded(limitedProbe(sandbox.Limits{CPU: 500 * time.Millisecond, Wall: scaled(20 * time.Second)}, "cpu-spin-to", "501ms"))
				Expect(o.Status).To(Equal(sandbox.StatusCPULimit), "run %d\n%s", i+1, describe(o))
			}
		})

		It("ends a run at exactly each documented minimum cleanly", func() {
			for _, l := range []sandbox.Limits{
				{Memory: sandbox.MinMemory}, {Stack: sandbox.MinStack}, {Tmpfs: sandbox.MinTmpfs},
				{Output: sandbox.MinOutput}, {OpenFiles: sandbox.MinOpenFiles},
				{CPU: sandbox.MinCPU}, {Wall: sandbox.MinWall},
			} {
				o := runBounded(sandbox.Spec{Args: []string{"/bin/true"}, Limits: l})
				Expect(o.Status).NotTo(Equal(sandbox.StatusInternalError), "limits %+v\n%s", l, describe(o))
			}
		})

		It("refuses a memory limit of 1 byte as an invalid spec", func() {
			spec := probeSpec("true")
			spec.Limits.Memory = 1
			// Validate first: on a library that accepts it, running it could
			// break the supervisor inside this very process.
			err := spec.Validate()
			Expect(errors.Is(err, sandbox.ErrInvalidSpec)).To(BeTrue(), "Spec.Validate accepts a 1-byte memory limit (err %v)", err)
			_, err = runBoundedErr(spec)
			Expect(errors.Is(err, sandbox.ErrInvalidSpec)).To(BeTrue(), "backend %s accepts a 1-byte memory limit (err %v)", backend.Name(), err)
		})

		It("makes the CLI refuse --memory 1B as a usage error naming the flag", func() {
			cli := cliBackend()
			r := runCLI(cli, nil, tinyLimitBound, "run", "--backend", backend.Name(), "--bind", probeDir+":"+probeMount, "--memory", "1B",
				"--", probeMount+"/probe", "true")
			if left := sweepSupervisorLeftovers(r.pid); len(left) > 0 {
				Fail("left on the host by the CLI (removed by the test):\n" + strings.Join(left, "\n"))
			}
			Expect(r.stderr).NotTo(ContainSubstring("fatal error"), "the supervisor crashed\n"+clipText(r.stderr))
			Expect(r.exit).To(Equal(2), "stderr:\n"+clipText(r.stderr))
			Expect(r.stderr).To(ContainSubstring("--memory"), "exit 2, but the usage error does not name the flag (a Go runtime crash exits 2 too)")
		})

		for _, lim := range tinyLimits {
			It(fmt.Sprintf("ends a run with %s %s cleanly: a usage error naming the flag, or a status that is not internal-error", lim[0], lim[1]), func() {
				cli := cliBackend()
				result := filepath.Join(hostTempDir(""), "result.json")
				// The program's own streams go to a file: a Go probe that
				// cannot start a thread under --procs 1 prints "fatal error"
				// too, and that is the program's, not the supervisor's.
				programOut := filepath.Join(hostTempDir(""), "program.out")
				r := runCLI(cli, nil, tinyLimitBound, "run", "--backend", backend.Name(), "--bind", probeDir+":"+probeMount, lim[0], lim[1],
					"--result", result, "--stdout", programOut, "--stderr", programOut, "--", probeMount+"/probe", "echo", "hi")
				if left := sweepSupervisorLeftovers(r.pid); len(left) > 0 {
					Fail("left on the host by the CLI (removed by the test):\n" + strings.Join(left, "\n"))
				}
				Expect(r.stderr).NotTo(ContainSubstring("fatal error"), "the supervisor crashed\n"+clipText(r.stderr))
				switch r.exit {
				case 2:
					Expect(r.stderr).To(ContainSubstring(lim[0]), "exit 2 without naming the flag\n"+clipText(r.stderr))
				case 0, 1:
					b, err := os.ReadFile(result)
					Expect(err).NotTo(HaveOccurred(), "no --result written\nstderr:\n%s", clipText(r.stderr))
					var res sandbox.Result
					Expect(json.Unmarshal(b, &res)).To(Succeed(), string(b))
					Expect(res.Status).NotTo(Equal(sandbox.StatusInternalError), string(b))
				default:
					Fail(fmt.Sprintf("exit %d\nstderr:\n%s", r.exit, clipText(r.stderr)))
				}
			})
		}
	})

	Context("B8: batch output is byte-exact and bounded", property("B8"), func() {
		// batchJobs runs job lines through gosandbox batch and returns the
		// result lines by id, and the raw lines.
		batchJobs := func(jobs ...map[string]any) (map[string]map[string]any, map[string]string) {
			GinkgoHelper()
			cli := cliBackend()
			var in bytes.Buffer
			for _, j := range jobs {
				j["copy_in"] = map[string]string{"probe": filepath.Join(probeDir, "probe")}
				// The defaults' room, scaled as withRoom does for Run.
				limits, _ := j["limits"].(map[string]any)
				if limits == nil {
					limits = map[string]any{}
					j["limits"] = limits
				}
				for key, d := range map[string]time.Duration{"cpu": sandbox.DefaultLimits.CPU, "wall": sandbox.DefaultLimits.Wall} {
					if _, set := limits[key]; !set {
						limits[key] = scaled(d).String()
					}
				}
				b, err := json.Marshal(j)
				Expect(err).NotTo(HaveOccurred())
				in.Write(append(b, '\n'))
			}
			r := runCLI(cli, in.Bytes(), 2*time.Minute, "batch", "--backend", backend.Name())
			Expect(r.stderr).NotTo(ContainSubstring("fatal error"), clipText(r.stderr))
			results, raw := map[string]map[string]any{}, map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			sc.Buffer(nil, 1<<30)
			for sc.Scan() {
				var m map[string]any
				Expect(json.Unmarshal(sc.Bytes(), &m)).To(Succeed(), "a result line is not JSON: %s", clipText(sc.Text()))
				id, _ := m["id"].(string)
				results[id], raw[id] = m, sc.Text()
			}
			for _, j := range jobs {
				Expect(results).To(HaveKey(j["id"]), "no result line for job %v\nstderr:\n%s", j["id"], clipText(r.stderr))
			}
			return results, raw
		}
		// captured returns the bytes of stream ("stdout", "stderr") of a
		// result line, from its string or its _base64 field.
		captured := func(m map[string]any, stream string) []byte {
			GinkgoHelper()
			if s, ok := m[stream+"_base64"].(string); ok {
				b, err := base64.StdEncoding.DecodeString(s)
				Expect(err).NotTo(HaveOccurred())
				return b
			}
			s, _ := m[stream].(string)
			return []byte(s)
		}

		It("returns NUL bytes and invalid UTF-8 byte-exact, text as a plain string", func() {
			binary := []byte{0x00, 0xff, 'A', 0xc3, 0x28, 0xe2, 0x82, 0x00, '\n'}
			res, _ := batchJobs(
				map[string]any{"id": "binary", "args": []string{"/w/probe", "emit", fmt.Sprintf("%x", binary)}},
				map[string]any{"id": "binary-stderr", "args": []string{"/w/probe", "emit", "-stderr", fmt.Sprintf("%x", binary)}},
				map[string]any{"id": "text", "args": []string{"/w/probe", "emit", fmt.Sprintf("%x", "hello\tworld\r\n")}},
			)
			Expect(res["binary"]["status"]).To(Equal("ok"), "%v", res["binary"])
			Expect(captured(res["binary"], "stdout")).To(Equal(binary), "stdout of the binary job: %v", res["binary"])
			Expect(captured(res["binary-stderr"], "stderr")).To(Equal(binary), "stderr of the binary job: %v", res["binary-stderr"])
			Expect(res["text"]["stdout"]).To(Equal("hello\tworld\r\n"), "%v", res["text"])
			Expect(res["text"]).NotTo(HaveKey("stdout_base64"), "text came back base64-encoded")
		})

		It("bounds a flood of NUL bytes by the output limit, in the captured bytes and in the result line", func() {
			const limit = 8 * mib
			res, raw := batchJobs(map[string]any{"id": "nul-flood", "args": []string{"/w/probe", "emit", "00", "33554432"},
				"limits": map[string]any{"output": "8MiB"}})
			got := captured(res["nul-flood"], "stdout")
			Expect(res["nul-flood"]["status"]).To(Equal("output-limit"), "status of a job writing 32 MiB under an 8 MiB limit")
			Expect(int64(len(got))).To(BeNumerically("<=", limit), "captured bytes")
			Expect(bytes.Count(got, []byte{0})).To(Equal(len(got)), "the captured bytes are not the NULs written")
			Expect(int64(len(raw["nul-flood"]))).To(BeNumerically("<=", int64(len(got))*4/3+16<<10),
				"the result line (%d bytes) is more than 4/3 of the %d captured bytes plus a small constant", len(raw["nul-flood"]), len(got))
		})
	})
})
