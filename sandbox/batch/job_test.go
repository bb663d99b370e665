package batch

// Tests of decoding job lines: fields, errors, and the id read from a bad line.

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeJob(t *testing.T) {
	j, err := DecodeJob([]byte(`{"id":"a","args":["x"],"stdin":"in","files":{"f":"c"},"copy_in":{"g":"/h"},"copy_out":["o"],"limits":{"cpu":"1s","wall":"2s","memory":"64MiB","procs":16,"output":"1KiB"}}`))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := j.Spec()
	if err != nil {
		t.Fatal(err)
	}
	l := spec.Limits
	if string(j.ID) != `"a"` || l.CPU != time.Second || l.Wall != 2*time.Second || l.Memory != 64<<20 || l.Procs != 16 || l.Output != 1024 {
		t.Fatalf("job %+v limits %+v", j, l)
	}
	if len(spec.CopyIn) != 2 || spec.CopyIn[0].Name != "f" || string(spec.CopyIn[0].Content) != "c" || spec.CopyIn[1].HostPath != "/h" {
		t.Fatalf("copy-in %+v", spec.CopyIn)
	}
}

func TestDecodeJobErrors(t *testing.T) {
	for line, want := range map[string]string{
		`{"id":"a","args":["x"],"bogus":1}`: "unknown field",
		`{"id":"a","args":"x"}`:             "args: want []string",
		`{"id":"a","args":["x"]} {}`:        "trailing data",
		`{"id":1,"args":["x"]}`:             "id: want a string",
		`{"id":"a","args":["x"]`:            "incomplete",
		`[1]`:                               "want a JSON object",
		`not json`:                          "not valid JSON",
		`{"id":"a","args":["x"],"limits":{"cpu":"fast"}}`:               "limits.cpu",
		`{"id":"a","args":["x"],"limits":{"memory":"lots"}}`:            "limits.memory",
		`{"id":"a","args":[]}`:                                          "no program",
		`{"id":"a","args":["x"],"files":{"f":""},"copy_in":{"f":"/x"}}`: "both name",
		// Field names are exact and given once: a reader that checks a
		// line (a front end's filter) and this one must see the same job.
		`{"id":"a","ARGS":["x"]}`:                                  `"ARGS": unknown field (field names are exact: args)`,
		`{"id":"a","args":["x"],"limits":{"Memory":"1GiB"}}`:       `limits: "Memory": unknown field`,
		`{"id":"a","group":[{"args":["x"],"Copy_In":{"g":"/h"}}]}`: `group[0]: "Copy_In": unknown field`,
		`{"id":"a","args":["x"],"args":["y"]}`:                     `"args": given twice`,
		`{"id":"a","args":["x"],"files":{"f":"1","f":"2"}}`:        `files: "f": given twice`,
		`{"id":"a","args":["x"],"limits":{"cpu":"1s","cpu":"9s"}}`: `limits: "cpu": given twice`,
	} {
		j, err := DecodeJob([]byte(line))
		if err == nil {
			_, err = j.Spec()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", line, err, want)
		}
	}
}

// TestDecodeJobExactKeys: keys that differ only in case are distinct
// names inside files and copy_in, where they name files.
func TestDecodeJobExactKeys(t *testing.T) {
	j, err := DecodeJob([]byte(`{"id":"a","args":["x"],"files":{"ARGS":"1","args":"2","F":"3","f":"4"}}`))
	if err != nil || len(j.Files) != 4 {
		t.Fatalf("%v %v", j.Files, err)
	}
}

func TestPeekID(t *testing.T) {
	if id := PeekID([]byte(`{"id":"z","args":5}`)); string(id) != `"z"` {
		t.Fatalf("id %s", id)
	}
	if id := PeekID([]byte(`{"id":`)); id != nil {
		t.Fatalf("id %s", id)
	}
}
