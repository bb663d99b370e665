package vm

import (
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
		cmd.Env = append(os.Environ(), "VAGRANT_DEFAULT_PROVIDER=libvirt", "VAGRANT_HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("vagrant validate (libvirt): %v\n%s", err, out)
		}
	} else {
		t.Log("vagrant-libvirt plugin absent: validating without provider configuration")
	}
	cmd := exec.Command(v, "validate", "--ignore-provider")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VAGRANT_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vagrant validate --ignore-provider: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "validated successfully") {
		t.Errorf("vagrant validate said:\n%s", out)
	}
}

// TestVagrantScriptsParse checks the provisioning scripts with sh -n: they
// must run under any POSIX shell, with no Vagrant around.
func TestVagrantScriptsParse(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	scripts, _ := filepath.Glob(filepath.Join(vagrantDir(t), "provision", "*.sh"))
	scripts = append(scripts, filepath.Join(vagrantDir(t), "run-matrix.sh"))
	if len(scripts) < 4 {
		t.Fatalf("found only %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
		if strings.HasSuffix(s, "run-matrix.sh") {
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
