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

	"gosandbox/sandbox"
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
}

// Stats count what a batch did.
type Stats struct {
	Jobs      int // result lines written for jobs that ran
	Malformed int // error lines written (bad lines and refused jobs)
}

// ResultLine is the result of one job that ran. Each captured stream and
// copied-out file is in exactly one of its plain field (a JSON string, when
// it reads as text) and its _base64 field (anything else, byte-exact); see
// asText.
type ResultLine struct {
	ID json.RawMessage `json:"id"`
	sandbox.Result
	Stdout       *string           `json:"stdout,omitempty"`
	StdoutBase64 *string           `json:"stdout_base64,omitempty"`
	Stderr       *string           `json:"stderr,omitempty"`
	StderrBase64 *string           `json:"stderr_base64,omitempty"`
	Files        map[string]string `json:"files"`
	FilesBase64  map[string]string `json:"files_base64,omitempty"`
	FileErrors   map[string]string `json:"file_errors"`
}

// marshalLine encodes a result line without HTML escaping, which would
// make "<" six bytes and break the line's bound.
func marshalLine(line ResultLine) ([]byte, error) {
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
				p.line, p.failed = runLine(ctx, r, o, n, line)
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

// runLine decodes and runs one job line and returns its result line.
func runLine(ctx context.Context, r sandbox.Runner, o Options, n int, line []byte) (out []byte, failed bool) {
	job, err := DecodeJob(line)
	if err != nil {
		return errorLine(PeekID(line), n, err), true
	}
	spec, err := job.Spec()
	if err != nil {
		return errorLine(job.ID, n, err), true
	}
	if o.CopyInRoot != "" && len(spec.Binds) > 0 {
		// Job lines are untrusted here: a bind would show the box any host
		// path the line names.
		return errorLine(job.ID, n, fmt.Errorf("binds %q: not allowed with a copy-in root (job lines are untrusted)", job.Binds)), true
	}
	if o.CopyInRoot != "" {
		confined, release, err := confineCopyIn(spec, o.CopyInRoot)
		if err != nil {
			return errorLine(job.ID, n, err), true
		}
		defer release()
		spec = confined
	}
	res, err := runJob(ctx, r, job, spec)
	if err != nil {
		return errorLine(job.ID, n, err), true
	}
	b, err := marshalLine(res)
	if err != nil {
		return errorLine(job.ID, n, fmt.Errorf("encode result: %w", err)), true
	}
	return b, false
}

func errorLine(id json.RawMessage, n int, err error) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(ErrorLine{ID: id, Error: fmt.Sprintf("line %d: %v", n, err)})
	return append(b, '\n')
}

// runJob attaches stdin (a read-only memfd) and bounded captures of stdout
// and stderr, runs the spec and collects the result line.
func runJob(ctx context.Context, r sandbox.Runner, job Job, spec sandbox.Spec) (ResultLine, error) {
	limit := spec.Limits.WithDefaults().Output
	if job.Stdin != nil {
		mf, err := memfd.WithContent("stdin", []byte(*job.Stdin))
		if err != nil {
			return ResultLine{}, err
		}
		ro, err := memfd.ReadOnly(mf)
		mf.Close()
		if err != nil {
			return ResultLine{}, err
		}
		defer ro.Close()
		spec.Stdin = ro
	}
	stdout, err := workdir.NewCapture(limit)
	if err != nil {
		return ResultLine{}, err
	}
	stderr, err := workdir.NewCapture(limit)
	if err != nil {
		stdout.Wait()
		return ResultLine{}, err
	}
	spec.Stdout, spec.Stderr = stdout.Writer(), stderr.Writer()
	runCtx := stderr.Watch(stdout.Watch(ctx))
	res, runErr := r.Run(runCtx, spec)
	outData, _ := stdout.Wait()
	errData, _ := stderr.Wait()
	if runErr != nil {
		if errors.Is(runErr, sandbox.ErrInvalidSpec) {
			return ResultLine{}, runErr
		}
		return ResultLine{}, fmt.Errorf("not run: %w", runErr)
	}
	line := ResultLine{ID: job.ID, Result: res, Files: map[string]string{}, FileErrors: map[string]string{}}
	encodeOutput(outData, &line.Stdout, &line.StdoutBase64)
	encodeOutput(errData, &line.Stderr, &line.StderrBase64)
	if line.ID == nil {
		line.ID = json.RawMessage("null")
	}
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
	return line, nil
}
