package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gosandbox/bench"
	"gosandbox/harness"
)

func init() {
	commands["bench"] = command{
		summary: "measure the backends side by side; writes out/bench/bench.json",
		run:     runBench,
	}
}

func runBench(args []string) int {
	fs := flag.NewFlagSet("gosandbox bench", flag.ContinueOnError)
	var (
		backends    = fs.String("backends", "", "comma-separated backends to measure (default: all of "+strings.Join(harness.Names(), ", ")+"); none, the floor, is always added")
		scenarios   = fs.String("scenarios", "", "comma-separated scenarios (default: all of "+strings.Join(bench.ScenarioNames(), ", ")+")")
		quick       = fs.Bool("quick", false, "smoke run of about a minute with few samples, marked as such in the report")
		runs        = fs.Int("runs", 0, "measured startup rounds per backend and program (default 200, quick 15)")
		warmup      = fs.Int("warmup", 0, "startup warm-up rounds, thrown away (default 20, quick 3)")
		duration    = fs.Duration("duration", 0, "run startup rounds for this long instead of --runs")
		settle      = fs.Duration("settle", bench.DefaultSettle, "pause after each startup run, so that no backend's background work (a pooled reset, a slot's refills) lands in the next variant's run; 0 for none")
		rounds      = fs.Int("rounds", 0, "samples per series of throughput, serve, warmup, memory and disk (default 5, quick 1)")
		window      = fs.Duration("window", 0, "length of one throughput or serve sample (default 2s, quick 250ms)")
		serveReqs   = fs.Int("serve-requests", 0, "serve: most requests of one sample, which ends at the window or at this count (default 2000, quick 200)")
		concurrency = fs.String("concurrency", "", "throughput and serve worker counts (default 1,2,4)")
		poolSizes   = fs.String("pool-sizes", "", "warm-up pool sizes (default 1,4,16)")
		slots       = fs.String("slots", "", "memory slot counts (default 1,2,4,8,16; quick 1,4)")
		arrivalRuns = fs.Int("arrival-runs", 0, "arrivals: measured runs per backend and schedule (default 150 in trains of 10, quick 12 in trains of 4)")
		gaps        = fs.String("gaps", "", "arrivals: fixed gaps between scheduled starts, comma-separated durations (default 0,5ms,20ms,100ms)")
		rate        = fs.Float64("arrival-rate", 0, "arrivals: mean rate of the Poisson schedule, runs per second (default 20)")
		out         = fs.String("out", "out/bench", "directory for bench.json")
		quiet       = fs.Bool("quiet", false, "no progress output")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: gosandbox bench [flags]\n\nMeasures startup latency, latency of runs arriving on a schedule, throughput, gosandbox serve over HTTP,\npool warm-up, reset cost, "+
			"memory (PSS and kernel) and disk of each backend, "+
			"interleaved in one run, and sets the seed design's claims beside the figures. Exit status: 0 measured\n"+
			"(backends that could not open are recorded in the report), 2 invalid flags or names, 3 the report could not be written.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gosandbox bench: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	cfg := bench.Config{
		Backends: benchList(*backends), Scenarios: benchList(*scenarios), Quick: *quick,
		Runs: *runs, Warmup: *warmup, Duration: *duration, Settle: *settle, Rounds: *rounds, Window: *window, ServeRequests: *serveReqs,
		ArrivalRuns: *arrivalRuns, ArrivalRate: *rate,
	}
	for _, g := range benchList(*gaps) {
		d, err := time.ParseDuration(g)
		if g == "0" {
			d, err = 0, nil
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gosandbox bench: --gaps: %q is not a duration (e.g. 20ms)\n", g)
			return 2
		}
		cfg.Gaps = append(cfg.Gaps, d)
	}
	for _, l := range []struct {
		name string
		text string
		dst  *[]int
	}{{"concurrency", *concurrency, &cfg.Concurrency}, {"pool-sizes", *poolSizes, &cfg.PoolSizes}, {"slots", *slots, &cfg.Slots}} {
		for _, s := range benchList(l.text) {
			n, err := strconv.Atoi(s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "gosandbox bench: --%s: %q is not a whole number\n", l.name, s)
				return 2
			}
			*l.dst = append(*l.dst, n)
		}
	}
	if !*quiet {
		cfg.Progress, cfg.ProgressBar = os.Stderr, bench.IsTerminal(os.Stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "gosandbox bench: %s\n", line)
		}
		return 2
	}
	path, err := bench.WriteReport(*out, rep)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gosandbox bench: %v\n", err)
		return 3
	}
	bench.PrintSummary(os.Stdout, rep)
	fmt.Fprintf(os.Stderr, "gosandbox bench: wrote %s\n", path)
	return 0
}

// benchList splits a comma-separated flag value, dropping empty items.
func benchList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
