package vm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gosandbox/internal/testhost"
)

// VagrantBootEnv turns TestVagrantBootsOneMachine on: `make test` sets it
// in its vagrant-boot step, after the conformance suites, so that the
// emulated guest never runs beside them.
const VagrantBootEnv = "GOSANDBOX_VAGRANT_BOOT"

// vagrantBootMachine and vagrantBootFilter keep the boot short: one machine
// of machines.txt in one cgroup mode, the suites on one backend with a few
// specs that touch every part of a box (pid namespace, mount tree, CPU and
// memory limits, seccomp, capabilities).
const (
	vagrantBootMachine = "debian12-6.12"
	vagrantBootMode    = "v2"
	vagrantBootFilter  = "P1 || F1 || R1 || R5 || S1 || C1"
)

// TestVagrantBootsOneMachine runs vagrant/run-matrix.sh for one machine,
// as `make vagrant-matrix` does for all of them (box built from Debian
// packages, libvirt with the qemu driver, provisioning, the suites inside,
// results copied back, the machine destroyed), and checks that the results
// came back and the specs passed in the guest. Boxes are cached in
// out/vagrant/boxes, shared with `make vagrant-matrix` (not to be run at
// the same time).
func TestVagrantBootsOneMachine(t *testing.T) {
	if os.Getenv(VagrantBootEnv) != "1" {
		t.Skipf("boots a VM for minutes: run by `make test` in its vagrant-boot step (%s=1)", VagrantBootEnv)
	}
	testhost.NeedRoot(t, "building a box needs a loop device and chroot; libvirt's system daemon")
	for _, tool := range []struct{ name, pkg string }{
		{"vagrant", "vagrant"}, {"virsh", "libvirt-clients"}, {"libvirtd", "libvirt-daemon-system"},
		{"virtlogd", "libvirt-daemon-system"}, {"dnsmasq", "dnsmasq-base"}, {"qemu-system-x86_64", "qemu-system-x86"},
		{"qemu-img", "qemu-utils"}, {"mmdebstrap", "mmdebstrap"}, {"sfdisk", "fdisk"},
		{"partx", "util-linux"}, {"mkfs.ext4", "e2fsprogs"}, {"ssh", "openssh-client"}, {"rsync", "rsync"},
	} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Skipf("%s is not installed (apt-get install %s): no Vagrant boot", tool.name, tool.pkg)
		}
	}
	if out, err := exec.Command("vagrant", "plugin", "list").CombinedOutput(); err != nil || !strings.Contains(string(out), "vagrant-libvirt") {
		t.Skip("the vagrant-libvirt plugin is not installed (apt-get install vagrant-libvirt): no Vagrant boot")
	}

	dir := vagrantDir(t)
	repo := filepath.Dir(dir)
	out := t.TempDir()
	logPath := filepath.Join(out, "run-matrix.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("sh", filepath.Join(dir, "run-matrix.sh"), out, vagrantBootMachine)
	cmd.Env = append(os.Environ(),
		"CGROUPS="+vagrantBootMode, "BACKENDS=oneshot", "NO_BENCH=1", "LABEL_FILTER="+vagrantBootFilter,
		"GOSANDBOX_VAGRANT_DIR="+filepath.Join(repo, "out", "vagrant"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	runErr := cmd.Run()
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		return strings.Join(lines[max(0, len(lines)-30):], "\n")
	}

	var summary struct {
		Columns []struct {
			Name      string `json:"name"`
			Booted    bool   `json:"booted"`
			Completed bool   `json:"completed"`
			Reason    string `json:"reason"`
		} `json:"columns"`
	}
	data, err := os.ReadFile(filepath.Join(out, "vagrant.json"))
	if err != nil {
		t.Fatalf("run-matrix.sh (%v) wrote no vagrant.json: %v\n%s", runErr, err, logTail())
	}
	if err := json.Unmarshal(data, &summary); err != nil {
		t.Fatalf("vagrant.json: %v\n%s", err, data)
	}
	column := "vagrant-" + vagrantBootMachine + "-" + vagrantBootMode
	var found bool
	for _, c := range summary.Columns {
		if c.Name != column {
			continue
		}
		found = true
		if !c.Booted && strings.HasPrefix(c.Reason, "skipped") {
			// The box could not be built (no Debian mirror reachable).
			t.Skipf("%s: %s", column, c.Reason)
		}
		if !c.Booted || !c.Completed {
			t.Fatalf("%s: booted %v, completed %v: %s\n%s", column, c.Booted, c.Completed, c.Reason, logTail())
		}
	}
	if !found {
		t.Fatalf("vagrant.json has no column %s:\n%s\n%s", column, data, logTail())
	}
	if runErr != nil {
		t.Errorf("run-matrix.sh: %v\n%s", runErr, logTail())
	}

	report, err := os.ReadFile(filepath.Join(out, column, "oneshot.json"))
	if err != nil {
		t.Fatalf("no conformance report came back from the guest: %v", err)
	}
	var suites []struct {
		SpecReports []struct {
			State        string `json:"State"`
			LeafNodeText string `json:"LeafNodeText"`
		} `json:"SpecReports"`
	}
	if err := json.Unmarshal(report, &suites); err != nil {
		t.Fatalf("%s/oneshot.json: %v", column, err)
	}
	passed := 0
	for _, s := range suites {
		for _, r := range s.SpecReports {
			switch r.State {
			case "passed":
				passed++
			case "failed", "panicked", "interrupted", "aborted", "timedout":
				t.Errorf("in the guest, %q %s", r.LeafNodeText, r.State)
			}
		}
	}
	if passed == 0 {
		t.Errorf("in the guest, no spec passed under --label-filter=%q", vagrantBootFilter)
	}
	facts, _ := os.ReadFile(filepath.Join(out, column, "vm", "facts.txt"))
	t.Logf("%d specs passed in %s; the guest's facts:\n%s", passed, column, facts)
	if b, err := os.ReadFile(filepath.Join(out, "vagrant-status.txt")); err == nil {
		t.Logf("timings:\n%s", b)
	}
}
