package vm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// PlanParam is the kernel command-line parameter that carries a GuestPlan to
// the guest's /init, as unpadded URL-safe base64 of its JSON (the command
// line has no quoting that survives spaces and '|' everywhere).
const PlanParam = "gosandbox.plan"

// Cgroup modes a guest can boot into.
const (
	CgroupV1 = "v1" // tmpfs at /sys/fs/cgroup, one v1 hierarchy per controller
	CgroupV2 = "v2" // cgroup2 at /sys/fs/cgroup
)

// GuestPlan tells the guest's /init what to set up and run.
type GuestPlan struct {
	Cgroup      string   `json:"cgroup"`       // CgroupV1 or CgroupV2
	Backends    []string `json:"backends"`     // suites run once per backend
	LabelFilter string   `json:"label_filter"` // Ginkgo label filter; "" runs every spec
	// SuiteTimeout bounds each suite run inside the guest (Go duration).
	SuiteTimeout string `json:"suite_timeout"`
	// BenchArgs are the arguments of `gosandbox bench`; nil skips the bench.
	BenchArgs []string `json:"bench_args,omitempty"`
	// HostCalibration is the host's calibration loop, which the guest's
	// own is measured against for the time scale (zero: no scaling).
	HostCalibration Calibration `json:"host_calibration"`
}

// Param renders the plan as one kernel command-line parameter.
func (p GuestPlan) Param() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("vm: encode guest plan: %w", err)
	}
	return PlanParam + "=" + base64.RawURLEncoding.EncodeToString(b), nil
}

// PlanFromCmdline finds and decodes the plan in a kernel command line.
func PlanFromCmdline(cmdline string) (GuestPlan, error) {
	var p GuestPlan
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, PlanParam+"=")
		if !ok {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return p, fmt.Errorf("vm: decode guest plan: %w", err)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return p, fmt.Errorf("vm: decode guest plan: %w", err)
		}
		return p, nil
	}
	return p, fmt.Errorf("vm: no %s= on the kernel command line", PlanParam)
}

// Where the initramfs puts the static binaries, and where results leave.
const (
	GuestSuite  = "/opt/matrix/suites.test" // the conformance suites (go test -c)
	GuestProbe  = "/opt/matrix/probe"       // prebuilt probe (see probes.PrebuiltEnv)
	GuestCLI    = "/opt/matrix/gosandbox"   // the CLI, for the bench
	ResultsPort = "/dev/ttyS1"              // second serial port: results only
	ConsolePort = "ttyS0"                   // first serial port: kernel and suite output
)
