package sandbox

// ParseBind and ParseCopyIn: the CLI forms of Bind and CopyIn.

import (
	"fmt"
	"path"
	"strings"
)

// ParseBind reads a bind in the CLI's form SRC:DST or SRC:DST:rw (SRC on the
// host, DST inside the box, both absolute; read-only unless ":rw").
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	var b Bind
	switch len(parts) {
	case 2:
	case 3:
		if parts[2] != "rw" && parts[2] != "ro" {
			return Bind{}, fmt.Errorf("bind %q: the third field must be rw or ro, not %q", s, parts[2])
		}
		b.Writable = parts[2] == "rw"
	default:
		return Bind{}, fmt.Errorf("bind %q: want SRC:DST or SRC:DST:rw", s)
	}
	b.Source, b.Target = parts[0], parts[1]
	if !path.IsAbs(b.Source) || !path.IsAbs(b.Target) {
		return Bind{}, fmt.Errorf("bind %q: SRC and DST must be absolute paths", s)
	}
	return b, nil
}

// ParseCopyIn reads a copy-in in the CLI's form HOSTPATH:NAME (NAME relative
// to the work directory). The host path may itself contain colons; the
// last one separates the name.
func ParseCopyIn(s string) (CopyIn, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return CopyIn{}, fmt.Errorf("copy-in %q: want HOSTPATH:NAME", s)
	}
	c := CopyIn{HostPath: s[:i], Name: s[i+1:]}
	if err := checkBoxName(c.Name); err != nil {
		return CopyIn{}, fmt.Errorf("copy-in %q: %v", s, err)
	}
	return c, nil
}
