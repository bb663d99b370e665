package batch

// Hostile job lines: a group of more programs than any problem needs,
// limits that let a job make the supervisor hold unbounded output.

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"gosandbox/sandbox"
)

// TestGroupSizeBounded: a group of more than MaxGroup programs is an
// error line naming the group and the bound, and nothing of it runs; a
// group of exactly MaxGroup runs. (Before: any number ran, each in its
// own box started at once, and on a pool the boxes beyond its size were
// built for it: one line of a few KiB could start thousands of boxes.)
func TestGroupSizeBounded(t *testing.T) {
	r := oneshotRunner(t)
	group := func(n int) string {
		return `{"id":"g","limits":{"wall":"30s"},"group":[` + strings.TrimSuffix(strings.Repeat(`{"args":["/bin/true"]},`, n), ",") + `]}`
	}
	lines := runLines(t, r, group(MaxGroup+1)+"\n"+group(MaxGroup), Options{Parallel: 1})
	if len(lines) != 2 {
		t.Fatalf("%d lines: %s", len(lines), lines)
	}
	if l := decode(t, lines[0]); l["group"] != nil || !strings.Contains(l["error"].(string), "group: 17 programs, more than 16") {
		t.Errorf("a group of %d: %.300s", MaxGroup+1, lines[0])
	}
	if l := decode(t, lines[1]); l["error"] != nil || strings.Count(lines[1], `"status":"ok"`) != MaxGroup {
		t.Errorf("a group of %d: %.300s", MaxGroup, lines[1])
	}
}

// TestCeilingRefusesLimits: under Options.Ceiling a job or a group
// program whose limit is above the ceiling is an error line naming the
// field, the value and the ceiling, and nothing of it runs; a limit at the
// ceiling runs, and a limit left to a default above the ceiling gets the
// ceiling; a group's transcript, also held in the supervisor's memory,
// is bounded by the output ceiling. (Before: no ceiling: a client asked for "output": "8GiB"
// and the supervisor, whose memory no box limit charges, buffered what
// the program printed up to that, twice per program.)
func TestCeilingRefusesLimits(t *testing.T) {
	r := oneshotRunner(t)
	input := strings.Join([]string{
		`{"id":"big","args":["/bin/sh","-c","head -c 20M /dev/zero"],"limits":{"output":"8GiB","wall":"30s"}}`,
		`{"id":"gbig","limits":{"wall":"30s"},"group":[{"args":["/bin/true"]},{"args":["/bin/true"],"limits":{"tmpfs":"1GiB"}}]}`,
		`{"id":"at","args":["/bin/echo","fits"],"limits":{"output":"1MiB","tmpfs":"8MiB"}}`,
		`{"id":"dflt","args":["/bin/sh","-c","head -c 2M /dev/zero"],"limits":{"wall":"30s"}}`,
		`{"id":"tr","limits":{"wall":"5s"},"transcript":"2GiB","group":[{"args":["/bin/echo","x"]},{"args":["/bin/cat"]}],"pipes":[["0:stdout","1:stdin"]]}`,
	}, "\n")
	lines := runLines(t, r, input, Options{Ceiling: sandbox.Limits{Output: 1 << 20, Tmpfs: 8 << 20}})
	for i, want := range []string{
		`limits.output 8GiB: above the ceiling 1MiB`,
		`group[1].limits.tmpfs 1GiB: above the ceiling 8MiB`,
		``,
		``,
		`transcript 2GiB: above the ceiling 1MiB`,
	} {
		if i == 3 {
			continue // below
		}
		l := decode(t, lines[i])
		got, _ := l["error"].(string)
		if want == "" && (got != "" || l["stdout"] != "fits\n") || want != "" && (!strings.Contains(got, want) || l["status"] != nil || l["group"] != nil) {
			t.Errorf("line %d: %.300s; want error %q", i+1, lines[i], want)
		}
	}
	if l := decode(t, lines[3]); l["status"] != "output-limit" || len(l["stdout_base64"].(string)) > (1<<20)*4/3+4 {
		t.Errorf("default output under a 1MiB ceiling: %.300s", lines[3])
	}
}

