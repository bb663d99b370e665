package batch

// The job line: its JSON form, decoding with errors that name the field, and its Spec.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gosandbox/sandbox"
)

// Job is one decoded job line: one program (the fields of Program), or a
// group of programs joined by pipes (Group, Pipes, Transcript).
type Job struct {
	// ID is the job's id as it appeared (a JSON string), echoed verbatim in
	// its result; nil when the line had none.
	ID json.RawMessage `json:"id"`
	Program
	// Binds are host paths made visible inside, as --bind takes them:
	// "SRC:DST" or "SRC:DST:rw". Refused under Options.CopyInRoot, where
	// job lines are untrusted, and in a group.
	Binds []string `json:"binds"`

	// Group, when set, holds the programs of a group instead of Program
	// (whose fields must then be empty but limits.wall, the group's one
	// clock).
	Group []Program `json:"group"`
	// Pipes join streams of the group: ["0:stdout", "1:stdin"] feeds what
	// program 0 writes to program 1.
	Pipes [][]string `json:"pipes"`
	// Transcript, a size ("1MiB"), keeps up to that many bytes of what
	// crossed each pipe.
	Transcript string `json:"transcript"`
}

// Program is one program of a job: the job itself, or a member of its
// group.
type Program struct {
	Args    []string          `json:"args"`
	Env     []string          `json:"env"`
	Stdin   *string           `json:"stdin"`
	Files   map[string]string `json:"files"`
	CopyIn  map[string]string `json:"copy_in"`
	CopyOut []string          `json:"copy_out"`
	Limits  JobLimits         `json:"limits"`
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

// DecodeJob reads one job line. Unknown fields (field names are exact,
// not matched regardless of case), a key given twice in one object, a
// value of the wrong type, trailing data and an id that is not a string
// are errors; the error says
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
	if err := checkKeys(line); err != nil {
		return Job{}, err
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
			// The fields of the embedded Program are the job's own.
			field := strings.TrimPrefix(typ.Field, "Program.")
			return fmt.Errorf("%s: want %s, got a JSON %s", field, typ.Type, typ.Value)
		}
		return fmt.Errorf("want a JSON object, got a JSON %s", typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("incomplete JSON object")
	}
	return err
}

// IsGroup reports whether the job is a program group.
func (j Job) IsGroup() bool { return j.Group != nil }

