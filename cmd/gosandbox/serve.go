package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gosandbox/harness"
	"gosandbox/sandbox"
	"gosandbox/server"
)

func init() {
	commands["serve"] = command{summary: "serve jobs over HTTP from a warm pool, with Prometheus metrics", run: serveCommand}
}

func serveCommand(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: gosandbox serve [--listen ADDR] [--backend container|slots|oneshot] [--pool N] [--parallel N] [--queue N] [--max-body BYTES] [--max-output SIZE] [--max-tmpfs SIZE] [--max-wall DURATION] [--max-answer SIZE] [--max-conns N] [--token-file F] [--copy-in-root DIR | --trust-clients]\n\n"+
			"Serves POST /run (one batch job per request, groups included; 200 with its result line),\n"+
			"GET /healthz and GET /metrics (Prometheus) until SIGTERM or SIGINT, then drains: no new\n"+
			"runs, the runs in flight finish, the pool is destroyed. Logs are JSON lines on stderr, one\n"+
			"per run. Exit status: 0 after a clean drain; 2 invalid usage (an address that cannot be\n"+
			"listened on included); 3 the backend could not be opened or serving failed.\n\nflags:\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:5050", "address to listen on (loopback unless told; port 0 picks a free one, logged at start)")
	backend := fs.String("backend", "container", "sandbox: container (a pool of reused containers), oneshot, or slots where built")
	pool := fs.Int("pool", 1, "boxes in the pool (pooled backends)")
	parallel := fs.Int("parallel", 0, "jobs run at once (default: the pool size)")
	queue := fs.Int("queue", server.DefaultQueue, "requests that may wait for a run; one more gets 503 with Retry-After")
	maxBody := fs.Int64("max-body", server.DefaultMaxBody, "largest request body in bytes; more gets 413")
	maxOutput, maxTmpfs := server.DefaultCeiling.Output, server.DefaultCeiling.Tmpfs
	fs.Var(sizeFlag{&maxOutput}, "max-output", "largest limits.output a job may ask for (its streams and copied-out files are held in the server's memory); more gets 400")
	fs.Var(sizeFlag{&maxTmpfs}, "max-tmpfs", "largest limits.tmpfs a job may ask for; more gets 400")
	maxWall := fs.Duration("max-wall", server.DefaultCeiling.Wall, "largest limits.wall a job may ask for (a run holds its slot, and the drain, that long); more gets 400")
	maxAnswer := int64(server.DefaultMaxAnswer)
	fs.Var(sizeFlag{&maxAnswer}, "max-answer", "most a job could capture in all (streams, copied-out files, transcripts of all its programs); more gets 400")
	maxConns := fs.Int("max-conns", server.DefaultMaxConns, "connections served at once; more wait in the listen backlog")
	tokenFile := fs.String("token-file", "", "file holding a bearer token that every request but /healthz must carry")
	trustClients := fs.Bool("trust-clients", false, "let jobs name any host path in copy_in and binds, read with the server's rights (only when every client is the operator); without it and without --copy-in-root such jobs get 400")
	copyInRoot := fs.String("copy-in-root", "", "confine every job's copy_in host paths to this directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "gosandbox serve: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments %q", fs.Args())
	}
	if err := checkBackend(*backend); err != nil {
		return usageErr("%v", err)
	}
	if *pool < 1 || *parallel < 0 || *queue < 1 || *maxBody < 1 || *maxConns < 1 {
		return usageErr("--pool, --queue, --max-body and --max-conns must be at least 1 and --parallel not negative")
	}
	if maxOutput < sandbox.MinOutput || maxTmpfs < sandbox.MinTmpfs || *maxWall < sandbox.MinWall || maxAnswer < 2*maxOutput {
		return usageErr("--max-output must be at least %s, --max-tmpfs at least %s, --max-wall at least %v and --max-answer at least twice --max-output",
			sandbox.FormatSize(sandbox.MinOutput), sandbox.FormatSize(sandbox.MinTmpfs), sandbox.MinWall)
	}
	if *parallel == 0 {
		*parallel = *pool
	}
	if *trustClients && *copyInRoot != "" {
		return usageErr("--trust-clients and --copy-in-root: choose one")
	}
	if *copyInRoot != "" {
		if st, err := os.Stat(*copyInRoot); err != nil || !st.IsDir() {
			return usageErr("--copy-in-root %s: want a directory (%v)", *copyInRoot, err)
		}
	}
	var token string
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usageErr("--token-file: %v", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" || strings.ContainsAny(token, " \t\r\n") {
			return usageErr("--token-file %s: want one token on one line", *tokenFile)
		}
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usageErr("--listen %s: %v", *listen, err)
	}
	b, err := harness.Open(*backend, harness.Options{PoolSize: *pool})
	if err != nil {
		ln.Close()
		fmt.Fprintf(os.Stderr, "gosandbox serve: %v\n", err)
		return exitInternal
	}
	srv, err := server.New(server.Options{Runner: b, Backend: *backend, Parallel: *parallel, Queue: *queue,
		Token: token, CopyInRoot: *copyInRoot, TrustClients: *trustClients, MaxConns: *maxConns, MaxAnswer: maxAnswer, MaxBody: *maxBody,
		Ceiling: sandbox.Limits{Output: maxOutput, Tmpfs: maxTmpfs, Wall: *maxWall}, Logger: logger})
	if err != nil {
		ln.Close()
		b.Close()
		fmt.Fprintf(os.Stderr, "gosandbox serve: %v\n", err)
		return exitInternal
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("listening", "addr", ln.Addr().String(), "backend", *backend, "pool", *pool, "parallel", *parallel, "queue", *queue)
	serveErr := srv.Serve(ctx, ln)
	closeErr := b.Close()
	if err := errors.Join(serveErr, closeErr); err != nil {
		logger.Error("stopped", "error", err.Error())
		return exitInternal
	}
	logger.Info("stopped")
	return exitOK
}
