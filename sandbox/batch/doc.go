// Package batch runs many jobs through one sandbox.Runner: it reads jobs as
// JSON lines, runs them (in parallel if asked) and writes one JSON result
// line per job, in input order. It is the logic of `gosandbox batch`; the
// contract of both lines is in the README ("gosandbox batch").
//
// A job line:
//
//	{"id": "a1", "args": ["./prog"], "env": ["K=V"], "stdin": "text",
//	 "files": {"prog.py": "print(1)"}, "copy_in": {"prog": "/host/path"},
//	 "copy_out": ["out.txt"],
//	 "limits": {"cpu": "1s", "wall": "2s", "memory": "64MiB", "procs": 16, "output": "1MiB"}}
//
// Limits may also set "stack", "open_files" and "tmpfs"; a limit below its
// documented minimum (sandbox.MinMemory, ...) is refused.
//
// Its result line is the sandbox.Result fields plus "id", "stdout" and
// "stderr" (captured, each bounded by the output limit: a program that
// writes more is stopped with status output-limit), "files" (copy_out name
// -> content) and "file_errors" (name -> why it was not copied out).
// Output is binary-safe: a stream or file that is valid UTF-8 with no
// control characters but tab, CR and LF is a JSON string in stdout, stderr
// or files; anything else (or text whose JSON escaping would take more than
// 1 KiB beyond its base64 form) is base64 in stdout_base64, stderr_base64
// or files_base64 instead, byte-exact, and not in the plain field. A line
// is thus at most about 4/3 of the captured bytes plus a small constant.
//
// A group job (interactive problems, pipelines) holds "group": a list of
// programs, each with the fields args, env, stdin, files, copy_in,
// copy_out and limits, and "pipes": [["0:stdout", "1:stdin"], ...]; the
// job's own limits hold only wall, the group's one clock, and
// "transcript": "1MiB" keeps that much of what crossed each pipe. It runs
// with sandbox/group; its result line is {"id", "group": [one program line
// per program, as above, without id], "transcript": [{"from", "to",
// "bytes", "truncated", "data" or "data_base64"}]}. A stream a pipe
// carries is in neither stdout nor stdout_base64.
//
// RunLine runs one job line on its own (gosandbox serve takes one job per
// request).
//
// Options.CopyInRoot (gosandbox batch --copy-in-root) confines copy_in host
// paths to one directory, for job lines built from untrusted input.
//
// Field names are exact and a key appears once per object (encoding/json
// alone would take "ARGS" for "args" and the last of repeated keys); a
// group holds at most MaxGroup programs. For untrusted lines,
// Options.Ceiling bounds each limit, Options.MaxCaptured what a job could
// capture in all, and Options.RefuseHostPaths refuses copy_in and binds.
//
// A line that is not a valid job, or a job the runner refuses before
// running anything (a copy_in path that does not exist, an invalid limit),
// yields {"id": ..., "error": "line N: what is wrong"} (id null when it could
// not be read) and the batch goes on. Blank lines are not jobs and are
// skipped. Nothing else is ever dropped.
//
// Do not use it for a single run: call the Runner directly.
package batch
