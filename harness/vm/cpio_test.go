package vm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewCpioWriter(&buf)
	steps := []error{
		w.Dir("usr", 0o755),
		w.Dir("/usr/bin", 0o755),
		w.File("usr/bin/true", 0o755, []byte("\x7fELF not really")),
		w.File("empty", 0o644, nil),
		w.File("odd-sized.txt", fs.ModeSetuid|0o755, []byte("abc")),
		w.Symlink("bin", "usr/bin"),
		w.Dir("tmp", 0o1777),
		w.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return buf.Bytes()
}

func TestCpioRoundTrip(t *testing.T) {
	data := writeSample(t)
	if len(data)%4 != 0 {
		t.Errorf("archive length %d is not a multiple of 4", len(data))
	}
	entries, err := ReadCpio(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []CpioEntry{
		{Name: "usr", Mode: fs.ModeDir | 0o755},
		{Name: "usr/bin", Mode: fs.ModeDir | 0o755},
		{Name: "usr/bin/true", Mode: 0o755, Data: []byte("\x7fELF not really")},
		{Name: "empty", Mode: 0o644, Data: []byte{}},
		{Name: "odd-sized.txt", Mode: fs.ModeSetuid | 0o755, Data: []byte("abc")},
		{Name: "bin", Mode: fs.ModeSymlink | 0o777, Data: []byte("usr/bin")},
		{Name: "tmp", Mode: fs.ModeDir | 0o777},
	}
	if len(entries) != len(want) {
		t.Fatalf("read %d entries, want %d: %+v", len(entries), len(want), entries)
	}
	for i, e := range entries {
		w := want[i]
		if e.Name != w.Name || e.Mode != w.Mode || !bytes.Equal(e.Data, w.Data) {
			t.Errorf("entry %d = {%s %v %q}, want {%s %v %q}", i, e.Name, e.Mode, e.Data, w.Name, w.Mode, w.Data)
		}
	}
}

func TestCpioRejectsDamage(t *testing.T) {
	data := writeSample(t)
	if _, err := ReadCpio(bytes.NewReader(data[:len(data)-200])); !errors.Is(err, ErrBadArchive) {
		t.Errorf("truncated archive: err = %v, want ErrBadArchive", err)
	}
	bad := append([]byte("070707"), data[6:]...) // the old binary-compatible magic
	if _, err := ReadCpio(bytes.NewReader(bad)); !errors.Is(err, ErrBadArchive) {
		t.Errorf("wrong magic: err = %v, want ErrBadArchive", err)
	}
	w := NewCpioWriter(&bytes.Buffer{})
	if err := w.File("TRAILER!!!", 0o644, nil); err == nil {
		t.Error("an entry named like the trailer was accepted")
	}
}

// TestCpioAgainstCpioTool checks the archive with GNU cpio, an independent
// reader, where it is installed.
func TestCpioAgainstCpioTool(t *testing.T) {
	tool, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio is not installed (apt-get install cpio): the round trip through our reader still runs")
	}
	cmd := exec.Command(tool, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(writeSample(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	got := strings.Fields(string(out))
	want := []string{"usr", "usr/bin", "usr/bin/true", "empty", "odd-sized.txt", "bin", "tmp"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cpio -t lists %v, want %v", got, want)
	}
}

func TestWriteInitramfs(t *testing.T) {
	dir := t.TempDir()
	var b Binaries
	b.Init, b.Suites, b.Probe, b.CLI = filepath.Join(dir, "init"), filepath.Join(dir, "suites"), filepath.Join(dir, "probe"), filepath.Join(dir, "cli")
	for _, p := range []string{b.Init, b.Suites, b.Probe, b.CLI} {
		if err := os.WriteFile(p, []byte("binary "+filepath.Base(p)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "initramfs.cpio.gz")
	if err := WriteInitramfs(img, b); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ReadCpio(zr)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]CpioEntry{}
	seen := map[string]bool{}
	for _, e := range entries {
		byName[e.Name] = e
		if dir := filepath.Dir(e.Name); dir != "." && !seen[dir] {
			t.Errorf("%s comes before its directory %s: the kernel would not create it", e.Name, dir)
		}
		seen[e.Name] = true
	}
	for name, content := range map[string]string{
		"init": "binary init", "usr/bin/true": "binary init", "usr/bin/false": "binary init",
		strings.TrimPrefix(GuestSuite, "/"): "binary suites", strings.TrimPrefix(GuestProbe, "/"): "binary probe",
		strings.TrimPrefix(GuestCLI, "/"): "binary cli",
	} {
		e, ok := byName[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if string(e.Data) != content || e.Mode.Perm() != 0o755 || !e.Mode.IsRegular() {
			t.Errorf("%s = %q mode %v, want %q, executable", name, e.Data, e.Mode, content)
		}
	}
	if e := byName["bin"]; e.Mode&fs.ModeSymlink == 0 || string(e.Data) != "usr/bin" {
		t.Errorf("bin = %v -> %q, want a symlink to usr/bin", e.Mode, e.Data)
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run"} {
		if !byName[d].Mode.IsDir() {
			t.Errorf("mount point %s missing", d)
		}
	}
}
