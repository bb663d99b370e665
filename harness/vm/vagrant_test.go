package vm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func vagrantDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(file))), "vagrant")
}

// TestVagrantfileValidates runs `vagrant validate` on vagrant/Vagrantfile:
// with the libvirt provider's configuration where the vagrant-libvirt
// plugin is installed, and without provider configuration otherwise (no VM
// is booted either way).
func TestVagrantfileValidates(t *testing.T) {
	v, err := exec.LookPath("vagrant")
	if err != nil {
		t.Skip("vagrant is not installed (Debian: apt-get install vagrant, and vagrant-libvirt for the libvirt provider)")
	}
	dir := vagrantDir(t)
	home := t.TempDir() // keep Vagrant's state out of the user's ~/.vagrant.d
	if plugins, err := exec.Command(v, "plugin", "list").CombinedOutput(); err == nil && strings.Contains(string(plugins), "vagrant-libvirt") {
		cmd := exec.Command(v, "validate")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "VAGRANT_DEFAULT_PROVIDER=libvirt", "VAGRANT_HOME="+home, "VAGRANT_DOTFILE_PATH="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("vagrant validate (libvirt): %v\n%s", err, out)
		}
	} else {
		t.Log("vagrant-libvirt plugin absent: validating without provider configuration")
	}
	cmd := exec.Command(v, "validate", "--ignore-provider")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VAGRANT_HOME="+home, "VAGRANT_DOTFILE_PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vagrant validate --ignore-provider: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "validated successfully") {
		t.Errorf("vagrant validate said:\n%s", out)
	}
}

// vagrantScripts lists every shell script under vagrant/.
func vagrantScripts(t *testing.T) []string {
	t.Helper()
	var scripts []string
	for _, pattern := range []string{"*.sh", "provision/*.sh", "boxes/*.sh"} {
		m, err := filepath.Glob(filepath.Join(vagrantDir(t), pattern))
		if err != nil {
			t.Fatal(err)
		}
		scripts = append(scripts, m...)
	}
	if len(scripts) < 6 {
		t.Fatalf("found only %v", scripts)
	}
	return scripts
}

// TestVagrantScriptsParse checks every script with sh -n, and with
// shellcheck (POSIX sh, warnings and errors) where it is installed: they
// must run under any POSIX shell. The provisioning scripts must also run
// with no Vagrant around.
func TestVagrantScriptsParse(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck is not installed (apt-get install shellcheck): checking with sh -n only")
	}
	for _, s := range vagrantScripts(t) {
		if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
		if shellcheck != "" {
			if out, err := exec.Command(shellcheck, "-s", "sh", "-S", "warning", s).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s: %v\n%s", s, err, out)
			}
		}
		if filepath.Base(filepath.Dir(s)) != "provision" {
			continue
		}
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range []string{"vagrant ", "limactl", "VAGRANT_"} {
			if strings.Contains(string(b), tool) {
				t.Errorf("%s uses %q: provisioning scripts must depend on neither Vagrant nor Lima", s, tool)
			}
		}
	}
}

// TestVagrantMachinesMatchList checks that the Vagrantfile defines exactly
// the machines of machines.txt, which run-matrix.sh reads too.
func TestVagrantMachinesMatchList(t *testing.T) {
	v, err := exec.LookPath("vagrant")
	if err != nil {
		t.Skip("vagrant is not installed (Debian: apt-get install vagrant)")
	}
	dir := vagrantDir(t)
	list, err := os.ReadFile(filepath.Join(dir, "machines.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(string(list), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			t.Errorf("machines.txt: %q: want name, box, cgroup modes", line)
			continue
		}
		for _, mode := range strings.Split(f[2], ",") {
			if mode != "v1" && mode != "v2" {
				t.Errorf("machines.txt: %s: cgroup mode %q (v1, v2)", f[0], mode)
			}
		}
		want = append(want, f[0])
	}
	cmd := exec.Command(v, "status", "--machine-readable")
	cmd.Dir = dir
	// A private home and state directory: nothing of the user's is read or
	// left, and no machine of an earlier run is asked about.
	cmd.Env = append(os.Environ(), "VAGRANT_HOME="+t.TempDir(), "VAGRANT_DOTFILE_PATH="+t.TempDir(), "VAGRANT_DEFAULT_PROVIDER=libvirt")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vagrant status: %v\n%s", err, out)
	}
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ","); len(f) > 3 && f[2] == "state" {
			got = append(got, f[1])
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Vagrantfile machines %q, machines.txt %q", got, want)
	}
}

// TestRunMatrixBadInput checks that run-matrix.sh refuses a machine that is
// not in machines.txt before it starts anything, and build-box.sh a box it
// cannot build.
func TestRunMatrixBadInput(t *testing.T) {
	dir := vagrantDir(t)
	state := t.TempDir()
	cmd := exec.Command("sh", filepath.Join(dir, "run-matrix.sh"), filepath.Join(state, "out"), "no-such-machine")
	cmd.Env = append(os.Environ(), "GOSANDBOX_VAGRANT_DIR="+state, "VAGRANT_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	want := "no machine no-such-machine in machines.txt"
	if _, lookErr := exec.LookPath("vagrant"); lookErr != nil {
		want = "vagrant is not installed"
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), want) {
		t.Errorf("run-matrix.sh no-such-machine: %v, want exit 2 saying %q:\n%s", err, want, out)
	}
	if _, err := os.Stat(filepath.Join(state, "run")); err == nil {
		t.Error("run-matrix.sh made daemon state (run/) before checking its machines")
	}

	cmd = exec.Command("sh", filepath.Join(dir, "boxes", "build-box.sh"), "debian99-9.9", t.TempDir())
	out, err = cmd.CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "unknown box debian99-9.9") {
		t.Errorf("build-box.sh debian99-9.9: %v, want exit 2 naming the box:\n%s", err, out)
	}
}
