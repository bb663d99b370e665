package bench

import (
	"fmt"
	"time"

	"gosandbox/bench/benchjson"
)

// Verdicts of a benchjson.Claim.
const (
	VerdictHolds       = "holds"
	VerdictDoesNotHold = "does not hold"
	VerdictNotMeasured = "not measured"
)

// findSeries returns the series of scenario name matching backend, program,
// variant and value (value < 0: any), or nil.
func findSeries(rep *benchjson.Report, name, backend, program, variant string, value float64) *benchjson.Series {
	for i := range rep.Scenarios {
		sc := &rep.Scenarios[i]
		if sc.Name != name {
			continue
		}
		for j := range sc.Series {
			s := &sc.Series[j]
			if s.Backend == backend && s.Program == program && s.Variant == variant && (value < 0 || s.Value == value) {
				return s
			}
		}
	}
	return nil
}

// claims sets the seed design's three claims beside this run's figures. A
// verdict rests on a ratio of two series measured side by side, never on an
// absolute time: the seed's machine is not this one.
func claims(rep *benchjson.Report) []benchjson.Claim {
	return []benchjson.Claim{startupClaim(rep), memoryClaim(rep), totalMemoryClaim(rep), diskClaim(rep)}
}

func startupClaim(rep *benchjson.Report) benchjson.Claim {
	c := benchjson.Claim{
		Claim: "pooled start ~10 ms vs one-shot ~300 ms",
		Seed:  "one-shot ~300 ms, pooled ~10 ms per start: pooled ~30x faster",
		Rule:  "holds when one-shot p50 / pooled p50 of /bin/true is at least 15 (half the seed's ~30x); absolute times depend on the machine",
	}
	one := findSeries(rep, ScenarioStartup, "oneshot", programTrue.name, "", -1)
	pool := findSeries(rep, ScenarioStartup, "container", programTrue.name, "", -1)
	if one == nil || pool == nil || pool.Summary.P50 == 0 {
		c.Verdict, c.Measured = VerdictNotMeasured, "needs startup series of both oneshot and container for /bin/true"
		return c
	}
	c.Ratio = one.Summary.P50 / pool.Summary.P50
	c.Measured = fmt.Sprintf("/bin/true p50: one-shot %s, pooled %s: one-shot/pooled = %.1fx", ms(one.Summary.P50), ms(pool.Summary.P50), c.Ratio)
	if floor := findSeries(rep, ScenarioStartup, FloorBackend, programTrue.name, "", -1); floor != nil {
		c.Measured += fmt.Sprintf(" (floor fork+exec %s: one-shot %.1fx, pooled %.1fx of it)", ms(floor.Summary.P50), one.RatioToFloor, pool.RatioToFloor)
	}
	c.Verdict = verdict(c.Ratio >= 15)
	return c
}

func memoryClaim(rep *benchjson.Report) benchjson.Claim {
	c := benchjson.Claim{
		Claim: "pooled memory 40-60% lower",
		Seed:  "pooled containers use 40-60% less memory than one-shot runs (shared pages)",
		Rule:  "holds when pooled busy PSS per slot / one-shot PSS per run (1 slot, p50) is at most 0.6 (at least 40% lower)",
	}
	one := findSeries(rep, ScenarioMemory, "oneshot", "", "busy-per-slot", 1)
	pool := findSeries(rep, ScenarioMemory, "container", "", "busy-per-slot", 1)
	if one == nil || pool == nil || one.Summary.P50 == 0 {
		c.Verdict, c.Measured = VerdictNotMeasured, "needs memory series (busy-per-slot, slots=1) of both oneshot and container"
		return c
	}
	c.Ratio = pool.Summary.P50 / one.Summary.P50
	c.Measured = fmt.Sprintf("PSS during a run: one-shot %s per run, pooled %s per slot: pooled/one-shot = %.2f (%s)",
		mib(one.Summary.P50), mib(pool.Summary.P50), c.Ratio, change(c.Ratio))
	if idle := findSeries(rep, ScenarioMemory, "container", "", "idle-per-slot", 1); idle != nil {
		c.Measured += fmt.Sprintf("; pooled keeps %s per idle slot, one-shot nothing", mib(idle.Summary.P50))
	}
	c.Measured += "; PSS counts processes only: a supervisor inside the calling process (as one-shot's) and kernel memory " +
		"(page tables, namespaces, mount trees, cgroups) are not in it: see the total-memory row"
	c.Verdict = verdict(c.Ratio <= 0.6)
	return c
}