// TestTooManyFilesRefused: a job whose files need more inodes than its
// work directory has is an error line naming the count and the limit,
// and nothing of it runs; one at the bound runs. (Before: the bytes were
// checked but not the inodes: 20000 empty files under the default tmpfs
// ended internal-error, the sandbox's fault by the contract, at copy-in.)
func TestTooManyFilesRefused(t *testing.T) {
	r := oneshotRunner(t)
	files := func(n int, dir string) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%sf%d":""`, dir, i)
		}
		return b.String()
	}
	max := sandbox.WorkDirInodes(1 << 20) // the root and max-1 files
	input := strings.Join([]string{
		`{"id":"many","args":["/bin/true"],"files":{` + files(20000, "") + `}}`,
		`{"id":"dirs","args":["/bin/true"],"files":{` + files(max-1, "d/") + `},"limits":{"tmpfs":"1MiB"}}`,
		`{"id":"bound","args":["/bin/sh","-c","ls | wc -l"],"files":{` + files(max-1, "") + `},"limits":{"tmpfs":"1MiB"}}`,
	}, "\n")
	lines := runLines(t, r, input, Options{})
	for i, want := range []string{
		fmt.Sprintf("copy-in: 20001 inodes (20000 files and directories and /w), more than the work directory's %d", sandbox.WorkDirInodes(sandbox.DefaultLimits.Tmpfs)),
		fmt.Sprintf("copy-in: %d inodes", max+1),
	} {
		if l := decode(t, lines[i]); l["status"] != nil || !strings.Contains(fmt.Sprint(l["error"]), want) {
			t.Errorf("line %d: %.300s; want error %q", i+1, lines[i], want)
		}
	}
	if l := decode(t, lines[2]); l["status"] != "ok" || l["stdout"] != fmt.Sprintf("%d\n", max-1) {
		t.Errorf("at the bound: %.300s", lines[2])
	}
}

// TestCopyOutNamesBounded: a copy_out name given twice, or more names
// than the work directory has inodes, is an error line naming the field,
// and nothing runs. (Before: ["big", "big", ...] read the same file once
// per name after the run: half a million names in a 4 MiB line meant
// reading a 64 MiB file half a million times, outside the wall limit,
// holding the run slot.)
func TestCopyOutNamesBounded(t *testing.T) {
	r := oneshotRunner(t)
	many := make([]string, sandbox.WorkDirInodes(1<<20)+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"n%d"`, i)
	}
	input := strings.Join([]string{
		`{"id":"dup","args":["/bin/sh","-c","echo x > big"],"copy_out":["big","other","big"]}`,
		`{"id":"many","args":["/bin/true"],"copy_out":[` + strings.Join(many, ",") + `],"limits":{"tmpfs":"1MiB"}}`,
		`{"id":"group","group":[{"args":["/bin/true"],"copy_out":["a","a"]}]}`,
	}, "\n")
	lines := runLines(t, r, input, Options{})
	for i, want := range []string{
		`copy_out[2] "big": also copy_out[0]`,
		`copy_out: 1025 names, more than the work directory's 1024 inodes`,
		`group[0].copy_out[1] "a": also copy_out[0]`,
	} {
		if l := decode(t, lines[i]); l["status"] != nil || l["group"] != nil || !strings.Contains(fmt.Sprint(l["error"]), want) {
			t.Errorf("line %d: %.300s; want error %q", i+1, lines[i], want)
		}
	}
}

// TestAbsurdLimitsRefused: limits no kernel takes (procs past
// PID_MAX_LIMIT, open files past the supervisor's hard limit) are error
// lines naming the
// field and the maximum, never internal-error; sizes and durations past
// what the units hold are refused as before. (Before: procs and
// open_files of 2^63-1 were accepted and ended internal-error, and on a
// pool each broke and replaced a container.) It runs on a pool too: there
// open files past the supervisor's hard limit also ended internal-error.
func TestAbsurdLimitsRefused(t *testing.T) {
	var hard unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &hard); err != nil || hard.Max > 1<<20 {
		t.Skipf("the hard limit of open files is %d (%v): nothing above it to ask for", hard.Max, err)
	}
	for name, r := range map[string]sandbox.Runner{"oneshot": oneshotRunner(t), "container": pool(t, 1)} {
		t.Run(name, func(t *testing.T) { absurdLimits(t, r, hard.Max) })
	}
}

