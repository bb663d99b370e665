package benchjson

import "time"

// SchemaVersion names the layout of bench.json; bump it when a field changes
// meaning.
const SchemaVersion = "gosandbox-bench/1"

// Arrival schedules: the Variant of an arrivals series.
const (
	ScheduleFixed   = "fixed"
	SchedulePoisson = "poisson"
)

// ParamGap is the Param of an arrivals series: the gap between scheduled
// starts in milliseconds (the mean gap for the Poisson schedule).
const ParamGap = "gap_ms"

// Serve series: the Variant of a serve series.
const (
	VariantRequestRate = "requests-per-second" // one sample per window, unit requests/s
	VariantLatency     = "latency"             // every request, client side, unit ns
)

// Report is the whole of out/bench/bench.json.
type Report struct {
	Schema    string      `json:"schema"`
	Quick     bool        `json:"quick"` // a smoke run: too few samples to quote
	Started   time.Time   `json:"started"`
	Finished  time.Time   `json:"finished"`
	Env       Environment `json:"environment"`
	Scenarios []Scenario  `json:"scenarios"`
	Claims    []Claim     `json:"claims"`
	Errors    []string    `json:"errors,omitempty"` // backends or scenarios that could not run, with the reason
}

// Environment is the machine the figures came from.
type Environment struct {
	Kernel     string            `json:"kernel"`
	CgroupMode string            `json:"cgroup_mode"` // "v1", "v2", "hybrid", "none"
	CPUModel   string            `json:"cpu_model"`
	Cores      int               `json:"cores"`
	LoadBefore [3]float64        `json:"load_before"`
	LoadAfter  [3]float64        `json:"load_after"`
	GoVersion  string            `json:"go_version"`
	Versions   map[string]string `json:"versions"` // peer tools and gosandbox itself
}

// Scenario is one measured question (startup latency, throughput, ...).
type Scenario struct {
	Name        string   `json:"name"` // startup, throughput, warmup, reset, memory, disk
	Description string   `json:"description"`
	Series      []Series `json:"series"`
	Noisy       bool     `json:"noisy"`
	NoisyReason string   `json:"noisy_reason,omitempty"`
	Errors      []string `json:"errors,omitempty"`
}

// Series is the samples of one variant of a scenario: a backend running a
// program at one parameter value (concurrency, pool size, slot count).
type Series struct {
	Backend string  `json:"backend"`
	Program string  `json:"program,omitempty"`
	Param   string  `json:"param,omitempty"` // e.g. "concurrency", "slots", "layout"
	Value   float64 `json:"value,omitempty"` // the parameter's value
	// Variant names what was measured when a number does not say it: the
	// memory state ("idle-total", "busy-per-slot", ...) or the disk layout
	// ("shared-binds", "rootfs-copy", "overlay-upper"). Empty otherwise.
	Variant string    `json:"variant,omitempty"`
	Unit    string    `json:"unit"` // "ns", "runs/s", "bytes"
	Samples []float64 `json:"samples"`
	Summary Summary   `json:"summary"`
	// RatioToFloor is this series' p50 over the floor's (backend none) p50 in
	// the same scenario and run; 0 when there is no floor.
	RatioToFloor float64 `json:"ratio_to_floor,omitempty"`
	// Noisy says why this series alone is not to be trusted (the host's
	// own drift of a kernel counter larger than the delta measured); empty
	// when nothing is known against it.
	Noisy string `json:"noisy,omitempty"`
}

// Summary is the order statistics of a series.
type Summary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Claim sets one of the seed design's claims beside what this run measured.
type Claim struct {
	Claim    string `json:"claim"`    // "pooled start ~10 ms vs one-shot ~300 ms"
	Seed     string `json:"seed"`     // the claimed figure
	Measured string `json:"measured"` // what this run measured, in words and figures
	Verdict  string `json:"verdict"`  // "holds", "does not hold", "not measured"
	// Ratio is the measured figure the verdict rests on (one-shot p50 over
	// pooled p50; pooled over one-shot memory; pooled over rootfs-copy disk,
	// which may be 0); 0 when not measured.
	Ratio float64 `json:"ratio"`
	// Rule says how the verdict was decided from Ratio.
	Rule string `json:"rule,omitempty"`
}