// totalMemoryClaim judges the memory claim on what the machine pays: PSS
// plus the kernel memory (unreclaimable slab, kernel stacks, page tables)
// that appeared with the boxes.
func totalMemoryClaim(rep *benchjson.Report) benchjson.Claim {
	c := benchjson.Claim{
		Claim: "pooled memory 40-60% lower (total: PSS + kernel)",
		Seed:  "pooled containers use 40-60% less memory than one-shot runs (shared pages)",
		Rule: "holds when pooled total-busy-per-slot / one-shot total-busy-per-slot (p50 at the largest slot count both have: " +
			"the kernel counters are host-wide, and N boxes lift their delta above the host's drift; PSS plus the /proc/meminfo " +
			"delta of SUnreclaim + KernelStack + PageTables) is at most 0.6",
	}
	n := -1.0
	for i := range rep.Scenarios {
		if rep.Scenarios[i].Name != ScenarioMemory {
			continue
		}
		for _, s := range rep.Scenarios[i].Series {
			if s.Backend == "container" && s.Variant == "total-busy-per-slot" && s.Value > n &&
				findSeries(rep, ScenarioMemory, "oneshot", "", "total-busy-per-slot", s.Value) != nil {
				n = s.Value
			}
		}
	}
	one := findSeries(rep, ScenarioMemory, "oneshot", "", "total-busy-per-slot", n)
	pool := findSeries(rep, ScenarioMemory, "container", "", "total-busy-per-slot", n)
	if n < 0 || one == nil || pool == nil || one.Summary.P50 <= 0 {
		c.Verdict, c.Measured = VerdictNotMeasured, "needs memory series total-busy-per-slot of both oneshot and container at one slot count"
		return c
	}
	c.Ratio = pool.Summary.P50 / one.Summary.P50
	c.Measured = fmt.Sprintf("PSS + kernel with %g boxes in flight: one-shot %s per run, pooled %s per slot: pooled/one-shot = %.2f (%s)",
		n, mib(one.Summary.P50), mib(pool.Summary.P50), c.Ratio, change(c.Ratio))
	if po, pp := findSeries(rep, ScenarioMemory, "oneshot", "", "busy-per-slot", n), findSeries(rep, ScenarioMemory, "container", "", "busy-per-slot", n); po != nil && pp != nil && po.Summary.P50 > 0 {
		c.Measured += fmt.Sprintf("; PSS alone at %g: %.2f", n, pp.Summary.P50/po.Summary.P50)
	}
	for _, b := range []string{"oneshot", "container"} {
		if k := findSeries(rep, ScenarioMemory, b, "", "kernel-busy-per-slot", n); k != nil {
			c.Measured += fmt.Sprintf("; %s kernel part %s per box", b, mib(k.Summary.P50))
			if k.Noisy != "" {
				c.Measured += " (noisy: " + k.Noisy + ")"
			}
		}
	}
	if k := findSeries(rep, ScenarioMemory, "container", "", "kernel-idle-per-slot", n); k != nil {
		c.Measured += fmt.Sprintf("; kernel per idle pooled slot %s", mib(k.Summary.P50))
	}
	c.Verdict = verdict(c.Ratio <= 0.6)
	return c
}

func diskClaim(rep *benchjson.Report) benchjson.Claim {
	c := benchjson.Claim{
		Claim: "disk 70-80% lower",
		Seed:  "pooled containers use 70-80% less disk (shared filesystem) than a per-run environment",
		Rule:  "holds when pooled shared-binds bytes / per-run rootfs-copy bytes (p50) is at most 0.3 (at least 70% lower)",
	}
	pool := findSeries(rep, ScenarioDisk, "container", "", layoutSharedBinds, -1)
	cp := findSeries(rep, ScenarioDisk, layoutRootfsCopy, "/usr/bin/true", layoutRootfsCopy, -1)
	if pool == nil || cp == nil || cp.Summary.P50 == 0 {
		c.Verdict, c.Measured = VerdictNotMeasured, "needs disk series shared-binds of container and rootfs-copy"
		return c
	}
	c.Ratio = pool.Summary.P50 / cp.Summary.P50
	c.Measured = fmt.Sprintf("bytes on disk per sandbox: pooled (shared read-only binds + tmpfs) %s, per-run rootfs copy %s: ratio %.3f (%s)",
		kib(pool.Summary.P50), kib(cp.Summary.P50), c.Ratio, change(c.Ratio))
	if one := findSeries(rep, ScenarioDisk, "oneshot", "", layoutSharedBinds, -1); one != nil {
		c.Measured += fmt.Sprintf("; one-shot (same layout) %s", kib(one.Summary.P50))
	}
	if ov := findSeries(rep, ScenarioDisk, layoutOverlayUpper, "/usr/bin/true", layoutOverlayUpper, -1); ov != nil {
		c.Measured += fmt.Sprintf("; overlay upper %s", kib(ov.Summary.P50))
	}
	c.Verdict = verdict(c.Ratio <= 0.3)
	return c
}

// change says a ratio new/old in words: "55% lower" or "3.2x higher".
func change(ratio float64) string {
	if ratio <= 1 {
		return fmt.Sprintf("%.0f%% lower", 100*(1-ratio))
	}
	return fmt.Sprintf("%.1fx higher", ratio)
}

func verdict(holds bool) string {
	if holds {
		return VerdictHolds
	}
	return VerdictDoesNotHold
}

func ms(ns float64) string {
	return time.Duration(ns).Round(time.Microsecond).String()
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.0f KiB", b/(1<<10)) }
