package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"gosandbox/bench/benchjson"
)

// PrintSummary writes the report as tables for a person: one per scenario
// (order statistics and the ratio to the floor), the claims beside what was
// measured, and every error.
func PrintSummary(w io.Writer, rep *benchjson.Report) {
	env := rep.Env
	if rep.Quick {
		fmt.Fprintln(w, "QUICK RUN: a smoke test with few samples; do not quote these figures.")
	}
	fmt.Fprintf(w, "kernel %s, cgroup %s, %d cores (%s), load %.2f -> %.2f, %s\n",
		strings.Fields(env.Kernel + " ?")[0], env.CgroupMode, env.Cores, env.CPUModel, env.LoadBefore[0], env.LoadAfter[0], env.GoVersion)
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(w, "\n== %s\n", sc.Name)
		if sc.Noisy {
			fmt.Fprintf(w, "NOISY: %s\n", sc.NoisyReason)
		}
		if len(sc.Series) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "backend\tprogram/variant\tparam\tn\tp50\tp90\tp99\tmin\tmax\tx floor\tnote\t")
			for _, s := range sc.Series {
				what := s.Program
				if s.Variant != "" && s.Variant != s.Backend {
					what = strings.TrimPrefix(what+" "+s.Variant, " ")
				}
				param := ""
				if s.Param != "" && s.Param != "layout" {
					param = fmt.Sprintf("%s=%g", s.Param, s.Value)
				}
				ratio := "-"
				if s.RatioToFloor != 0 {
					ratio = fmt.Sprintf("%.2f", s.RatioToFloor)
				}
				m := s.Summary
				note := ""
				if s.Noisy != "" {
					note = "noisy"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Backend, what, param, m.N,
					unitString(m.P50, s.Unit), unitString(m.P90, s.Unit), unitString(m.P99, s.Unit),
					unitString(m.Min, s.Unit), unitString(m.Max, s.Unit), ratio, note)
			}
			tw.Flush()
		}
		if noisy := noisySeries(sc); noisy > 0 {
			fmt.Fprintf(w, "noisy: %d series whose delta is within the host's own drift (bench.json: series noisy)\n", noisy)
		}
		for _, e := range sc.Errors {
			fmt.Fprintf(w, "! %s\n", e)
		}
	}
	fmt.Fprintln(w, "\n== claims of the seed design")
	for _, c := range rep.Claims {
		fmt.Fprintf(w, "- %s\n    seed:     %s\n    measured: %s\n    verdict:  %s", c.Claim, c.Seed, c.Measured, strings.ToUpper(c.Verdict))
		if c.Rule != "" {
			fmt.Fprintf(w, " (%s)", c.Rule)
		}
		fmt.Fprintln(w)
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintln(w, "\n== errors")
		for _, e := range rep.Errors {
			fmt.Fprintf(w, "! %s\n", e)
		}
	}
}

// unitString writes a figure in its unit, scaled for reading.
func unitString(v float64, unit string) string {
	switch unit {
	case "ns":
		return time.Duration(v).Round(time.Microsecond).String()
	case "bytes":
		switch {
		case v >= 1<<20 || v <= -(1<<20):
			return fmt.Sprintf("%.1fMiB", v/(1<<20))
		case v >= 1<<10 || v <= -(1<<10):
			return fmt.Sprintf("%.0fKiB", v/(1<<10))
		}
		return fmt.Sprintf("%.0fB", v)
	case "runs/s", "requests/s":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%g%s", v, unit)
}

// noisySeries counts the series of sc flagged noisy on their own.
func noisySeries(sc benchjson.Scenario) int {
	n := 0
	for _, s := range sc.Series {
		if s.Noisy != "" {
			n++
		}
	}
	return n
}
