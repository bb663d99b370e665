package reports

import "time"

// The types below mirror the JSON layout of out/bench/bench.json as defined
// by bench.Report (bench/schema.go), field for field and tag for tag. The
// report decodes into its own copy so that it builds and reads results
// whatever state the bench code is in, and so that it never depends on the
// backends the bench package links. `go test -tags schemadrift ./reports/`
// checks that no field of bench.Report is missing here.

// benchSchemaVersion is the bench.json layout these types read.
const benchSchemaVersion = "gosandbox-bench/1"

// BenchReport is the whole of a bench.json.
type BenchReport struct {
	Schema    string           `json:"schema"`
	Quick     bool             `json:"quick"`
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Env       BenchEnvironment `json:"environment"`
	Scenarios []BenchScenario  `json:"scenarios"`
	Claims    []BenchClaim     `json:"claims"`
	Errors    []string         `json:"errors,omitempty"`
}

// BenchEnvironment is the machine the figures came from.
type BenchEnvironment struct {
	Kernel     string            `json:"kernel"`
	CgroupMode string            `json:"cgroup_mode"`
	CPUModel   string            `json:"cpu_model"`
	Cores      int               `json:"cores"`
	LoadBefore [3]float64        `json:"load_before"`
	LoadAfter  [3]float64        `json:"load_after"`
	GoVersion  string            `json:"go_version"`
	Versions   map[string]string `json:"versions"`
}

// BenchScenario is one measured question (startup, throughput, ...).
type BenchScenario struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Series      []BenchSeries `json:"series"`
	Noisy       bool          `json:"noisy"`
	NoisyReason string        `json:"noisy_reason,omitempty"`
	Errors      []string      `json:"errors,omitempty"`
}

// BenchSeries is the samples of one variant of a scenario.
type BenchSeries struct {
	Backend      string       `json:"backend"`
	Program      string       `json:"program,omitempty"`
	Param        string       `json:"param,omitempty"`
	Value        float64      `json:"value,omitempty"`
	Variant      string       `json:"variant,omitempty"`
	Unit         string       `json:"unit"`
	Samples      []float64    `json:"samples"`
	Summary      BenchSummary `json:"summary"`
	RatioToFloor float64      `json:"ratio_to_floor,omitempty"`
	Noisy        string       `json:"noisy,omitempty"`
}

// BenchSummary is the order statistics of a series.
type BenchSummary struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// BenchClaim sets one of the seed design's claims beside what was measured.
type BenchClaim struct {
	Claim    string  `json:"claim"`
	Seed     string  `json:"seed"`
	Measured string  `json:"measured"`
	Verdict  string  `json:"verdict"`
	Ratio    float64 `json:"ratio"`
	Rule     string  `json:"rule,omitempty"`
}
