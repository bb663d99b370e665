package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"gosandbox/harness"
	"gosandbox/sandbox"
	"gosandbox/sandbox/batch"
)

func init() {
	commands["batch"] = command{summary: "run JSON-lines jobs from stdin, one result line each on stdout", run: batchCommand}
}

func batchCommand(args []string) int {
	fs := flag.NewFlagSet("batch", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gosandbox batch [--backend container|slots|oneshot] [--pool N] [--parallel N] [--copy-in-root DIR]\n                       [--max-output SIZE] [--max-tmpfs SIZE] [--max-wall DURATION] [--max-answer SIZE] < jobs.jsonl\n\n"+
			"Reads one JSON job per line on stdin and writes one JSON result line per job on stdout, in\n"+
			"input order (see the README for both formats). A malformed line gets {\"id\": ..., \"error\": ...}\n"+
			"and the batch goes on. Exit status: 0 every line was answered; 2 invalid usage; 3 the backend\n"+
			"could not be opened, or reading stdin or writing stdout failed.\n\nflags:\n")
		fs.PrintDefaults()
	}
	backend := fs.String("backend", "container", "sandbox: container (a pool of reused containers), slots (zero-process slots) or oneshot")
	copyInRoot := fs.String("copy-in-root", "", "confine every job's copy_in host paths to this directory (resolved without following links out of it); set it when job lines come from untrusted input")
	pool := fs.Int("pool", 1, "containers or slots in the pool (container, slots); 1 = every job reuses the same one, in order")
	parallel := fs.Int("parallel", 0, "jobs run at once (default: the pool size)")
	// Ceilings, for job lines from users: what a job prints and copies out
	// is held in this process's memory, which no box limit charges.
	var maxOutput, maxTmpfs, maxAnswer int64
	fs.Var(sizeFlag{&maxOutput}, "max-output", "largest limits.output (and group transcript) a job may ask for; more gets an error line (default: none)")
	fs.Var(sizeFlag{&maxTmpfs}, "max-tmpfs", "largest limits.tmpfs a job may ask for (default: none)")
	maxWall := fs.Duration("max-wall", 0, "largest limits.wall a job may ask for (default: none)")
	fs.Var(sizeFlag{&maxAnswer}, "max-answer", "most a job could capture in all: streams, copied-out files, transcripts of all its programs (default: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gosandbox batch: unexpected arguments %q (jobs come on stdin)\n", fs.Args())
		return exitUsage
	}
	if err := checkBackend(*backend); err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox batch: %v\n", err)
		return exitUsage
	}
	if *copyInRoot != "" {
		if st, err := os.Stat(*copyInRoot); err != nil || !st.IsDir() {
			fmt.Fprintf(os.Stderr, "gosandbox batch: --copy-in-root %s: want a directory (%v)\n", *copyInRoot, err)
			return exitUsage
		}
	}
	if maxOutput < 0 || maxTmpfs < 0 || *maxWall < 0 || maxAnswer < 0 {
		fmt.Fprintln(os.Stderr, "gosandbox batch: --max-output, --max-tmpfs, --max-wall and --max-answer must not be negative")
		return exitUsage
	}
	if *pool < 1 || *parallel < 0 {
		fmt.Fprintln(os.Stderr, "gosandbox batch: --pool must be at least 1 and --parallel not negative")
		return exitUsage
	}
	if *parallel == 0 {
		*parallel = *pool
	}
	b, err := harness.Open(*backend, harness.Options{PoolSize: *pool})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox batch: %v\n", err)
		return exitInternal
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stats, err := batch.Run(ctx, b, os.Stdin, os.Stdout, batch.Options{Parallel: *parallel, CopyInRoot: *copyInRoot,
		Ceiling: sandbox.Limits{Output: maxOutput, Tmpfs: maxTmpfs, Wall: *maxWall}, MaxCaptured: maxAnswer})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox batch: %v (%d jobs ran, %d lines refused)\n", err, stats.Jobs, stats.Malformed)
		return exitInternal
	}
	return exitOK
}
