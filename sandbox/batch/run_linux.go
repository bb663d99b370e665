package batch

// Run: job lines in, run on a Runner in parallel, result and error lines out in input order.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"gosandbox/sandbox"
	"gosandbox/sandbox/group"
	"gosandbox/sandbox/memfd"
	"gosandbox/sandbox/workdir"
)

// MaxLine is the longest job line read (files travel inside it).
const MaxLine = 64 << 20

// Options configure a batch.
type Options struct {
	// Parallel is how many jobs run at once (default 1). Results are
	// written in input order whatever it is.
	Parallel int
	// CopyInRoot, when set, confines every copy_in host path of a job to
	// this directory: a path is resolved beneath it (relative to it, or
	// absolute inside it), never following a symlink out of it and never
	// through "..". A job naming anything else gets an error line and
	// nothing of it runs. Set it when job lines are built from untrusted
	// input; without it copy_in reads whatever the supervisor can.
	CopyInRoot string
	// Ceiling, where a field is set, is the largest value a job may give
	// that limit; a job asking for more gets an error line naming the
	// field and nothing of it runs. Set it when job lines are untrusted:
	// the captured output (up to limits.output per stream), the
	// copied-out files and a group's transcripts (bounded by Output too)
	// are held in the supervisor's memory, which no box limit charges.
	Ceiling sandbox.Limits
	// MaxCaptured, when set, bounds what one job could capture in all
	// (see capturedAtMost): a ceiling per field still lets a group of
	// MaxGroup programs hold MaxGroup times what one may.
	MaxCaptured int64
	// RefuseHostPaths refuses every job that names a host path (copy_in,
	// binds), for callers whose job lines are untrusted and that have no
	// CopyInRoot to confine them to.
	RefuseHostPaths bool
}

// MaxGroup is the most programs a group job may hold: each runs in its
// own box, all at once, and on a pool the boxes past its size are built
// for the group, so the bound is what keeps one job line from starting
// boxes by the thousand.
const MaxGroup = 16

// Stats count what a batch did.
type Stats struct {
	Jobs      int // result lines written for jobs that ran
	Malformed int // error lines written (bad lines and refused jobs)
}

// ResultLine is the result of one single-program job that ran: its id
// and the program's line.
type ResultLine struct {
	ID json.RawMessage `json:"id"`
	ProgramLine
}

// ProgramLine is how one program ended: the Result fields, its captured
// streams and copied-out files. Each captured stream and copied-out file
// is in exactly one of its plain field (a JSON string, when it reads as
// text) and its _base64 field (anything else, byte-exact); see asText. A
// stream a group's pipe carried is in neither.
type ProgramLine struct {
	sandbox.Result
	Stdout       *string           `json:"stdout,omitempty"`
	StdoutBase64 *string           `json:"stdout_base64,omitempty"`
	Stderr       *string           `json:"stderr,omitempty"`
	StderrBase64 *string           `json:"stderr_base64,omitempty"`
	Files        map[string]string `json:"files"`
	FilesBase64  map[string]string `json:"files_base64,omitempty"`
	FileErrors   map[string]string `json:"file_errors"`
}

// GroupLine is the result of a group job: one ProgramLine per program, in
// order, and the transcript of each pipe when the job asked for one.
type GroupLine struct {
	ID         json.RawMessage  `json:"id"`
	Group      []ProgramLine    `json:"group"`
	Transcript []TranscriptLine `json:"transcript,omitempty"`
}

// TranscriptLine is what crossed one pipe of a group: the first bytes
// (up to the job's transcript size) as text or base64, how many crossed in
// all, and whether Data holds fewer.
type TranscriptLine struct {
	From       string  `json:"from"`
	To         string  `json:"to"`
	Bytes      int64   `json:"bytes"`
	Truncated  bool    `json:"truncated"`
	Data       *string `json:"data,omitempty"`
	DataBase64 *string `json:"data_base64,omitempty"`
}