// Spec turns a single-program job into a sandbox.Spec, without its
// standard streams (the runner of the batch attaches those). Limits are
// parsed here; the rest is checked by sandbox.Spec.Validate and the Runner.
func (j Job) Spec() (sandbox.Spec, error) {
	if j.IsGroup() {
		return sandbox.Spec{}, errors.New("group: a group job has no single spec")
	}
	spec, err := j.Program.spec("")
	if err != nil {
		return spec, err
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

// GroupSpec turns a group job into a sandbox.Group, without the streams
// the pipes leave free (the runner of the batch attaches those). Errors
// name the field at fault ("group[1].limits.cpu", "pipes[0][1]").
func (j Job) GroupSpec() (sandbox.Group, error) {
	var g sandbox.Group
	if len(j.Group) == 0 {
		return g, errors.New("group: no programs")
	}
	if len(j.Group) > MaxGroup {
		return g, fmt.Errorf("group: %d programs, more than %d", len(j.Group), MaxGroup)
	}
	top := j.Program
	switch {
	case top.Args != nil || top.Env != nil || top.Stdin != nil || top.Files != nil || top.CopyIn != nil || top.CopyOut != nil:
		return g, errors.New("group: args, env, stdin, files, copy_in and copy_out belong to each program of the group, not to the job")
	case top.Limits != (JobLimits{Wall: top.Limits.Wall}):
		return g, errors.New("group: the job's limits hold only wall (the group's one clock); set the others per program")
	case j.Binds != nil:
		return g, errors.New("binds: not available in a group")
	}
	limits, err := top.Limits.parse("")
	if err != nil {
		return g, err
	}
	g.Wall = limits.Wall
	if j.Transcript != "" {
		if g.Transcript, err = sandbox.ParseSize(j.Transcript); err != nil || g.Transcript == 0 {
			return g, fmt.Errorf("transcript %q: want a positive size such as 1MiB", j.Transcript)
		}
	}
	for i, p := range j.Group {
		prefix := fmt.Sprintf("group[%d].", i)
		if p.Limits.Wall != "" {
			return g, fmt.Errorf("%slimits.wall: the group has one clock, the job's limits.wall", prefix)
		}
		spec, err := p.spec(prefix)
		if err != nil {
			return g, err
		}
		g.Programs = append(g.Programs, spec)
	}
	for i, ends := range j.Pipes {
		if len(ends) != 2 {
			return g, fmt.Errorf("pipes[%d]: want [FROM, TO], such as [\"0:stdout\", \"1:stdin\"]", i)
		}
		var pipe sandbox.Pipe
		for k, dst := range []*sandbox.Stream{&pipe.From, &pipe.To} {
			if *dst, err = sandbox.ParseStream(ends[k]); err != nil {
				return g, fmt.Errorf("pipes[%d][%d]: %v", i, k, err)
			}
		}
		if pipe.To.Name == "stdin" && pipe.To.Program < len(j.Group) && j.Group[pipe.To.Program].Stdin != nil {
			return g, fmt.Errorf("pipes[%d]: %s is fed by the pipe, and group[%d].stdin is set too", i, pipe.To, pipe.To.Program)
		}
		g.Pipes = append(g.Pipes, pipe)
	}
	return g, nil
}

// spec is the Spec of one program; prefix names it in errors.
func (p Program) spec(prefix string) (sandbox.Spec, error) {
	spec := sandbox.Spec{Args: p.Args, Env: p.Env, CopyOut: p.CopyOut}
	if len(p.Args) == 0 {
		return spec, fmt.Errorf("%sargs: no program to run", prefix)
	}
	var err error
	if spec.Limits, err = p.Limits.parse(prefix); err != nil {
		return spec, err
	}
	// Every name is read after the run, outside the wall limit: one name
	// repeated would read one file over and over, and no more names can
	// exist than /w has inodes.
	if max := sandbox.WorkDirInodes(spec.Limits.WithDefaults().Tmpfs); len(p.CopyOut) > max {
		return spec, fmt.Errorf("%scopy_out: %d names, more than the work directory's %d inodes", prefix, len(p.CopyOut), max)
	}
	seen := make(map[string]int, len(p.CopyOut))
	for i, name := range p.CopyOut {
		if j, dup := seen[name]; dup {
			return spec, fmt.Errorf("%scopy_out[%d] %q: also copy_out[%d]", prefix, i, name, j)
		}
		seen[name] = i
	}
	for _, name := range sortedKeys(p.Files) {
		if _, dup := p.CopyIn[name]; dup {
			return spec, fmt.Errorf("%sfiles and %scopy_in both name %q", prefix, prefix, name)
		}
		spec.CopyIn = append(spec.CopyIn, sandbox.CopyIn{Name: name, Content: []byte(p.Files[name]), Mode: 0o644})
	}
	for _, name := range sortedKeys(p.CopyIn) {
		spec.CopyIn = append(spec.CopyIn, sandbox.CopyIn{Name: name, HostPath: p.CopyIn[name]})
	}
	return spec, nil
}

// parse reads the limits; prefix names the program in errors.
func (l JobLimits) parse(prefix string) (sandbox.Limits, error) {
	var out sandbox.Limits
	dur := func(field, s string, dst *time.Duration) error {
		if s == "" {
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%slimits.%s %q: want a positive Go duration such as 500ms or 2s", prefix, field, s)
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
			return fmt.Errorf("%slimits.%s %q: want a positive size such as 64MiB", prefix, field, s)
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
		return out, fmt.Errorf("%slimits.procs %d: want a positive number", prefix, l.Procs)
	}
	if l.OpenFiles < 0 {
		return out, fmt.Errorf("%slimits.open_files %d: want a positive number", prefix, l.OpenFiles)
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
