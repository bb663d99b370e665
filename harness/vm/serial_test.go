package vm

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// transcript builds a guest transcript with FrameWriter, the guest's own code.
func transcript(t *testing.T, files map[string]string, done bool) string {
	t.Helper()
	var b bytes.Buffer
	w := FrameWriter{W: &b}
	w.Fact("kernel", "6.1.0-56-cloud-amd64")
	for _, name := range []string{"oneshot.json", "bench.json"} {
		if c, ok := files[name]; ok {
			if err := w.File(name, []byte(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if done {
		w.Done()
	}
	return b.String()
}

func TestTranscriptRoundTrip(t *testing.T) {
	big := strings.Repeat("{\"spec\": \"P1\"}\n", 500)
	tr := ParseTranscript(strings.NewReader(transcript(t, map[string]string{"oneshot.json": big, "bench.json": ""}, true)))
	if len(tr.Problems) != 0 {
		t.Errorf("problems in a clean transcript: %v", tr.Problems)
	}
	if !tr.Done || tr.Facts["kernel"] != "6.1.0-56-cloud-amd64" {
		t.Errorf("done=%v facts=%v", tr.Done, tr.Facts)
	}
	if string(tr.Files["oneshot.json"]) != big {
		t.Errorf("oneshot.json came back as %d bytes, want %d", len(tr.Files["oneshot.json"]), len(big))
	}
	if f, ok := tr.Files["bench.json"]; !ok || len(f) != 0 {
		t.Errorf("empty bench.json: %q, present=%v", f, ok)
	}
}

func TestFrameWriterRefusesPaths(t *testing.T) {
	for _, name := range []string{"../x", "a/b", "", ".hidden", "a b"} {
		if err := (FrameWriter{W: &bytes.Buffer{}}).File(name, nil); err == nil {
			t.Errorf("file name %q accepted", name)
		}
	}
}

// TestTranscriptTestdata reads recorded serial transcripts: each file in
// testdata/*.serial names what must come back in testdata/<name>.want as
// lines "file NAME SIZE", "fact KEY VALUE", "done true|false", "problem
// SUBSTRING".
func TestTranscriptTestdata(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.serial")
	if len(paths) == 0 {
		t.Fatal("no testdata/*.serial")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(p, ".serial") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			tr := ParseTranscript(bytes.NewReader(raw))
			wantFiles := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 {
					continue
				}
				switch f[0] {
				case "file":
					wantFiles[f[1]] = true
					data, ok := tr.Files[f[1]]
					if !ok {
						t.Errorf("file %s lost; problems: %v", f[1], tr.Problems)
					} else if len(f) > 2 && f[2] != strconv.Itoa(len(data)) {
						t.Errorf("file %s: %d bytes, want %s", f[1], len(data), f[2])
					}
				case "fact":
					if got := tr.Facts[f[1]]; got != strings.Join(f[2:], " ") {
						t.Errorf("fact %s = %q, want %q", f[1], got, strings.Join(f[2:], " "))
					}
				case "done":
					if (f[1] == "true") != tr.Done {
						t.Errorf("done = %v, want %s", tr.Done, f[1])
					}
				case "problem":
					sub := strings.Join(f[1:], " ")
					found := false
					for _, pr := range tr.Problems {
						found = found || strings.Contains(pr, sub)
					}
					if !found {
						t.Errorf("no problem mentions %q: %v", sub, tr.Problems)
					}
				}
			}
			for name := range tr.Files {
				if !wantFiles[name] {
					t.Errorf("file %s accepted but not expected (damaged data must not pass)", name)
				}
			}
		})
	}
}
