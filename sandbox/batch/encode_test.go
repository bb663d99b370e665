package batch

// Tests of a result's text form and of the bounded, exact result line.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestAsText(t *testing.T) {
	text := []string{"", "hello\n", "tab\there\r\n", "ünïcødé ✓ 日本", `{"a": "b\\c"}`, "<html>&amp;</html>"}
	binary := []string{"\x00", "a\x00b", "bell\a", "esc\x1b[0m", "\xff\xfe", "half \xe2\x9c", "del\x7f", "c1 \u0085"}
	for _, s := range text {
		if !asText([]byte(s)) {
			t.Errorf("%q: not text", s)
		}
	}
	for _, s := range binary {
		if asText([]byte(s)) {
			t.Errorf("%q: text", s)
		}
	}
	// Escaping a lot of quotes would cost more than base64.
	if asText(bytes.Repeat([]byte(`"`), 1<<20)) {
		t.Error("1 MiB of quotes sent as text")
	}
	if asText([]byte(strings.Repeat("\u2028", 1<<18))) {
		t.Error("U+2028 (escaped to 6 bytes each) sent as text")
	}
}

// TestResultLineBoundedAndExact (B8): whatever the bytes, the line is at
// most about 4/3 of them plus a constant and they decode byte-exact.
func TestResultLineBoundedAndExact(t *testing.T) {
	const n = 1 << 20
	inputs := map[string][]byte{
		"NULs":        make([]byte, n),
		"quotes":      bytes.Repeat([]byte(`"`), n),
		"backslashes": bytes.Repeat([]byte(`\`), n),
		"angles":      bytes.Repeat([]byte(`<>&`), n/3),
		"text":        bytes.Repeat([]byte("line of text\n"), n/13),
		"invalid":     bytes.Repeat([]byte{0xff, 'a'}, n/2),
		"u2028":       []byte(strings.Repeat("\u2028", n/3)),
	}
	for name, data := range inputs {
		line := ResultLine{ID: json.RawMessage(`"x"`)}
		encodeOutput(data, &line.Stdout, &line.StdoutBase64)
		b, err := marshalLine(line)
		if err != nil {
			t.Fatal(err)
		}
		if max := len(data)*4/3 + 2048; len(b) > max {
			t.Errorf("%s: %d bytes of output make a line of %d bytes, over %d", name, len(data), len(b), max)
		}
		var back struct {
			Stdout       *string `json:"stdout"`
			StdoutBase64 *string `json:"stdout_base64"`
		}
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		var got []byte
		switch {
		case back.Stdout != nil && back.StdoutBase64 != nil:
			t.Errorf("%s: both stdout and stdout_base64", name)
		case back.Stdout != nil:
			got = []byte(*back.Stdout)
		case back.StdoutBase64 != nil:
			got, _ = base64.StdEncoding.DecodeString(*back.StdoutBase64)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s: not byte-exact", name)
		}
	}
}
