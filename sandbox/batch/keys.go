package batch

// Exact keys: a job line's field names as the struct tags spell them, each given once.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// encoding/json matches field names case-insensitively and keeps the
// last of duplicate keys, so {"ARGS": ...} and {"args": A, "args": B}
// decode without error. A front end that checks a job line with another
// JSON reader (first key wins, exact names) would then approve one job
// and have another run; checkKeys refuses both forms instead.

// keySchema is what an object of the job line may hold: for a struct its
// exact field names (each with the schema of its value), for a map
// (files, copy_in) any key, each once.
type keySchema struct {
	fields map[string]*keySchema // nil: a map, any key
	elem   *keySchema            // the elements of an array, or a map's values
	isMap  bool
}

var (
	jobSchemaOnce sync.Once
	jobSchema     *keySchema
)

// schemaOf builds the schema of t from its json tags (embedded structs
// flattened, as encoding/json does); nil for values with no objects.
func schemaOf(t reflect.Type) *keySchema {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		if e := schemaOf(t.Elem()); e != nil {
			return &keySchema{elem: e}
		}
		return nil
	case reflect.Map:
		return &keySchema{isMap: true, elem: schemaOf(t.Elem())}
	case reflect.Struct:
		if t == reflect.TypeFor[json.RawMessage]() {
			return nil
		}
		s := &keySchema{fields: map[string]*keySchema{}}
		var add func(t reflect.Type)
		add = func(t reflect.Type) {
			for f := range t.Fields() {
				if f.Anonymous && f.Type.Kind() == reflect.Struct {
					add(f.Type)
					continue
				}
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name == "-" || !f.IsExported() {
					continue
				}
				if name == "" {
					name = f.Name
				}
				s.fields[name] = schemaOf(f.Type)
			}
		}
		add(t)
		return s
	}
	return nil
}

// checkKeys walks line (valid JSON: it decoded) and refuses a key that
// is not a field's exact name, and a key given twice in one object; errors
// name the object ("group[1].limits").
func checkKeys(line []byte) error {
	jobSchemaOnce.Do(func() { jobSchema = schemaOf(reflect.TypeFor[Job]()) })
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	return walkKeys(dec, jobSchema, "")
}

func walkKeys(dec *json.Decoder, s *keySchema, where string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	in := func(name string) string {
		if where == "" {
			return name
		}
		return where + "." + name
	}
	prefix := ""
	if where != "" {
		prefix = where + ": "
	}
	switch delim {
	case '[':
		var elem *keySchema
		if s != nil {
			elem = s.elem
		}
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, elem, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string)
			if seen[key] {
				return fmt.Errorf("%s%q: given twice", prefix, key)
			}
			seen[key] = true
			var next *keySchema
			switch {
			case s == nil:
			case s.isMap:
				next = s.elem
			default:
				f, known := s.fields[key]
				if !known {
					return fmt.Errorf("%s%q: unknown field (field names are exact: %s)", prefix, key, closest(s, key))
				}
				next = f
			}
			if err := walkKeys(dec, next, in(key)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// closest names the field key differs from only in case, or lists them
// all.
func closest(s *keySchema, key string) string {
	names := make([]string, 0, len(s.fields))
	for name := range s.fields {
		if strings.EqualFold(name, key) {
			return name
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
