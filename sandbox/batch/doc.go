// Package batch runs many jobs through one sandbox.Runner: it reads jobs as
// JSON lines, runs them (in parallel if asked) and writes one JSON result
// line per job, in input order. It is the logic of `gosandbox batch`; the
// contract of both lines is in DESIGN.md ("gosandbox batch").
//
// A job line:
//
//	{"id": "a1", "args": ["./prog"], "env": ["K=V"], "stdin": "text",
//	 "files": {"prog.py": "print(1)"}, "copy_in": {"prog": "/host/path"},
//	 "copy_out": ["out.txt"],
//	 "limits": {"cpu": "1s", "wall": "2s", "memory": "64MiB", "procs": 16, "output": "1MiB"}}
//
// Its result line is the sandbox.Result fields plus "id", "stdout" and
// "stderr" (captured, each bounded by the output limit: a program that
// writes more is stopped with status output-limit), "files" (copy_out name
// -> content) and "file_errors" (name -> why it was not copied out). Text
// that is not valid UTF-8 (in stdout, stderr or files) is replaced with
// U+FFFD by JSON encoding.
//
// A line that is not a valid job, or a job the runner refuses before
// running anything (a copy_in path that does not exist, an invalid limit),
// yields {"id": ..., "error": "line N: what is wrong"} (id null when it could
// not be read) and the batch goes on. Blank lines are not jobs and are
// skipped. Nothing else is ever dropped.
//
// Do not use it for a single run: call the Runner directly.
package batch
