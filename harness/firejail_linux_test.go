package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gosandbox/sandbox"
	"gosandbox/sandbox/hostid"
)

func openFirejailForTest(t *testing.T) Backend {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the harness starts firejail as a leased box uid")
	}
	if _, err := exec.LookPath("firejail"); err != nil {
		t.Skip("firejail is not installed (apt-get install firejail)")
	}
	b, err := Open("firejail", Options{})
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("firejail cannot run here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestFirejailBackend(t *testing.T) {
	b := openFirejailForTest(t)
	if f := b.Features(); !f.Isolated || !f.Seccomp || f.Reuses || f.Cgroups || f.Unsupported["Limits.Memory"] == "" {
		t.Errorf("features %+v", f)
	}
	res, err := b.Run(context.Background(), sandbox.Spec{
		Args:    []string{"/bin/sh", "-c", "test \"$(pwd)\" = /w && echo hi > /w/out && exit 5"},
		CopyOut: []string{"out"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != "firejail" || res.Status != sandbox.StatusNonzeroExit || res.ExitCode != 5 || res.Wall() <= 0 {
		t.Errorf("result %+v", res)
	}
	if got := string(res.Files["out"]); got != "hi\n" {
		t.Errorf("copy-out out = %q (errors %v)", got, res.FileErrors)
	}
	res, err = b.Run(context.Background(), sandbox.Spec{Args: []string{"/bin/sh", "-c", "kill -TERM $$"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.StatusSignalled || res.Signal != "SIGTERM" {
		t.Errorf("signalled run: %+v", res)
	}
	if _, err := b.Run(context.Background(), sandbox.Spec{}); !errors.Is(err, sandbox.ErrInvalidSpec) {
		t.Errorf("empty spec: %v, want ErrInvalidSpec", err)
	}
}

// Started by root, firejail ignores --noroot and runs the program as host
// uid 0; the backend starts it as the run's leased uid, as its users do, and
// the program then runs unprivileged: a leased host uid, no capabilities,
// no_new_privs, firejail's seccomp filter, and --noroot's user namespace
// (which maps that uid alone).
func TestFirejailRunsTheProgramUnprivileged(t *testing.T) {
	b := openFirejailForTest(t)
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := b.Run(context.Background(), sandbox.Spec{
		Args: []string{"/bin/sh", "-c",
			`echo "uid $(id -u) $(id -g) $(id -G)"; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; ` +
				`echo "map $(cat /proc/self/uid_map)"; echo "userns $(readlink /proc/self/ns/user)"`},
		Stdout: f,
	})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	text := string(data)
	if res.Status != sandbox.StatusOK {
		t.Fatalf("result %+v\n%s", res, text)
	}
	facts := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			facts[strings.TrimSuffix(f[0], ":")] = strings.Join(f[1:], " ")
		}
	}
	ids := strings.Fields(facts["uid"])
	if len(ids) != 3 {
		t.Fatalf("id output %q\n%s", facts["uid"], text)
	}
	uid, _ := strconv.Atoi(ids[0])
	if uid < hostid.Base || uid >= hostid.Base+hostid.Count || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("the program runs as uid/gid/groups %v, want one leased box id (no supplementary groups)\n%s", ids, text)
	}
	for _, c := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if facts[c] != "0000000000000000" {
			t.Errorf("%s = %q, want none\n%s", c, facts[c], text)
		}
	}
	if facts["NoNewPrivs"] != "1" || facts["Seccomp"] != "2" {
		t.Errorf("NoNewPrivs %q Seccomp %q, want 1 and 2 (filter)\n%s", facts["NoNewPrivs"], facts["Seccomp"], text)
	}
	if want := fmt.Sprintf("%d %d 1", uid, uid); facts["map"] != want {
		t.Errorf("uid_map %q, want %q: --noroot's user namespace is missing\n%s", facts["map"], want, text)
	}
	host, _ := os.Readlink("/proc/self/ns/user")
	if facts["userns"] == host {
		t.Errorf("the program shares the host's user namespace %s", host)
	}
}

// Declared binds appear at their targets, read-only unless writable, even
// where the target's directory must be made: it is made in the run's staged
// root, never on the host.
func TestFirejailStagesBindsWithoutTouchingTheHost(t *testing.T) {
	b := openFirejailForTest(t)
	src := t.TempDir()
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "in"), []byte("input\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("gosandbox-firejail-test-%d", os.Getpid())
	targets := []string{"/" + name, "/opt/" + name + "/deep"}
	created := []string{"/" + name, "/opt/" + name}
	for _, p := range created {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists on the host before the run", p)
		}
	}
	var script strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&script, `test "$(cat %s/in)" = input || exit 10; touch %s/new 2>/dev/null && exit 11; `, tg, tg)
	}
	res, err := b.Run(context.Background(), sandbox.Spec{
		Args:  []string{"/bin/sh", "-c", script.String() + "exit 0"},
		Binds: []sandbox.Bind{{Source: src, Target: targets[0]}, {Source: src, Target: targets[1]}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sandbox.StatusOK {
		t.Errorf("binds: %+v (10: a bind is missing, 11: a read-only bind is writable)", res)
	}
	for _, p := range created {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s was created on the host", p)
			os.RemoveAll(p)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "new")); err == nil {
		t.Errorf("a read-only bind was written through")
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), firejailStage) || strings.Contains(string(mounts), name) {
		t.Errorf("a staging mount is left in the host's namespace:\n%s", mounts)
	}
}
