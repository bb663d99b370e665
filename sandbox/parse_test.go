package sandbox

// Tests of parsing bind and copy-in arguments.

import "testing"

func TestParseBind(t *testing.T) {
	good := map[string]Bind{
		"/opt/data:/data":    {Source: "/opt/data", Target: "/data"},
		"/opt/data:/data:rw": {Source: "/opt/data", Target: "/data", Writable: true},
		"/opt/data:/data:ro": {Source: "/opt/data", Target: "/data"},
	}
	for in, want := range good {
		got, err := ParseBind(in)
		if err != nil || got != want {
			t.Errorf("ParseBind(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/a", "a:/b", "/a:b", "/a:/b:rx", "/a:/b:rw:x"} {
		if _, err := ParseBind(in); err == nil {
			t.Errorf("ParseBind(%q) accepted", in)
		}
	}
}

func TestParseCopyIn(t *testing.T) {
	good := map[string]CopyIn{
		"sol.c:main.c":          {HostPath: "sol.c", Name: "main.c"},
		"/tmp/a:b/in.txt":       {HostPath: "/tmp/a", Name: "b/in.txt"},
		"/odd:path/x:input.txt": {HostPath: "/odd:path/x", Name: "input.txt"},
	}
	for in, want := range good {
		got, err := ParseCopyIn(in)
		if err != nil || got.HostPath != want.HostPath || got.Name != want.Name {
			t.Errorf("ParseCopyIn(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "sol.c", ":x", "x:", "a:/abs", "a:../up", "a:b/../c"} {
		if _, err := ParseCopyIn(in); err == nil {
			t.Errorf("ParseCopyIn(%q) accepted", in)
		}
	}
}