func absurdLimits(t *testing.T, r sandbox.Runner, hard uint64) {
	input := strings.Join([]string{
		`{"id":"procs","args":["/bin/true"],"limits":{"procs":9223372036854775807}}`,
		`{"id":"files","args":["/bin/true"],"limits":{"open_files":9223372036854775807}}`,
		`{"id":"size","args":["/bin/true"],"limits":{"memory":"99999999999999999999G"}}`,
		`{"id":"float","args":["/bin/true"],"limits":{"procs":1e3}}`,
		`{"id":"nan","args":["/bin/true"],"limits":{"cpu":"NaN"}}`,
		`{"id":"max","args":["/bin/true"],"limits":{"procs":4194304,"open_files":1024}}`,
		fmt.Sprintf(`{"id":"hard","args":["/bin/true"],"limits":{"open_files":%d}}`, hard+1),
		fmt.Sprintf(`{"id":"athard","args":["/bin/sh","-c","ulimit -n"],"limits":{"open_files":%d}}`, hard),
	}, "\n")
	lines := runLines(t, r, input, Options{})
	for i, want := range []string{
		`limits.procs 9223372036854775807: above the maximum 4194304`,
		`limits.open_files 9223372036854775807: above the maximum`,
		`limits.memory "99999999999999999999G"`,
		`limits.procs: want int`,
		`limits.cpu "NaN"`,
	} {
		if l := decode(t, lines[i]); l["status"] != nil || !strings.Contains(fmt.Sprint(l["error"]), want) {
			t.Errorf("line %d: %.300s; want error %q", i+1, lines[i], want)
		}
	}
	if l := decode(t, lines[5]); l["status"] != "ok" {
		t.Errorf("at the maximum: %.300s", lines[5])
	}
	if l := decode(t, lines[6]); l["status"] != nil || !strings.Contains(fmt.Sprint(l["error"]), fmt.Sprintf("above the maximum %d", hard)) {
		t.Errorf("one past the hard limit: %.300s", lines[6])
	}
	if l := decode(t, lines[7]); l["status"] != "ok" || l["stdout"] != fmt.Sprintf("%d\n", hard) {
		t.Errorf("at the hard limit: %.300s", lines[7])
	}
}

// TestCapturedBytesBounded: under Options.MaxCaptured a job whose
// captures could together pass it (two streams of limits.output per
// program but those a pipe carries, copied-out files up to the smaller of
// their count times limits.output and limits.tmpfs, each pipe's
// transcript) is an error line saying so, and nothing of it runs; one
// within it runs. (Before: a per-field ceiling let a group of 16 programs
// capture 16 times what one may.)
func TestCapturedBytesBounded(t *testing.T) {
	r := oneshotRunner(t)
	group := `{"id":"g","limits":{"wall":"30s"},"group":[` + strings.TrimSuffix(strings.Repeat(`{"args":["/bin/true"],"limits":{"output":"1MiB"}},`, 5), ",") + `]}`
	input := strings.Join([]string{
		group, // 5 x 2 x 1MiB = 10MiB
		`{"id":"files","args":["/bin/true"],"copy_out":["a","b","c"],"limits":{"output":"2MiB","tmpfs":"4MiB"}}`,                                                                                                      // 2 x 2 + min(6, 4) = 8MiB
		`{"id":"wrap","args":["/bin/true"],"limits":{"output":"4611686018427387904B"}}`,                                                                                                                               // 2 x 2^62 wraps an int64
		`{"id":"pipe","limits":{"wall":"30s"},"transcript":"4MiB","group":[{"args":["/bin/echo","x"],"limits":{"output":"1MiB"}},{"args":["/bin/cat"],"limits":{"output":"1MiB"}}],"pipes":[["0:stdout","1:stdin"]]}`, // 3 x 1 + 4 = 7MiB
	}, "\n")
	lines := runLines(t, r, input, Options{MaxCaptured: 8 << 20})
	if l := decode(t, lines[0]); l["group"] != nil || !strings.Contains(fmt.Sprint(l["error"]), "could capture up to 10MiB, more than the most, 8MiB") {
		t.Errorf("line 1: %.300s", lines[0])
	}
	if l := decode(t, lines[2]); l["status"] != nil || !strings.Contains(fmt.Sprint(l["error"]), "could capture up to 9223372036854775807B") {
		t.Errorf("line 3: %.300s", lines[2])
	}
	for _, i := range []int{1, 3} {
		if l := decode(t, lines[i]); l["error"] != nil {
			t.Errorf("line %d, within the bound: %.300s", i+1, lines[i])
		}
	}
}