// marshalLine encodes a result line without HTML escaping, which would
// make "<" six bytes and break the line's bound.
func marshalLine(line any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrorLine is the result of a line that could not run.
type ErrorLine struct {
	ID    json.RawMessage `json:"id"`
	Error string          `json:"error"`
}

// Run reads job lines from in, runs each with r and writes one result line
// per job to out, in input order. It returns when in is exhausted and every
// result is written, or early with the error when reading in or writing out
// fails (or ctx ends: the jobs in flight then end as cancelled).
func Run(ctx context.Context, r sandbox.Runner, in io.Reader, out io.Writer, o Options) (Stats, error) {
	par := max(o.Parallel, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type pending struct {
		line   []byte
		failed bool
		done   chan struct{}
	}
	queue := make(chan *pending, par)
	sem := make(chan struct{}, par)
	var stats Stats
	writeErr := make(chan error, 1)

	// The writer emits results in order; it owns out.
	go func() {
		w := bufio.NewWriter(out)
		var err error
		for p := range queue {
			<-p.done
			if err != nil {
				continue // keep draining so the workers finish
			}
			if p.failed {
				stats.Malformed++
			} else {
				stats.Jobs++
			}
			if _, err = w.Write(p.line); err == nil {
				err = w.Flush()
			}
			if err != nil {
				cancel()
			}
		}
		writeErr <- err
	}()

	br := bufio.NewReaderSize(in, 64<<10)
	var readErr error
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br)
		if err == io.EOF && len(line) == 0 && !tooLong {
			break
		}
		if err != nil && err != io.EOF {
			readErr = fmt.Errorf("batch: read line %d: %w", n, err)
			break
		}
		if !tooLong && len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				break
			}
			continue
		}
		if ctx.Err() != nil {
			break
		}
		p := &pending{done: make(chan struct{})}
		queue <- p
		if tooLong {
			p.line, p.failed = errorLine(nil, n, fmt.Errorf("longer than %d bytes", MaxLine)), true
			close(p.done)
		} else {
			sem <- struct{}{}
			go func(n int, line []byte) {
				defer func() { <-sem }()
				out := RunLine(ctx, r, o, n, line)
				p.line, p.failed = out.Line, out.Err != nil
				close(p.done)
			}(n, line)
		}
		if err == io.EOF {
			break
		}
	}
	close(queue)
	werr := <-writeErr
	if readErr != nil {
		return stats, readErr
	}
	if werr != nil {
		return stats, fmt.Errorf("batch: write results: %w", werr)
	}
	return stats, ctx.Err()
}

// readLine reads one line without its newline. A line longer than MaxLine
// is skipped to its end and reported with tooLong.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			if len(line)+len(chunk) > MaxLine {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err != nil || !isPrefix {
			return line, tooLong, err
		}
	}
}

// ErrNotRun is wrapped by Outcome.Err when a valid job could not be run
// for the sandbox's reasons (ctx ended before a box was ready, the pool
// closed): not the job's fault.
var ErrNotRun = errors.New("not run")

// Outcome is what one job line came to.
type Outcome struct {
	// Line is the result line, or the error line when Err is set;
	// newline-terminated.
	Line []byte
	// ID is the job's id (nil when it had none or could not be read).
	ID json.RawMessage
	// Results are the Results of the programs that ran, one per program;
	// none when Err is set.
	Results []sandbox.Result
	// Err says why nothing of the job ran: the line or the job is at
	// fault, unless it wraps ErrNotRun.
	Err error
}

