package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gosandbox/harness"
	"gosandbox/sandbox"
	"gosandbox/sandbox/workdir"
)

func init() {
	commands["run"] = command{summary: "run one program in a fresh sandbox", run: runCommand}
}

// Exit statuses of `gosandbox run` (see the README).
const (
	exitOK       = 0
	exitOther    = 1
	exitUsage    = 2
	exitInternal = 3
)

// sizeFlag is a byte count in sandbox.ParseSize's syntax.
type sizeFlag struct{ n *int64 }

func (s sizeFlag) String() string {
	if s.n == nil {
		return ""
	}
	return sandbox.FormatSize(*s.n)
}
func (s sizeFlag) Set(v string) (err error) { *s.n, err = sandbox.ParseSize(v); return err }

// listFlag collects a repeatable flag.
type listFlag struct{ items *[]string }

func (l listFlag) String() string {
	if l.items == nil {
		return ""
	}
	return strings.Join(*l.items, ",")
}
func (l listFlag) Set(v string) error { *l.items = append(*l.items, v); return nil }

func runCommand(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gosandbox run [FLAGS] -- PROGRAM [ARGS...]\n\n"+
			"Runs PROGRAM (resolved inside the sandbox) in a fresh sandbox. Exit status: 0 it ran and\n"+
			"exited 0; 1 any other status; 2 invalid usage or configuration; 3 internal error.\n\nflags:\n")
		fs.PrintDefaults()
	}
	limits := sandbox.DefaultLimits
	var (
		backend                  = fs.String("backend", "oneshot", "sandbox: oneshot, container or slots (none is not a sandbox and cannot be selected)")
		copyIns, copyOuts, envs  []string
		bindArgs                 []string
		stdinP, stdoutP, stderrP string
		resultPath               string
	)
	minSize := func(n int64) string { return " (minimum " + sandbox.FormatSize(n) + ")" }
	fs.DurationVar(&limits.CPU, "cpu", limits.CPU, "CPU time of all threads and children (minimum "+sandbox.MinCPU.String()+")")
	fs.DurationVar(&limits.Wall, "wall", limits.Wall, "elapsed time (minimum "+sandbox.MinWall.String()+")")
	fs.Var(sizeFlag{&limits.Memory}, "memory", "peak memory (B, KiB, MiB, GiB)"+minSize(sandbox.MinMemory))
	fs.IntVar(&limits.Procs, "procs", limits.Procs, fmt.Sprintf("processes and threads at once (minimum %d)", sandbox.MinProcs))
	fs.Var(sizeFlag{&limits.Output}, "output", "largest file or captured stream"+minSize(sandbox.MinOutput))
	fs.Var(sizeFlag{&limits.Stack}, "stack", "stack size"+minSize(sandbox.MinStack))
	fs.IntVar(&limits.OpenFiles, "open-files", limits.OpenFiles, fmt.Sprintf("open descriptors (minimum %d)", sandbox.MinOpenFiles))
	fs.Var(sizeFlag{&limits.Tmpfs}, "tmpfs", "size of /w and of /tmp"+minSize(sandbox.MinTmpfs))
	fs.Var(listFlag{&copyIns}, "copy-in", "HOSTPATH:NAME placed in /w before the run (repeatable)")
	fs.Var(listFlag{&copyOuts}, "copy-out", "NAME of /w written to the current directory after the run (repeatable)")
	fs.Var(listFlag{&envs}, "env", "K=V of the program's environment; nothing else is passed (repeatable)")
	fs.Var(listFlag{&bindArgs}, "bind", "SRC:DST[:rw] host path made visible inside (repeatable)")
	fs.StringVar(&stdinP, "stdin", "", "file for the program's stdin: regular file, FIFO, socket or character device (default: inherited)")
	fs.StringVar(&stdoutP, "stdout", "", "file for the program's stdout, of the same kinds (default: inherited)")
	fs.StringVar(&stderrP, "stderr", "", "file for the program's stderr, of the same kinds (default: inherited)")
	fs.StringVar(&resultPath, "result", "", "write the result as one JSON object to this file (default: a summary on stderr)")
	// flag's own messages name the flag and the value; the usage is shown
	// only when asked for.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.Usage()
			return exitOK
		}
		fmt.Fprintf(os.Stderr, "gosandbox run: %v (see gosandbox run --help)\n", err)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gosandbox run: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() == 0 {
		return fail("no program given (gosandbox run [FLAGS] -- PROGRAM [ARGS...])")
	}
	if err := checkBackend(*backend); err != nil {
		return fail("%v", err)
	}

	spec := sandbox.Spec{Args: fs.Args(), Env: envs, Limits: limits, CopyOut: copyOuts}
	for _, s := range copyIns {
		c, err := sandbox.ParseCopyIn(s)
		if err != nil {
			return fail("--copy-in: %v", err)
		}
		spec.CopyIn = append(spec.CopyIn, c)
	}
	for _, s := range bindArgs {
		b, err := sandbox.ParseBind(s)
		if err != nil {
			return fail("--bind: %v", err)
		}
		spec.Binds = append(spec.Binds, b)
	}
	spec.Stdin, spec.Stdout, spec.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, s := range []struct {
		flag, path string
		file       **os.File
		flags      int
	}{
		{"--stdin", stdinP, &spec.Stdin, os.O_RDONLY},
		{"--stdout", stdoutP, &spec.Stdout, os.O_WRONLY | os.O_CREATE | os.O_TRUNC},
		{"--stderr", stderrP, &spec.Stderr, os.O_WRONLY | os.O_CREATE | os.O_TRUNC},
	} {
		if s.path == "" {
			continue
		}
		f, err := os.OpenFile(s.path, s.flags, 0o644)
		if err != nil {
			return fail("%s %s: %v", s.flag, s.path, err)
		}
		defer f.Close()
		// A directory would hand the box the host file system (H3).
		if err := sandbox.CheckStream(f); err != nil {
			return fail("%s %v", s.flag, err)
		}
		*s.file = f
	}
	if err := spec.Check(); err != nil {
		var le *sandbox.LimitError
		if errors.As(err, &le) {
			return fail("--%s %s", strings.ReplaceAll(le.Field, "_", "-"), strings.TrimPrefix(le.Error(), "limits."+le.Field+" "))
		}
		return fail("%v", err)
	}

	b, err := harness.Open(*backend, harness.Options{})
	if err != nil {
		return fail("--backend %s: %v", *backend, err)
	}
	defer b.Close()

	// Ctrl-C or a TERM ends the run (the box is killed and torn down)
	// instead of killing the supervisor halfway.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := b.Run(ctx, spec)
	if err != nil {
		if errors.Is(err, sandbox.ErrInvalidSpec) {
			return fail("%v", err)
		}
		fmt.Fprintf(os.Stderr, "gosandbox run: %v\n", err)
		return exitInternal
	}

	status := exitStatus(res)
	if len(res.Files) > 0 {
		if err := workdir.WriteFiles(".", res.Files); err != nil {
			fmt.Fprintf(os.Stderr, "gosandbox run: copy-out: %v\n", err)
			status = exitInternal
		}
	}
	for _, name := range copyOuts {
		if reason, ok := res.FileErrors[name]; ok {
			fmt.Fprintf(os.Stderr, "gosandbox run: copy-out %s refused: %s\n", name, reason)
		}
	}
	if resultPath != "" {
		data, err := json.Marshal(res)
		if err == nil {
			err = os.WriteFile(resultPath, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gosandbox run: --result %s: %v\n", resultPath, err)
			return exitInternal
		}
	} else {
		fmt.Fprintln(os.Stderr, summary(res))
	}
	return status
}

func exitStatus(r sandbox.Result) int {
	switch r.Status {
	case sandbox.StatusOK:
		return exitOK
	case sandbox.StatusInternalError:
		return exitInternal
	}
	return exitOther
}

// summary is the one-line result on stderr.
func summary(r sandbox.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gosandbox: %s", r.Status)
	switch {
	case r.Signal != "":
		fmt.Fprintf(&b, " signal=%s", r.Signal)
	case r.Status == sandbox.StatusOK || r.Status == sandbox.StatusNonzeroExit:
		fmt.Fprintf(&b, " exit=%d", r.ExitCode)
	}
	fmt.Fprintf(&b, " cpu=%v wall=%v memory=%.1fMiB", r.CPU().Round(time.Millisecond), r.Wall().Round(time.Millisecond), float64(r.MemoryBytes)/(1<<20))
	if r.ProcsPeak > 0 {
		fmt.Fprintf(&b, " procs=%d", r.ProcsPeak)
	}
	if r.OOMKilled {
		b.WriteString(" oom_killed")
	}
	fmt.Fprintf(&b, " accounting=%s backend=%s", r.Accounting, r.Backend)
	if r.Message != "" {
		fmt.Fprintf(&b, " (%s)", r.Message)
	}
	return b.String()
}
