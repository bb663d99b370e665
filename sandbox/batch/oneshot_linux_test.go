package batch

// Batch runs on the one-shot runner: independent jobs, binary-safe and bounded output, copy-in roots.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox"
	"gosandbox/sandbox/oneshot"
)

func oneshotRunner(t *testing.T) *oneshot.Runner {
	t.Helper()
	testhost.NeedRoot(t, "boxes with an unmapped host id")
	r := &oneshot.Runner{}
	t.Cleanup(func() { r.Close() })
	return r
}

// runLines runs input through r and returns the raw result lines.
func runLines(t *testing.T, r sandbox.Runner, input string, o Options) []string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Run(ctx, r, strings.NewReader(input), &out, o); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("result line %.200q: %v", line, err)
	}
	return m
}

// TestOneshotBatchJobsAreIndependent: a job refused for a limit below its
// minimum gets an error line naming the field and the minimum, and the
// jobs after it run.
func TestOneshotBatchJobsAreIndependent(t *testing.T) {
	r := oneshotRunner(t)
	input := strings.Join([]string{
		`{"id":"first","args":["/bin/echo","one"]}`,
		`{"id":"tiny-memory","args":["/bin/true"],"limits":{"memory":"1B"}}`,
		`{"id":"tiny-stack","args":["/bin/true"],"limits":{"stack":"4KiB"}}`,
		`{"id":"tiny-fds","args":["/bin/true"],"limits":{"open_files":3}}`,
		`{"id":"last","args":["/bin/echo","two"]}`,
	}, "\n")
	lines := runLines(t, r, input, Options{})
	if len(lines) != 5 {
		t.Fatalf("%d lines for 5 jobs: %q", len(lines), lines)
	}
	for i, want := range []string{
		"limits.memory 1B: below the minimum " + sandbox.FormatSize(sandbox.MinMemory),
		"limits.stack 4KiB: below the minimum " + sandbox.FormatSize(sandbox.MinStack),
		fmt.Sprintf("limits.open_files 3: below the minimum %d", sandbox.MinOpenFiles),
	} {
		l := decode(t, lines[i+1])
		if e, _ := l["error"].(string); !strings.Contains(e, want) || l["status"] != nil {
			t.Errorf("line %d: %v; want an error containing %q", i+2, l, want)
		}
	}
	for i, want := range map[int]string{0: "one\n", 4: "two\n"} {
		l := decode(t, lines[i])
		if l["status"] != "ok" || l["stdout"] != want || l["backend"] != "oneshot" {
			t.Errorf("line %d: %v", i+1, l)
		}
	}
}

// TestOutputBinarySafe (B8): bytes that are not text come back base64,
// byte-exact, and only there; text stays a plain string.
func TestOutputBinarySafe(t *testing.T) {
	r := oneshotRunner(t)
	input := strings.Join([]string{
		`{"id":"bin","args":["/bin/sh","-c","printf 'a\\000b\\377c'; printf '\\033[0m' >&2; printf '\\001\\002' > out.bin; printf 'fine\\n' > out.txt"],"copy_out":["out.bin","out.txt"]}`,
		`{"id":"text","args":["/bin/sh","-c","printf '<ünï>\\t\"q\"\\r\\n'"]}`,
	}, "\n")
	lines := runLines(t, r, input, Options{})
	bin := decode(t, lines[0])
	b64 := func(v any) string {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Errorf("not base64: %q", s)
		}
		return string(b)
	}
	if _, both := bin["stdout"]; both || b64(bin["stdout_base64"]) != "a\x00b\xffc" {
		t.Errorf("binary stdout: %v", bin)
	}
	if _, both := bin["stderr"]; both || b64(bin["stderr_base64"]) != "\x1b[0m" {
		t.Errorf("binary stderr: %v", bin)
	}
	files, _ := bin["files"].(map[string]any)
	files64, _ := bin["files_base64"].(map[string]any)
	if files["out.txt"] != "fine\n" || files["out.bin"] != nil || b64(files64["out.bin"]) != "\x01\x02" {
		t.Errorf("files %v files_base64 %v", files, files64)
	}
	text := decode(t, lines[1])
	if _, b := text["stdout_base64"]; b || text["stdout"] != "<ünï>\t\"q\"\r\n" || text["stderr"] != "" {
		t.Errorf("text job: %v", text)
	}
	if !strings.Contains(lines[1], `"<ünï>`) {
		t.Errorf("HTML-escaped text: %s", lines[1])
	}
}

// TestOutputBounded (B8, R10): 100 MiB of NULs with default limits end
// output-limit with at most the output limit captured, in a line of about
// 4/3 of it.
func TestOutputBounded(t *testing.T) {
	r := oneshotRunner(t)
	lines := runLines(t, r, `{"id":"flood","args":["/bin/sh","-c","head -c 100M /dev/zero"],"limits":{"wall":"60s","cpu":"30s"}}`, Options{})
	limit := sandbox.DefaultLimits.Output
	if max := int(limit)*4/3 + 4096; len(lines[0]) > max {
		t.Fatalf("a result line of %d bytes, over %d", len(lines[0]), max)
	}
	l := decode(t, lines[0])
	s, _ := l["stdout_base64"].(string)
	out, err := base64.StdEncoding.DecodeString(s)
	if l["status"] != "output-limit" || err != nil || int64(len(out)) > limit || bytes.IndexFunc(out, func(r rune) bool { return r != 0 }) >= 0 {
		t.Errorf("status %v, %d bytes captured (limit %d), decode error %v", l["status"], len(out), limit, err)
	}
}

