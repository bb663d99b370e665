package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

func TestGuestPlanRoundTrip(t *testing.T) {
	p := GuestPlan{Cgroup: CgroupV1, Backends: []string{"oneshot", "container"}, LabelFilter: "P1 || (F1 && !slow)", SuiteTimeout: "5m", BenchArgs: []string{"--quick"}}
	param, err := p.Param()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(param, " |\"'") {
		t.Errorf("parameter %q would not survive the kernel command line", param)
	}
	got, err := PlanFromCmdline("console=ttyS0 panic=-1 " + param + " quiet")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(p)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Errorf("plan came back as %s, want %s", b, a)
	}
	if _, err := PlanFromCmdline("console=ttyS0"); err == nil {
		t.Error("a command line without a plan was accepted")
	}
}

func TestDebFields(t *testing.T) {
	f := debFields([]byte("Package: linux-image-cloud-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)\nDescription: Linux for\n x86-64 cloud\n\nPackage: other\n"))
	if f["Version"] != "6.1.192-2" || !strings.HasPrefix(f["Depends"], "linux-image-6.1.0-56-cloud-amd64") {
		t.Errorf("fields = %v", f)
	}
	if m := imageDep().FindStringSubmatch(f["Depends"]); m == nil || m[1] != "linux-image-6.1.0-56-cloud-amd64" {
		t.Errorf("image dependency = %v", m)
	}
	if f["Package"] != "linux-image-cloud-amd64" {
		t.Errorf("the second stanza leaked in: %v", f)
	}
}

// TestCollect turns a guest transcript into a column directory laid out as
// the report loader expects.
func TestCollect(t *testing.T) {
	report := []types.Report{{SpecReports: types.SpecReports{
		{LeafNodeType: types.NodeTypeIt, LeafNodeText: "P1: own pid namespace", LeafNodeLabels: []string{"P1"}, State: types.SpecStatePassed},
		{LeafNodeType: types.NodeTypeIt, LeafNodeText: "R7: accurate peak", LeafNodeLabels: []string{"R7"}, State: types.SpecStateFailed,
			Failure: types.Failure{Message: "memory=237568 want >= 100 MiB\nmore"}},
		{LeafNodeType: types.NodeTypeIt, LeafNodeText: "R5", State: types.SpecStateSkipped},
		{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed},
	}}}
	rj, _ := json.Marshal(report)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rj)
	zw.Close()

	out := t.TempDir()
	dir := filepath.Join(out, "5.10-v2")
	os.MkdirAll(filepath.Join(dir, "vm"), 0o755)
	var tr bytes.Buffer
	w := FrameWriter{W: &tr}
	w.Fact("kernel", "5.10.0-46-cloud-amd64")
	w.Fact("boot_seconds", "9.5")
	w.Fact("cgroup_controllers", "cpu,memory,pids")
	w.Fact("cgroup_problem_0", "v1 controller memory: mount: invalid argument")
	w.Fact("suite_oneshot_exit", "1")
	w.Fact("suite_oneshot_seconds", "30.0")
	w.File("oneshot.json.gz", gz.Bytes())
	w.File("bench.json", []byte(`{"schema":1}`))
	w.File("proc-cgroups.txt", []byte("#subsys_name\n"))
	w.Done()
	os.WriteFile(filepath.Join(dir, "vm", "results.log"), tr.Bytes(), 0o644)

	col := collect(dir, Column{Name: "5.10-v2", Kernel: "5.10", Cgroup: CgroupV2}, nil)
	if !col.Booted || !col.Completed || col.Reason != "" {
		t.Errorf("booted=%v completed=%v reason=%q problems=%v", col.Booted, col.Completed, col.Reason, col.Problems)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "oneshot.json")); err != nil || !bytes.Equal(b, rj) {
		t.Errorf("oneshot.json not written gunzipped beside the column: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bench.json")); err != nil || !col.Bench {
		t.Errorf("bench.json: %v, col.Bench=%v", err, col.Bench)
	}
	if _, err := os.Stat(filepath.Join(dir, "vm", "proc-cgroups.txt")); err != nil {
		t.Errorf("notes belong under vm/, where the report loader does not look: %v", err)
	}
	s := col.Suites["oneshot"]
	if s.Passed != 1 || s.Failed != 1 || s.Skipped != 1 || s.Exit != "1" || len(s.Failures) != 1 || !strings.Contains(s.Failures[0], "[R7]") || strings.Contains(s.Failures[0], "more") {
		t.Errorf("suite summary = %+v", s)
	}
	if strings.Join(col.Controllers, ",") != "cpu,memory,pids" || len(col.CgroupProblems) != 1 {
		t.Errorf("controllers %v, problems %v", col.Controllers, col.CgroupProblems)
	}
	if _, err := os.Stat(filepath.Join(dir, "vm", "column.txt")); err != nil {
		t.Errorf("column note: %v", err)
	}

	// A VM that died before /init: the column says so and why.
	dead := filepath.Join(out, "9.9-v1")
	os.MkdirAll(filepath.Join(dead, "vm"), 0o755)
	os.WriteFile(filepath.Join(dead, "vm", "console.log"), []byte("Kernel panic - not syncing: VFS: Unable to mount root fs\n"), 0o644)
	col = collect(dead, Column{Name: "9.9-v1"}, nil)
	if col.Booted || col.Completed || !strings.Contains(col.Reason, "Kernel panic") {
		t.Errorf("dead VM: booted=%v completed=%v reason=%q", col.Booted, col.Completed, col.Reason)
	}
}

// TestFetchFailureIsReported points the private apt configuration at a
// closed local port: the fetch fails with ErrFetch, which the matrix turns
// into a column that says why, and the host's apt state is not touched.
func TestFetchFailureIsReported(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get is not installed: kernels are fetched from Debian's archive with it")
	}
	f := &Fetcher{CacheDir: t.TempDir(), Mirror: "http://127.0.0.1:9"}
	_, err := f.Fetch(context.Background(), Kernel{Name: "6.1", Dist: "bookworm", Package: "linux-image-cloud-amd64"})
	if !errors.Is(err, ErrFetch) {
		t.Fatalf("err = %v, want ErrFetch", err)
	}
	src, _ := os.ReadFile(filepath.Join(f.CacheDir, "apt", "bookworm", "etc", "sources.list"))
	if !strings.Contains(string(src), "127.0.0.1:9/debian bookworm main") || !strings.Contains(string(src), "bookworm-security") {
		t.Errorf("private sources.list = %q", src)
	}
}
