package vm

import (
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"gosandbox/harness/probes"
)

// Binaries are the static programs an initramfs is made of.
type Binaries struct {
	Init   string // guestinit
	Suites string // the conformance suites, a test binary
	Probe  string // the probe program
	CLI    string // gosandbox, for the bench
}

// BuildBinaries compiles the guest's programs, static (CGO_ENABLED=0), into
// dir. repo is the module root.
func BuildBinaries(ctx context.Context, repo, dir string) (Binaries, error) {
	b := Binaries{
		Init:   filepath.Join(dir, "init"),
		Suites: filepath.Join(dir, "suites.test"),
		CLI:    filepath.Join(dir, "gosandbox"),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b, fmt.Errorf("vm: build dir: %w", err)
	}
	steps := [][]string{
		{"build", "-trimpath", "-o", b.Init, "./harness/vm/guestinit"},
		{"test", "-c", "-o", b.Suites, "./suites"},
		{"build", "-trimpath", "-o", b.CLI, "./cmd/gosandbox"},
	}
	for _, args := range steps {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("vm: go %s: %v\n%s", args[len(args)-1], err, out)
		}
	}
	probe, err := probes.Build(dir)
	if err != nil {
		return b, fmt.Errorf("vm: %w", err)
	}
	b.Probe = probe
	return b, nil
}

// WriteInitramfs writes a gzipped newc archive holding the binaries at
// their guest paths, /init, a merged /usr whose bin has true, false and cat
// (the init binary under those names), and the empty directories the init mounts
// on.
func WriteInitramfs(path string, b Binaries) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	w := NewCpioWriter(zw)
	dirs := []string{"dev", "proc", "sys", "tmp", "run", "root", "var", "var/tmp", "w", "etc", "opt", "opt/matrix", "usr", "usr/bin", "usr/sbin", "usr/lib", "newroot"}
	for _, d := range dirs {
		perm := fs.FileMode(0o755)
		if d == "tmp" || d == "var/tmp" {
			perm = 0o1777
		}
		if err := w.Dir(d, perm); err != nil {
			return err
		}
	}
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"}, {"lib64", "usr/lib"}} {
		if err := w.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	files := []struct {
		src, dst string
	}{
		{b.Init, "init"},
		{b.Init, "usr/bin/true"},
		{b.Init, "usr/bin/false"},
		{b.Init, "usr/bin/cat"},
		{b.Suites, GuestSuite},
		{b.Probe, GuestProbe},
		{b.CLI, GuestCLI},
	}
	for _, fl := range files {
		data, err := os.ReadFile(fl.src)
		if err != nil {
			return fmt.Errorf("vm: initramfs: %w", err)
		}
		if err := w.File(fl.dst, 0o755, data); err != nil {
			return err
		}
	}
	etc := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\nnogroup:x:65534:\n",
		"etc/hostname": "gosandbox-vm\n",
		"etc/hosts":    "127.0.0.1\tlocalhost\n",
	}
	for _, name := range []string{"etc/passwd", "etc/group", "etc/hostname", "etc/hosts"} {
		if err := w.File(name, 0o644, []byte(etc[name])); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("vm: initramfs: %w", err)
	}
	return f.Close()
}