// RunLine decodes and runs one job line, the n-th of its input (n < 1
// leaves "line N: " out of an error line, for callers that take one job
// at a time).
func RunLine(ctx context.Context, r sandbox.Runner, o Options, n int, line []byte) Outcome {
	job, err := DecodeJob(line)
	if err != nil {
		return refused(PeekID(line), n, err)
	}
	if o.CopyInRoot != "" && len(job.Binds) > 0 {
		// Job lines are untrusted here: a bind would show the box any host
		// path the line names.
		return refused(job.ID, n, fmt.Errorf("binds %q: not allowed with a copy-in root (job lines are untrusted)", job.Binds))
	}
	if o.RefuseHostPaths {
		if err := noHostPaths(job); err != nil {
			return refused(job.ID, n, err)
		}
	}
	var specs []sandbox.Spec
	var g sandbox.Group
	if job.IsGroup() {
		if g, err = job.GroupSpec(); err != nil {
			return refused(job.ID, n, err)
		}
		specs = g.Programs
	} else {
		spec, err := job.Spec()
		if err != nil {
			return refused(job.ID, n, err)
		}
		specs = []sandbox.Spec{spec}
	}
	for i := range specs {
		if err := applyCeiling(&specs[i].Limits, o.Ceiling); err != nil {
			if job.IsGroup() {
				err = fmt.Errorf("group[%d].%w", i, err)
			}
			return refused(job.ID, n, err)
		}
	}
	if job.IsGroup() && o.Ceiling.Wall > 0 {
		// The group's one clock is the job's limits.wall, in no spec.
		if g.Wall > o.Ceiling.Wall {
			return refused(job.ID, n, fmt.Errorf("limits.wall %v: above the ceiling %v", g.Wall, o.Ceiling.Wall))
		}
		if g.Wall == 0 && sandbox.DefaultLimits.Wall > o.Ceiling.Wall {
			g.Wall = o.Ceiling.Wall
		}
	}
	if job.IsGroup() && o.Ceiling.Output > 0 && g.Transcript > o.Ceiling.Output {
		// Transcripts are held in the supervisor's memory as captures are.
		return refused(job.ID, n, fmt.Errorf("transcript %s: above the ceiling %s (the output ceiling)",
			sandbox.FormatSize(g.Transcript), sandbox.FormatSize(o.Ceiling.Output)))
	}
	if o.MaxCaptured > 0 {
		if most := capturedAtMost(specs, g); most > o.MaxCaptured {
			return refused(job.ID, n, fmt.Errorf("job: could capture up to %s, more than the most, %s (two streams of limits.output per program, "+
				"copied-out files up to limits.tmpfs, transcripts): lower those limits", sandbox.FormatSize(most), sandbox.FormatSize(o.MaxCaptured)))
		}
	}
	if o.CopyInRoot != "" {
		for i := range specs {
			confined, release, err := confineCopyIn(specs[i], o.CopyInRoot)
			if err != nil {
				if job.IsGroup() {
					err = fmt.Errorf("group[%d].%w", i, err)
				}
				return refused(job.ID, n, err)
			}
			defer release()
			specs[i] = confined
		}
	}
	id := job.ID
	if id == nil {
		id = json.RawMessage("null")
	}
	var encoded any
	var results []sandbox.Result
	if job.IsGroup() {
		gl, err := runGroup(ctx, r, job, g)
		if err != nil {
			return refused(job.ID, n, err)
		}
		gl.ID = id
		for _, p := range gl.Group {
			results = append(results, p.Result)
		}
		encoded = gl
	} else {
		pl, err := runJob(ctx, r, job.Stdin, specs[0])
		if err != nil {
			return refused(job.ID, n, err)
		}
		results = []sandbox.Result{pl.Result}
		encoded = ResultLine{ID: id, ProgramLine: pl}
	}
	b, err := marshalLine(encoded)
	if err != nil {
		return refused(job.ID, n, fmt.Errorf("encode result: %w", err))
	}
	return Outcome{Line: b, ID: job.ID, Results: results}
}

// capturedAtMost is the most a job's result could hold: per program its
// stdout and stderr (but a stream a pipe carries) up to limits.output
// each, its copied-out files up to limits.output each and limits.tmpfs in
// all; per pipe of a group, its transcript.
func capturedAtMost(specs []sandbox.Spec, g sandbox.Group) int64 {
	// Sizes go up to 2^62 each: the sums saturate rather than wrap.
	add := func(a, b int64) int64 {
		if a > math.MaxInt64-b {
			return math.MaxInt64
		}
		return a + b
	}
	mul := func(n int, b int64) int64 {
		if b != 0 && int64(n) > math.MaxInt64/b {
			return math.MaxInt64
		}
		return int64(n) * b
	}
	piped := map[sandbox.Stream]bool{}
	for _, p := range g.Pipes {
		piped[p.From] = true
	}
	var total int64
	for i, spec := range specs {
		l := spec.Limits.WithDefaults()
		for _, name := range []string{"stdout", "stderr"} {
			if !piped[sandbox.Stream{Program: i, Name: name}] {
				total = add(total, l.Output)
			}
		}
		if len(spec.CopyOut) > 0 {
			total = add(total, min(mul(len(spec.CopyOut), l.Output), l.Tmpfs))
		}
	}
	return add(total, mul(len(g.Pipes), g.Transcript))
}