// TestCopyInRoot: with a copy-in root, copy_in reads only regular files
// beneath it; anything else is an error line naming the field and value,
// and nothing of the job runs.
func TestCopyInRoot(t *testing.T) {
	r := oneshotRunner(t)
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "a.txt"), []byte("A\n"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "b.txt"), []byte("B\n"), 0o644)
	os.WriteFile(filepath.Join(base, "secret"), []byte("S\n"), 0o644)
	os.Symlink("../secret", filepath.Join(root, "up"))
	os.Symlink("/etc/hostname", filepath.Join(root, "abs"))
	os.Symlink("sub/b.txt", filepath.Join(root, "inside"))
	os.Symlink("/proc/self/root/etc/hostname", filepath.Join(root, "magic"))
	syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644)
	marker := filepath.Join(base, "ran")

	job := func(id, path string) string {
		return fmt.Sprintf(`{"id":%q,"args":["/bin/cat","f"],"copy_in":{"f":%q}}`, id, path)
	}
	good := map[string]string{"rel": "a.txt", "sub": "sub/b.txt", "absolute-inside": filepath.Join(root, "a.txt"), "symlink-inside": "inside"}
	want := map[string]string{"rel": "A\n", "sub": "B\n", "absolute-inside": "A\n", "symlink-inside": "B\n"}
	bad := map[string]string{
		"absolute-outside": "/etc/hostname", "dotdot": "../secret", "dotdot-inside": "sub/../a.txt",
		"symlink-up": "up", "symlink-absolute": "abs", "magic": "magic", "proc": "/proc/self/environ",
		"fifo": "fifo", "directory": "sub", "missing": "nope",
	}
	var in []string
	var ids []string
	for id, p := range good {
		in, ids = append(in, job(id, p)), append(ids, id)
	}
	for id, p := range bad {
		in, ids = append(in, job(id, p)), append(ids, id)
	}
	// One bad copy_in among good ones: nothing of the job runs.
	in = append(in, fmt.Sprintf(`{"id":"mixed","args":["/bin/touch",%q],"files":{"x":"y"},"copy_in":{"a":"a.txt","b":"/etc/hostname"}}`, marker))
	ids = append(ids, "mixed")
	lines := runLines(t, r, strings.Join(in, "\n"), Options{CopyInRoot: root})
	if len(lines) != len(ids) {
		t.Fatalf("%d lines for %d jobs", len(lines), len(ids))
	}
	for i, id := range ids {
		l := decode(t, lines[i])
		if l["id"] != id {
			t.Fatalf("line %d is %v, want id %s", i+1, l, id)
		}
		if w, ok := want[id]; ok {
			if l["status"] != "ok" || l["stdout"] != w {
				t.Errorf("%s: %v", id, l)
			}
			continue
		}
		value := bad[id]
		if id == "mixed" {
			value = "/etc/hostname"
		}
		e, _ := l["error"].(string)
		if !strings.Contains(e, "copy_in") || !strings.Contains(e, value) || l["status"] != nil {
			t.Errorf("%s: %v; want an error naming copy_in and %q", id, l, value)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a job with a refused copy_in ran")
	}
	// Under a copy-in root a job may not bind host paths either.
	lines = runLines(t, r, fmt.Sprintf(`{"id":"bind","args":["/bin/touch",%q],"binds":["/etc:/opt/etc"]}`, marker), Options{CopyInRoot: root})
	if l := decode(t, lines[0]); !strings.Contains(fmt.Sprint(l["error"]), "binds") || l["status"] != nil {
		t.Errorf("bind under a copy-in root: %v", l)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a job with a refused bind ran")
	}
	// Without a root, copy_in reads any host path, as before, and binds work.
	lines = runLines(t, r, `{"id":"bound","args":["/bin/cat","/opt/etc/hostname"],"binds":["/etc:/opt/etc"]}`, Options{})
	host, _ := os.ReadFile("/etc/hostname")
	if l := decode(t, lines[0]); l["stdout"] != string(host) {
		t.Errorf("job bind: %v", l)
	}
	lines = runLines(t, r, `{"id":"badbind","args":["/bin/true"],"binds":["relative:/x"]}`, Options{})
	if l := decode(t, lines[0]); !strings.Contains(fmt.Sprint(l["error"]), "binds[0]") {
		t.Errorf("malformed job bind: %v", l)
	}
	lines = runLines(t, r, job("free", "/etc/hostname"), Options{})
	if l := decode(t, lines[0]); l["stdout"] != string(host) {
		t.Errorf("without a copy-in root: %v", l)
	}
}
