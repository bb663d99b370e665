package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
)

// gosandboxBin is the CLI built for these tests.
var gosandboxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gosandbox-cli-")
	if err != nil {
		panic(err)
	}
	gosandboxBin = filepath.Join(dir, "gosandbox")
	out, err := exec.Command("go", "build", "-o", gosandboxBin, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("building gosandbox: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs `gosandbox run ARGS...` in dir and returns its exit status,
// stdout and stderr.
func cli(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, dir, "", append([]string{"run"}, args...)...)
}

// runCLI runs the gosandbox binary with args in dir, input on its stdin,
// and returns its exit status, stdout and stderr.
func runCLI(t *testing.T, dir, input string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(gosandboxBin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func needRoot(t *testing.T) {
	testhost.NeedRoot(t, "boxes with an unmapped host id")
}

func TestRunUsageErrorsExit2(t *testing.T) {
	cases := []struct {
		args    []string
		mention string
	}{
		{[]string{"--cpu", "fast", "--", "/bin/true"}, "-cpu"},
		{[]string{"--memory", "12 parsecs", "--", "/bin/true"}, "-memory"},
		{[]string{"--procs", "many", "--", "/bin/true"}, "-procs"},
		{[]string{"--bind", "relative:/x", "--", "/bin/true"}, "--bind"},
		{[]string{"--copy-in", "nocolon", "--", "/bin/true"}, "--copy-in"},
		{[]string{"--copy-in", "/nonexistent/sol:sol", "--", "/bin/true"}, "/nonexistent/sol"},
		{[]string{"--env", "NOEQUALS", "--", "/bin/true"}, "NOEQUALS"},
		{[]string{"--copy-out", "../up", "--", "/bin/true"}, "../up"},
		{[]string{"--stdin", "/nonexistent/in", "--", "/bin/true"}, "--stdin"},
		{[]string{"--backend", "nosuch", "--", "/bin/true"}, "nosuch"},
		{[]string{"--bind", "/nonexistent/gosandbox-src:/data", "--", "/bin/true"}, "/nonexistent/gosandbox-src"},
		{[]string{"--bind", "/etc/hostname:/proc/x", "--", "/bin/true"}, "/proc/x"},
		{[]string{"--tmpfs", "64KiB", "--copy-in", "/usr/bin/dash:sh", "--", "/bin/true"}, "tmpfs"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		// H3: a directory as a stream would hand the box the host file system.
		{[]string{"--stdin", "/etc", "--", "/bin/true"}, "--stdin /etc: a directory"},
		{[]string{"--stdout", "/etc", "--", "/bin/true"}, "--stdout"},
		{[]string{"--stderr", "/etc", "--", "/bin/true"}, "--stderr"},
		// Only real sandboxes can be selected.
		{[]string{"--backend", "none", "--", "/bin/true"}, `--backend "none"`},
		// Limits below their documented minimum.
		{[]string{"--memory", "1B", "--", "/bin/true"}, "--memory 1B: below the minimum " + sandbox.FormatSize(sandbox.MinMemory)},
		{[]string{"--memory", "4KiB", "--", "/bin/true"}, "--memory 4KiB: below the minimum"},
		{[]string{"--stack", "1KiB", "--", "/bin/true"}, "--stack 1KiB: below the minimum " + sandbox.FormatSize(sandbox.MinStack)},
		{[]string{"--tmpfs", "4KiB", "--", "/bin/true"}, "--tmpfs 4KiB: below the minimum " + sandbox.FormatSize(sandbox.MinTmpfs)},
		{[]string{"--open-files", "2", "--", "/bin/true"}, "--open-files 2: below the minimum"},
		{[]string{"--cpu", "1us", "--", "/bin/true"}, "--cpu 1µs: below the minimum " + sandbox.MinCPU.String()},
		{[]string{"--wall", "1ns", "--", "/bin/true"}, "--wall 1ns: below the minimum"},
		{[]string{}, "no program"},
	}
	for _, tc := range cases {
		code, _, stderr := cli(t, t.TempDir(), tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.mention) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", tc.args, code, stderr, tc.mention)
		}
	}
}

func TestRunHelpShowsDefaults(t *testing.T) {
	code, _, stderr := cli(t, t.TempDir(), "--help")
	if code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	for _, want := range []string{"-cpu", sandbox.DefaultLimits.CPU.String(), "-memory", sandbox.FormatSize(sandbox.DefaultLimits.Memory), "-copy-in", "-result",
		"minimum " + sandbox.FormatSize(sandbox.MinMemory), "minimum " + sandbox.MinCPU.String(), "minimum " + sandbox.FormatSize(sandbox.MinStack),
		"minimum " + sandbox.FormatSize(sandbox.MinTmpfs), fmt.Sprintf("minimum %d", sandbox.MinOpenFiles)} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--help does not show %q:\n%s", want, stderr)
		}
	}
}

func TestRunExitStatuses(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"--", "/bin/true"}, 0},
		{[]string{"--", "/bin/sh", "-c", "exit 7"}, 1},
		{[]string{"--", "/nonexistent/program"}, 1}, // exec-error is the program's fault
		{[]string{"--wall", "200ms", "--", "/bin/sleep", "10"}, 1},
	}
	for _, tc := range cases {
		code, _, stderr := cli(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(stderr, "gosandbox:") {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args, code, tc.code, stderr)
		}
	}
}