// noHostPaths refuses a job that names a host path (Options.RefuseHostPaths).
func noHostPaths(job Job) error {
	const why = "host paths are refused here (no copy-in root confines them)"
	if len(job.Binds) > 0 {
		return fmt.Errorf("binds %q: %s", job.Binds, why)
	}
	if len(job.CopyIn) > 0 {
		return fmt.Errorf("copy_in %q: %s", sortedKeys(job.CopyIn), why)
	}
	for i, p := range job.Group {
		if len(p.CopyIn) > 0 {
			return fmt.Errorf("group[%d].copy_in %q: %s", i, sortedKeys(p.CopyIn), why)
		}
	}
	return nil
}

// applyCeiling refuses a limit above the ceiling's field where that is
// set (see Options.Ceiling), and lowers to it a limit the job left to a
// default above it.
func applyCeiling(l *sandbox.Limits, ceiling sandbox.Limits) error {
	lowered := l.WithDefaults()
	for _, p := range []struct{ v, max, dflt *int64 }{
		{(*int64)(&l.CPU), (*int64)(&ceiling.CPU), (*int64)(&lowered.CPU)},
		{(*int64)(&l.Wall), (*int64)(&ceiling.Wall), (*int64)(&lowered.Wall)},
		{&l.Memory, &ceiling.Memory, &lowered.Memory},
		{&l.Output, &ceiling.Output, &lowered.Output},
		{&l.Stack, &ceiling.Stack, &lowered.Stack},
		{&l.Tmpfs, &ceiling.Tmpfs, &lowered.Tmpfs},
	} {
		if *p.v == 0 && *p.max > 0 && *p.dflt > *p.max {
			*p.v = *p.max
		}
	}
	if l.Procs == 0 && ceiling.Procs > 0 && lowered.Procs > ceiling.Procs {
		l.Procs = ceiling.Procs
	}
	if l.OpenFiles == 0 && ceiling.OpenFiles > 0 && lowered.OpenFiles > ceiling.OpenFiles {
		l.OpenFiles = ceiling.OpenFiles
	}
	above := func(field string, v, max int64, format func(int64) string) error {
		if max > 0 && v > max {
			return fmt.Errorf("limits.%s %s: above the ceiling %s", field, format(v), format(max))
		}
		return nil
	}
	dur := func(n int64) string { return time.Duration(n).String() }
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	return errors.Join(
		above("cpu", int64(l.CPU), int64(ceiling.CPU), dur),
		above("wall", int64(l.Wall), int64(ceiling.Wall), dur),
		above("memory", l.Memory, ceiling.Memory, sandbox.FormatSize),
		above("procs", int64(l.Procs), int64(ceiling.Procs), count),
		above("output", l.Output, ceiling.Output, sandbox.FormatSize),
		above("stack", l.Stack, ceiling.Stack, sandbox.FormatSize),
		above("open_files", int64(l.OpenFiles), int64(ceiling.OpenFiles), count),
		above("tmpfs", l.Tmpfs, ceiling.Tmpfs, sandbox.FormatSize),
	)
}

func refused(id json.RawMessage, n int, err error) Outcome {
	return Outcome{Line: errorLine(id, n, err), ID: id, Err: err}
}

func errorLine(id json.RawMessage, n int, err error) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	msg := err.Error()
	if n > 0 {
		msg = fmt.Sprintf("line %d: %v", n, err)
	}
	b, _ := json.Marshal(ErrorLine{ID: id, Error: msg})
	return append(b, '\n')
}

// streams are the standard streams the batch attaches to one program: a
// read-only memfd holding its stdin text, bounded captures of stdout and
// stderr. A stream a group's pipe carries is left alone.
type streams struct {
	stdin          *os.File
	stdout, stderr *workdir.Capture
}

// attach sets spec's streams but those piped names: stdin from text (nil:
// /dev/null), stdout and stderr captured up to the output limit.
func attach(spec *sandbox.Spec, text *string, piped map[string]bool) (*streams, error) {
	s := &streams{}
	limit := spec.Limits.WithDefaults().Output
	if text != nil && !piped["stdin"] {
		mf, err := memfd.WithContent("stdin", []byte(*text))
		if err != nil {
			return nil, err
		}
		ro, err := memfd.ReadOnly(mf)
		mf.Close()
		if err != nil {
			return nil, err
		}
		s.stdin, spec.Stdin = ro, ro
	}
	for _, c := range []struct {
		name string
		f    **os.File
		cap  **workdir.Capture
	}{{"stdout", &spec.Stdout, &s.stdout}, {"stderr", &spec.Stderr, &s.stderr}} {
		if piped[c.name] {
			continue
		}
		capture, err := workdir.NewCapture(limit)
		if err != nil {
			s.collect()
			return nil, err
		}
		*c.cap, *c.f = capture, capture.Writer()
	}
	return s, nil
}

