package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// batchCLI runs `gosandbox batch ARGS...` with input on stdin.
func batchCLI(t *testing.T, input string, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, t.TempDir(), input, append([]string{"batch"}, args...)...)
}

func TestBatchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		mention string
	}{
		{[]string{"--backend", "none"}, `--backend "none"`},
		{[]string{"--backend", "bwrap"}, `--backend "bwrap"`},
		{[]string{"--copy-in-root", "/nonexistent/root"}, "--copy-in-root"},
		{[]string{"--copy-in-root", "/etc/hostname"}, "--copy-in-root"},
	} {
		code, _, stderr := batchCLI(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.mention) {
			t.Errorf("%v: exit %d, stderr %q; want 2 mentioning %q", tc.args, code, stderr, tc.mention)
		}
	}
}

// TestBatchOneshotGoesOn: in a one-shot batch a job with a limit below its
// minimum or a copy_in outside --copy-in-root gets an error line and the
// batch goes on.
func TestBatchOneshotGoesOn(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "in.txt"), []byte("inside\n"), 0o644)
	input := strings.Join([]string{
		`{"id":"a","args":["/bin/echo","one"]}`,
		`{"id":"tiny","args":["/bin/true"],"limits":{"memory":"1B"}}`,
		`{"id":"escape","args":["/bin/cat","f"],"copy_in":{"f":"/etc/hostname"}}`,
		`{"id":"inside","args":["/bin/cat","f"],"copy_in":{"f":"in.txt"}}`,
		`{"id":"b","args":["/bin/echo","two"]}`,
	}, "\n")
	code, stdout, stderr := batchCLI(t, input, "--backend", "oneshot", "--copy-in-root", root)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 0 || len(lines) != 5 {
		t.Fatalf("exit %d, %d lines, stderr %q:\n%s", code, len(lines), stderr, stdout)
	}
	for i, want := range []string{`"stdout":"one\n"`, `limits.memory 1B: below the minimum`, `copy_in \"f\" \"/etc/hostname\"`, `"stdout":"inside\n"`, `"stdout":"two\n"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i+1, lines[i], want)
		}
	}
}

// TestBatchCeilings: --max-output, --max-wall and --max-answer reach the
// batch: a job over them gets an error line naming the field, the batch
// goes on. (Before: no such flags; a job line from a user could ask for
// 8 GiB of output, held in the batch process's memory.)
func TestBatchCeilings(t *testing.T) {
	needRoot(t)
	input := strings.Join([]string{
		`{"id":"o","args":["/bin/true"],"limits":{"output":"8GiB"}}`,
		`{"id":"w","args":["/bin/true"],"limits":{"wall":"1h"}}`,
		`{"id":"g","group":[{"args":["/bin/true"]},{"args":["/bin/true"]}]}`,
		`{"id":"ok","args":["/bin/echo","fits"],"limits":{"output":"1MiB"}}`,
	}, "\n")
	code, stdout, stderr := batchCLI(t, input, "--backend", "oneshot", "--max-output", "1MiB", "--max-wall", "1m", "--max-answer", "3MiB")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("exit %d, %d lines, stderr %q:\n%s", code, len(lines), stderr, stdout)
	}
	for i, want := range []string{`limits.output 8GiB: above the ceiling 1MiB`, `limits.wall 1h0m0s: above the ceiling 1m0s`,
		`could capture up to 4MiB, more than the most, 3MiB`, `"stdout":"fits\n"`} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to contain %s", i+1, lines[i], want)
		}
	}
}