func TestRunResultJSONAndFiles(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("hello\n"), 0o644)
	code, stdout, stderr := cli(t, dir,
		"--result", "result.json", "--copy-in", filepath.Join(dir, "in.txt")+":in.txt",
		"--copy-out", "out.txt", "--copy-out", "link", "--env", "GREETING=hi", "--stdout", "stdout.txt",
		"--", "/bin/sh", "-c", `cat in.txt > out.txt; echo "$GREETING $HOME" ; ln -s /etc/passwd link; exit 3`)
	if code != 1 {
		t.Errorf("exit %d, want 1 (stderr %q)", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout went to the terminal: %q", stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("result.json: %v\n%s", err, b)
	}
	for _, k := range []string{"status", "exit_code", "signal", "cpu_ns", "wall_ns", "memory_bytes", "procs_peak", "oom_killed", "message", "accounting", "backend"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("result.json lacks %q: %s", k, b)
		}
	}
	if fields["status"] != "nonzero-exit" || fields["exit_code"] != 3.0 || fields["backend"] != "oneshot" {
		t.Errorf("result.json: %s", b)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "stdout.txt")); string(got) != "hi \n" {
		t.Errorf("stdout.txt = %q: only --env reaches the program", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.txt")); string(got) != "hello\n" {
		t.Errorf("copied-out out.txt = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "link")); err == nil {
		t.Error("a planted symlink was copied out")
	}
	if !strings.Contains(stderr, "copy-out link refused") {
		t.Errorf("no refusal reason for link on stderr: %q", stderr)
	}
	if strings.Contains(stderr, "gosandbox: nonzero-exit") {
		t.Errorf("a summary was printed although --result was given: %q", stderr)
	}
}

// TestRunInterruptedExit3: a TERM to the CLI ends the run as the sandbox's
// doing (internal-error, exit 3), with the box torn down.
func TestRunInterruptedExit3(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(gosandboxBin, "run", "--wall", "1m", "--", "/bin/sh", "-c", "echo started; exec sleep 60")
	cmd.Dir = t.TempDir()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, len("started\n"))
	if _, err := io.ReadFull(out, line); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the box did not start: %v", err)
	}
	// The box runs, so the CLI is inside Run with its signal handler set.
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, out) // EOF once the box is gone
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(stderr.String(), "internal-error") {
		t.Errorf("exit %v, stderr %q; want 3 with internal-error", err, stderr.String())
	}
}

// TestInvalidSpecExit2OnEveryBackend: a bind no box can hold is an invalid
// spec (exit 2) on every backend, pooled ones included, never an
// internal-error (exit 3) from the container built for it.
func TestInvalidSpecExit2OnEveryBackend(t *testing.T) {
	needRoot(t)
	for _, backend := range []string{"oneshot", "container", "slots"} {
		for _, bind := range []string{"/tmp:/tmp/x", "/tmp:/etc/passwd/x"} {
			code, _, stderr := cli(t, t.TempDir(), "--backend", backend, "--bind", bind, "--", "/bin/true")
			if code != 2 || !strings.Contains(stderr, "invalid spec: mount: bad plan") {
				t.Errorf("--backend %s --bind %s: exit %d, stderr %q; want 2, invalid spec", backend, bind, code, stderr)
			}
		}
	}
}
