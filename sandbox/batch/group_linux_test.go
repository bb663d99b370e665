package batch

// Tests of group jobs in a batch and of the result fields their lines carry.

import (
	"encoding/json"
	"strings"
	"testing"

	"gosandbox/sandbox"
)

// groupJobs are group job lines and what their result lines must hold.
var groupJob = `{"id":"guess","limits":{"wall":"20s"},"transcript":"1KiB",` +
	`"group":[{"args":["/bin/sh","-c","read g; while [ \"$g\" != 37 ]; do if [ \"$g\" -lt 37 ]; then echo higher; else echo lower; fi; read g; done; echo correct; echo done >&2"]},` +
	`{"args":["/bin/sh","-c","lo=1; hi=100; while :; do m=$(((lo+hi)/2)); echo $m; read r; case $r in correct) cat in.txt; exit 0;; higher) lo=$((m+1));; lower) hi=$((m-1));; esac; done"],"files":{"in.txt":"solved\n"},"limits":{"memory":"64MiB"}}],` +
	`"pipes":[["0:stdout","1:stdin"],["1:stdout","0:stdin"]]}`

func TestGroupJobs(t *testing.T) {
	runners := map[string]sandbox.Runner{"oneshot": oneshotRunner(t), "container": pool(t, 2)}
	for name, r := range runners {
		t.Run(name, func(t *testing.T) {
			input := strings.Join([]string{
				groupJob,
				`{"id":"pipeline","group":[{"args":["/bin/echo","b a"]},{"args":["/usr/bin/tr"," ","\n"]},{"args":["sort"]}],"pipes":[["0:stdout","1:stdin"],["1:stdout","2:stdin"]]}`,
				`{"id":"cpu","group":[{"args":["/bin/true"],"limits":{"cpu":"1s"}}],"limits":{"cpu":"1s"}}`,
				`{"id":"wall","group":[{"args":["/bin/true"],"limits":{"wall":"1s"}}]}`,
				`{"id":"range","group":[{"args":["/bin/true"]}],"pipes":[["0:stdout","1:stdin"]]}`,
				`{"id":"shape","group":[{"args":["/bin/true"]}],"pipes":[["0:stdout"]]}`,
				`{"id":"unknown","group":[{"args":["/bin/true"],"binds":["/etc:/x"]}]}`,
				`{"id":"both","args":["/bin/true"],"group":[{"args":["/bin/true"]}]}`,
				`{"id":"fed","group":[{"args":["/bin/true"]},{"args":["/bin/cat"],"stdin":"x"}],"pipes":[["0:stdout","1:stdin"]]}`,
				`{"id":"single","args":["/bin/echo","still"]}`,
			}, "\n")
			lines := runLines(t, r, input, Options{Parallel: 2})
			if len(lines) != 10 {
				t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			var guess GroupLine
			if err := json.Unmarshal([]byte(lines[0]), &guess); err != nil {
				t.Fatal(err)
			}
			if len(guess.Group) != 2 || guess.Group[0].Status != sandbox.StatusOK || guess.Group[1].Status != sandbox.StatusOK ||
				guess.Group[0].Stdout != nil || *guess.Group[0].Stderr != "done\n" || guess.Group[1].Stdout != nil {
				t.Errorf("guessing game: %s", lines[0])
			}
			// After "correct" the guesser's `cat in.txt` races the judge's
			// exit: "solved" crossed the pipe only if the relay read it
			// before it saw the judge's stdin closed.
			if len(guess.Transcript) != 2 || (*guess.Transcript[1].Data != "50\n25\n37\n" && *guess.Transcript[1].Data != "50\n25\n37\nsolved\n") || guess.Transcript[1].From != "1:stdout" ||
				*guess.Transcript[0].Data != "lower\nhigher\ncorrect\nsolved\n"[:len("lower\nhigher\ncorrect\n")] {
				t.Errorf("transcript: %s", lines[0])
			}
			var pipeline GroupLine
			json.Unmarshal([]byte(lines[1]), &pipeline)
			if len(pipeline.Group) != 3 || pipeline.Group[2].Stdout == nil || *pipeline.Group[2].Stdout != "a\nb\n" || pipeline.Transcript != nil {
				t.Errorf("pipeline: %s", lines[1])
			}
			for i, want := range []string{
				"line 3: group: the job's limits hold only wall",
				"line 4: group[0].limits.wall: the group has one clock",
				"line 5: invalid spec: pipes[0]: 1:stdin: the group has programs 0 to 0",
				"line 6: pipes[0]: want [FROM, TO]",
				`line 7: json: unknown field \"binds\"`,
				"line 8: group: args, env, stdin",
				"line 9: pipes[0]: 1:stdin is fed by the pipe, and group[1].stdin is set too",
			} {
				if !strings.Contains(lines[2+i], want) || !strings.Contains(lines[2+i], `"error"`) {
					t.Errorf("line %d: %s\nwant it to contain %s", 3+i, lines[2+i], want)
				}
			}
			if !strings.Contains(lines[9], `"stdout":"still\n"`) {
				t.Errorf("single job after the refused groups: %s", lines[9])
			}
		})
	}
}

// TestResultFieldsInLines: max_rss_bytes, csw_voluntary, csw_forced and
// peak_source come in every result line, filled.
func TestResultFieldsInLines(t *testing.T) {
	runners := map[string]sandbox.Runner{"oneshot": oneshotRunner(t), "container": pool(t, 1)}
	for name, r := range runners {
		t.Run(name, func(t *testing.T) {
			line := runLines(t, r, `{"id":"m","args":["/bin/sh","-c","head -c 8000000 /dev/zero | tail -c 1 >/dev/null"]}`, Options{})[0]
			m := decode(t, line)
			for _, k := range []string{"max_rss_bytes", "csw_voluntary"} {
				if v, ok := m[k].(float64); !ok || v <= 0 {
					t.Errorf("%s: %v in %s", k, m[k], line)
				}
			}
			if _, ok := m["csw_forced"].(float64); !ok {
				t.Errorf("csw_forced missing: %s", line)
			}
			switch m["peak_source"] {
			case sandbox.PeakMemoryPeak, sandbox.PeakMaxUsage, sandbox.PeakSampled, sandbox.PeakRusage:
			default:
				t.Errorf("peak_source %v in %s", m["peak_source"], line)
			}
		})
	}
}
