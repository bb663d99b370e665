package batch

// Tests of a batch run: order kept in parallel, malformed lines, a failing job that breaks no other.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gosandbox/internal/testhost"
	"gosandbox/sandbox/container"
)

func TestMain(m *testing.M) {
	container.MaybeRunInit()
	os.Exit(m.Run())
}

func pool(t *testing.T, size int) *container.Pool {
	t.Helper()
	testhost.NeedRoot(t, "containers")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := container.NewPool(ctx, container.PoolOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func runBatch(t *testing.T, p *container.Pool, input string, parallel int) []map[string]any {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Run(ctx, p, strings.NewReader(input), &out, Options{Parallel: parallel}); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("result line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestOrderKeptInParallel(t *testing.T) {
	p := pool(t, 3)
	var in strings.Builder
	const n = 12
	for i := 0; i < n; i++ {
		// Earlier jobs take longer, so they finish last.
		fmt.Fprintf(&in, `{"id":"j%d","args":["/bin/sh","-c","sleep 0.%02d; echo %d"]}`+"\n", i, (n-i)*2, i)
	}
	lines := runBatch(t, p, in.String(), 3)
	if len(lines) != n {
		t.Fatalf("%d result lines for %d jobs", len(lines), n)
	}
	for i, l := range lines {
		if l["id"] != fmt.Sprintf("j%d", i) || l["stdout"] != fmt.Sprintf("%d\n", i) || l["status"] != "ok" {
			t.Fatalf("line %d: %v", i, l)
		}
	}
}

func TestMalformedLinesAndMissingCopyIn(t *testing.T) {
	p := pool(t, 1)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.txt")
	os.WriteFile(src, []byte("from host\n"), 0o644)
	input := strings.Join([]string{
		`{"id":"ok1","args":["cat"],"stdin":"hello"}`,
		`{"id":"bad", "args": 7}`,
		`this is not json`,
		``,
		`{"id":"missing","args":["true"],"copy_in":{"x":"/nonexistent/file"}}`,
		`{"id":"files","args":["/bin/sh","-c","cat in.txt data; echo made > out.txt"],"files":{"data":"inline\n"},"copy_in":{"in.txt":"` + src + `"},"copy_out":["out.txt","nope"]}`,
		`{"id":"loud","args":["/bin/sh","-c","head -c 100000 /dev/zero"],"limits":{"output":"1KiB"}}`,
		`{"id":"last","args":["true"]}`,
	}, "\n")
	lines := runBatch(t, p, input, 1)
	if len(lines) != 7 {
		t.Fatalf("%d lines: %v", len(lines), lines)
	}
	if l := lines[0]; l["stdout"] != "hello" || l["status"] != "ok" {
		t.Fatalf("stdin job: %v", l)
	}
	if l := lines[1]; l["id"] != "bad" || !strings.HasPrefix(l["error"].(string), "line 2: args") {
		t.Fatalf("bad job: %v", l)
	}
	if l := lines[2]; l["id"] != nil || !strings.HasPrefix(l["error"].(string), "line 3: not valid JSON") {
		t.Fatalf("not json: %v", l)
	}
	if l := lines[3]; l["id"] != "missing" || !strings.Contains(l["error"].(string), "/nonexistent/file") {
		t.Fatalf("missing copy-in: %v", l)
	}
	if l := lines[4]; l["stdout"] != "from host\ninline\n" || l["files"].(map[string]any)["out.txt"] != "made\n" ||
		l["file_errors"].(map[string]any)["nope"] == nil {
		t.Fatalf("files job: %v", l)
	}
	// NULs are not text: they come back base64-encoded (B8).
	if l := lines[5]; l["status"] != "output-limit" || l["stdout"] != nil || len(l["stdout_base64"].(string)) != base64.StdEncoding.EncodedLen(1024) {
		t.Fatalf("loud job: %v", l)
	}
	if l := lines[6]; l["id"] != "last" || l["status"] != "ok" || l["backend"] != "container" {
		t.Fatalf("last job: %v", l)
	}
}

// TestNoJobBreaksTheNext: whatever a job leaves or breaks, the job after it
// on the same container starts clean.
func TestNoJobBreaksTheNext(t *testing.T) {
	p := pool(t, 1)
	input := strings.Join([]string{
		`{"id":"mess","args":["/bin/sh","-c","sleep 100 & (trap '' TERM; sleep 100) & echo x > /tmp/left; echo y > left; exec sleep 100"],"limits":{"wall":"300ms"}}`,
		`{"id":"bomb","args":["/bin/sh","-c","while :; do sleep 100 & done"],"limits":{"wall":"500ms","procs":8}}`,
		`{"id":"clean","args":["/bin/sh","-c","ls -A /tmp /w; echo /proc/[0-9]*"]}`,
	}, "\n")
	lines := runBatch(t, p, input, 1)
	if lines[0]["status"] != "wall-limit" {
		t.Fatalf("mess: %v", lines[0])
	}
	// Only the job's own shell shows (the init runs as another user, which
	// the box's /proc hides): nothing of the mess is left.
	if l := lines[2]; l["status"] != "ok" || !regexp.MustCompile(`^/tmp:\n\n/w:\n/proc/[0-9]+\n$`).MatchString(l["stdout"].(string)) {
		t.Fatalf("clean job after a mess: %v", l)
	}
}