// watch attaches the captures to ctx, so the supervisor kills the box
// with output-limit as soon as one overflows.
func (s *streams) watch(ctx context.Context) context.Context {
	for _, c := range []*workdir.Capture{s.stdout, s.stderr} {
		if c != nil {
			ctx = c.Watch(ctx)
		}
	}
	return ctx
}

// collect waits for the captures (the box is gone), releases stdin and
// returns the program's line for res.
func (s *streams) collect() (line ProgramLine) {
	if s.stdin != nil {
		s.stdin.Close()
	}
	if s.stdout != nil {
		data, _ := s.stdout.Wait()
		encodeOutput(data, &line.Stdout, &line.StdoutBase64)
	}
	if s.stderr != nil {
		data, _ := s.stderr.Wait()
		encodeOutput(data, &line.Stderr, &line.StderrBase64)
	}
	return line
}

// fill completes a program's line with its result and copied-out files.
func (line *ProgramLine) fill(res sandbox.Result) {
	line.Result = res
	line.Files, line.FileErrors = map[string]string{}, map[string]string{}
	for name, b := range res.Files {
		var text, b64 *string
		if encodeOutput(b, &text, &b64); text != nil {
			line.Files[name] = *text
		} else {
			if line.FilesBase64 == nil {
				line.FilesBase64 = map[string]string{}
			}
			line.FilesBase64[name] = *b64
		}
	}
	for name, why := range res.FileErrors {
		line.FileErrors[name] = why
	}
}

// runJob runs one program with its streams attached and collects its line.
func runJob(ctx context.Context, r sandbox.Runner, stdin *string, spec sandbox.Spec) (ProgramLine, error) {
	s, err := attach(&spec, stdin, nil)
	if err != nil {
		return ProgramLine{}, err
	}
	res, runErr := r.Run(s.watch(ctx), spec)
	line := s.collect()
	if runErr != nil {
		if errors.Is(runErr, sandbox.ErrInvalidSpec) {
			return ProgramLine{}, runErr
		}
		return ProgramLine{}, fmt.Errorf("%w: %w", ErrNotRun, runErr)
	}
	line.fill(res)
	return line, nil
}

// runGroup runs a group job: the streams its pipes leave free are attached
// as for a single job.
func runGroup(ctx context.Context, r sandbox.Runner, job Job, g sandbox.Group) (GroupLine, error) {
	if err := g.Validate(); err != nil {
		return GroupLine{}, err // before the pipes' program numbers are used
	}
	piped := make([]map[string]bool, len(g.Programs))
	for i := range piped {
		piped[i] = map[string]bool{}
	}
	for _, p := range g.Pipes {
		piped[p.From.Program][p.From.Name] = true
		piped[p.To.Program][p.To.Name] = true
	}
	all := make([]*streams, len(g.Programs))
	collectAll := func() []ProgramLine {
		lines := make([]ProgramLine, len(all))
		for i, s := range all {
			if s != nil {
				lines[i] = s.collect()
			}
		}
		return lines
	}
	for i := range g.Programs {
		s, err := attach(&g.Programs[i], job.Group[i].Stdin, piped[i])
		if err != nil {
			collectAll()
			return GroupLine{}, err
		}
		all[i] = s
	}
	res, runErr := group.Run(ctx, r, g, group.Options{
		ProgramContext: func(i int, ctx context.Context) context.Context { return all[i].watch(ctx) },
	})
	lines := collectAll()
	if runErr != nil {
		if errors.Is(runErr, sandbox.ErrInvalidSpec) {
			return GroupLine{}, runErr
		}
		return GroupLine{}, fmt.Errorf("%w: %w", ErrNotRun, runErr)
	}
	for i := range lines {
		lines[i].fill(res.Programs[i])
	}
	out := GroupLine{Group: lines}
	for _, t := range res.Transcripts {
		tl := TranscriptLine{From: t.Pipe.From.String(), To: t.Pipe.To.String(), Bytes: t.Bytes, Truncated: t.Truncated}
		encodeOutput(t.Data, &tl.Data, &tl.DataBase64)
		out.Transcript = append(out.Transcript, tl)
	}
	return out, nil
}
