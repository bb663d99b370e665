package vm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The guest sends its results over a serial port as text lines, so that a
// kernel message, a lost byte or a VM killed half-way spoils one file at
// most and is noticed:
//
//	@@gosandbox-vm fact KEY VALUE...
//	@@gosandbox-vm begin NAME SIZE SHA256
//	<base64, at most 76 characters a line>
//	@@gosandbox-vm end NAME
//	@@gosandbox-vm done
//
// A file is accepted only when its size and SHA-256 match its begin line.

const frameMarker = "@@gosandbox-vm "

const base64LineLen = 76

// FrameWriter writes the guest's side of the protocol.
type FrameWriter struct {
	W io.Writer
}

// Fact sends one key and its value (a single line).
func (f FrameWriter) Fact(key, value string) error {
	value = strings.NewReplacer("\n", " ", "\r", " ").Replace(value)
	_, err := fmt.Fprintf(f.W, "%sfact %s %s\n", frameMarker, key, value)
	return err
}

// File sends one file under name (a base name: letters, digits, '.', '_', '-').
func (f FrameWriter) File(name string, data []byte) error {
	if !validFrameName().MatchString(name) {
		return fmt.Errorf("vm: frame: invalid file name %q", name)
	}
	sum := sha256.Sum256(data)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%sbegin %s %d %s\n", frameMarker, name, len(data), hex.EncodeToString(sum[:]))
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 0 {
		n := min(base64LineLen, len(enc))
		b.WriteString(enc[:n])
		b.WriteByte('\n')
		enc = enc[n:]
	}
	fmt.Fprintf(&b, "%send %s\n", frameMarker, name)
	_, err := f.W.Write(b.Bytes())
	return err
}

// Done closes the transcript: everything the guest meant to send was sent.
func (f FrameWriter) Done() error {
	_, err := fmt.Fprintf(f.W, "%sdone\n", frameMarker)
	return err
}

// Compiled on first use: the bounded repetition alone allocates over 100 KB,
// which every program linking this package (the pooled containers' inits
// among them) would otherwise pay at start.
var (
	validFrameName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`) })
	base64Line     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9+/=]+$`) })
)

// Transcript is what a guest sent, as far as it could be read.
type Transcript struct {
	Files map[string][]byte // files whose size and checksum matched
	Facts map[string]string // the last value sent for each key
	Done  bool              // the guest reached its done line
	// Problems describes every file or line that was lost or damaged, in
	// the order found; empty for a clean transcript.
	Problems []string
}

// ParseTranscript reads a serial-port transcript. It never fails on bad
// input: damage is listed in Problems and the rest is kept.
func ParseTranscript(r io.Reader) Transcript {
	t := Transcript{Files: map[string][]byte{}, Facts: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	type open struct {
		name   string
		size   int
		sum    string
		b64    strings.Builder
		broken string
	}
	var cur *open
	closeCur := func(why string) {
		if cur != nil {
			t.Problems = append(t.Problems, fmt.Sprintf("file %s: %s", cur.name, why))
			cur = nil
		}
	}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r \t")
		i := strings.Index(line, frameMarker)
		if i < 0 {
			if cur == nil {
				continue // console chatter
			}
			if line == "" {
				continue
			}
			if !base64Line().MatchString(line) {
				if cur.broken == "" {
					cur.broken = fmt.Sprintf("garbled line %d", lineNo)
				}
				continue
			}
			cur.b64.WriteString(line)
			continue
		}
		fields := strings.Fields(line[i+len(frameMarker):])
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "fact":
			if len(fields) >= 2 {
				rest := strings.TrimSpace(line[i+len(frameMarker):])
				rest = strings.TrimSpace(strings.TrimPrefix(rest, "fact"))
				_, v, _ := strings.Cut(rest, " ")
				t.Facts[fields[1]] = strings.TrimSpace(v)
			}
		case "begin":
			closeCur("no end line before the next file (truncated)")
			if len(fields) != 4 || !validFrameName().MatchString(fields[1]) {
				t.Problems = append(t.Problems, fmt.Sprintf("line %d: malformed begin line", lineNo))
				continue
			}
			size, err := strconv.Atoi(fields[2])
			if err != nil || size < 0 {
				t.Problems = append(t.Problems, fmt.Sprintf("line %d: malformed size in begin line", lineNo))
				continue
			}
			cur = &open{name: fields[1], size: size, sum: fields[3]}
		case "end":
			if cur == nil {
				t.Problems = append(t.Problems, fmt.Sprintf("line %d: end line without a begin", lineNo))
				continue
			}
			if len(fields) != 2 || fields[1] != cur.name {
				closeCur(fmt.Sprintf("end line %d names another file", lineNo))
				continue
			}
			if cur.broken != "" {
				closeCur(cur.broken)
				continue
			}
			data, err := base64.StdEncoding.DecodeString(cur.b64.String())
			if err != nil {
				closeCur(fmt.Sprintf("bad base64: %v", err))
				continue
			}
			sum := sha256.Sum256(data)
			switch {
			case len(data) != cur.size:
				closeCur(fmt.Sprintf("%d bytes received, %d sent", len(data), cur.size))
			case hex.EncodeToString(sum[:]) != cur.sum:
				closeCur("checksum mismatch")
			default:
				t.Files[cur.name] = data
				cur = nil
			}
		case "done":
			closeCur("no end line before done (truncated)")
			t.Done = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Problems = append(t.Problems, fmt.Sprintf("reading the transcript: %v", err))
	}
	closeCur("transcript ends inside the file (truncated)")
	if !t.Done {
		t.Problems = append(t.Problems, "no done line: the guest stopped before the end (crash, hang or timeout)")
	}
	return t
}
