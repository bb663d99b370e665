package batch

// The job line: its JSON form, decoding with errors that name the field, and its Spec.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"gosandbox/sandbox"
)

// Job is one decoded job line.
type Job struct {
	// ID is the job's id as it appeared (a JSON string), echoed verbatim in
	// its result; nil when the line had none.
	ID      json.RawMessage   `json:"id"`
	Args    []string          `json:"args"`
	Env     []string          `json:"env"`
	Stdin   *string           `json:"stdin"`
	Files   map[string]string `json:"files"`
	CopyIn  map[string]string `json:"copy_in"`
	CopyOut []string          `json:"copy_out"`
	// Binds are host paths made visible inside, as --bind takes them:
	// "SRC:DST" or "SRC:DST:rw". Refused under Options.CopyInRoot, where
	// job lines are untrusted.
	Binds  []string  `json:"binds"`
	Limits JobLimits `json:"limits"`
}

// JobLimits are a job's limits as written: sizes with B, KiB, MiB, GiB and
// durations in Go syntax. Omitted ones take sandbox.DefaultLimits.
type JobLimits struct {
	CPU       string `json:"cpu"`
	Wall      string `json:"wall"`
	Memory    string `json:"memory"`
	Procs     int    `json:"procs"`
	Output    string `json:"output"`
	Stack     string `json:"stack"`
	OpenFiles int    `json:"open_files"`
	Tmpfs     string `json:"tmpfs"`
}

// DecodeJob reads one job line. Unknown fields, a value of the wrong type,
// trailing data and an id that is not a string are errors; the error says
// what is wrong (without the line number, which the caller adds).
func DecodeJob(line []byte) (Job, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return Job{}, describeJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Job{}, errors.New("trailing data after the job object")
	}
	if j.ID != nil && !isJSONString(j.ID) {
		if string(j.ID) == "null" {
			j.ID = nil
		} else {
			return Job{}, fmt.Errorf("id: want a string, got %s", j.ID)
		}
	}
	return j, nil
}

// PeekID returns the id of a line that failed to decode as a job, if the
// line is a JSON object with a string id; nil otherwise.
func PeekID(line []byte) json.RawMessage {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(line, &v) != nil || !isJSONString(v.ID) {
		return nil
	}
	return v.ID
}

func isJSONString(raw json.RawMessage) bool {
	var s string
	return len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("not valid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("%s: want %s, got a JSON %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Errorf("want a JSON object, got a JSON %s", typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("incomplete JSON object")
	}
	return err
}

// Spec turns the job into a sandbox.Spec, without its standard streams
// (the runner of the batch attaches those). Limits are parsed here; the
// rest is checked by sandbox.Spec.Validate and the Runner.
func (j Job) Spec() (sandbox.Spec, error) {
	spec := sandbox.Spec{Args: j.Args, Env: j.Env, CopyOut: j.CopyOut}
	if len(j.Args) == 0 {
		return spec, errors.New("args: no program to run")
	}
	var err error
	if spec.Limits, err = j.Limits.parse(); err != nil {
		return spec, err
	}
	for _, name := range sortedKeys(j.Files) {
		if _, dup := j.CopyIn[name]; dup {
			return spec, fmt.Errorf("files and copy_in both name %q", name)
		}
		spec.CopyIn = append(spec.CopyIn, sandbox.CopyIn{Name: name, Content: []byte(j.Files[name]), Mode: 0o644})
	}
	for _, name := range sortedKeys(j.CopyIn) {
		spec.CopyIn = append(spec.CopyIn, sandbox.CopyIn{Name: name, HostPath: j.CopyIn[name]})
	}
	for i, b := range j.Binds {
		bind, err := sandbox.ParseBind(b)
		if err != nil {
			return spec, fmt.Errorf("binds[%d] %q: %v", i, b, err)
		}
		spec.Binds = append(spec.Binds, bind)
	}
	return spec, nil
}

func (l JobLimits) parse() (sandbox.Limits, error) {
	var out sandbox.Limits
	dur := func(field, s string, dst *time.Duration) error {
		if s == "" {
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("limits.%s %q: want a positive Go duration such as 500ms or 2s", field, s)
		}
		*dst = d
		return nil
	}
	size := func(field, s string, dst *int64) error {
		if s == "" {
			return nil
		}
		n, err := sandbox.ParseSize(s)
		if err != nil || n == 0 {
			return fmt.Errorf("limits.%s %q: want a positive size such as 64MiB", field, s)
		}
		*dst = n
		return nil
	}
	if err := dur("cpu", l.CPU, &out.CPU); err != nil {
		return out, err
	}
	if err := dur("wall", l.Wall, &out.Wall); err != nil {
		return out, err
	}
	if err := size("memory", l.Memory, &out.Memory); err != nil {
		return out, err
	}
	if err := size("output", l.Output, &out.Output); err != nil {
		return out, err
	}
	if err := size("stack", l.Stack, &out.Stack); err != nil {
		return out, err
	}
	if err := size("tmpfs", l.Tmpfs, &out.Tmpfs); err != nil {
		return out, err
	}
	if l.Procs < 0 {
		return out, fmt.Errorf("limits.procs %d: want a positive number", l.Procs)
	}
	if l.OpenFiles < 0 {
		return out, fmt.Errorf("limits.open_files %d: want a positive number", l.OpenFiles)
	}
	out.Procs, out.OpenFiles = l.Procs, l.OpenFiles
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
