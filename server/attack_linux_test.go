package server

// Hostile clients: slow bodies, answers never read, idle connections,
// and a drain that meets them. Every client here is ordinary code over a
// real loopback port; only the sandboxed programs run untrusted code.

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gosandbox/sandbox/oneshot"
)

// dial opens a raw connection to base ("http://HOST:PORT"), closed when
// the test ends.
func dial(t *testing.T, base string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// slowBody sends the headers of a /run request and the first byte of a
// body it promises to be 1000 bytes long, and no more.
func slowBody(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := io.WriteString(c, "POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
}

// TestSlowBodyLosesItsAdmission: two clients that send their headers and
// then a body byte by never fill the one run slot and the one queue place
// for good: each gets 408 once the body timeout has passed, and a third
// request is then answered. (Before: no body deadline, both held their
// admission as long as they kept the connection, and every other request
// got 503.)
func TestSlowBodyLosesItsAdmission(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Parallel: 1, Queue: 1, BodyTimeout: 300 * time.Millisecond})
	conns := []net.Conn{dial(t, base), dial(t, base)}
	for _, c := range conns {
		slowBody(t, c)
	}
	for i, c := range conns {
		// Generous: only a server that never answers reaches it.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow client %d: no answer (%v): it keeps its admission as long as it likes", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "body") {
			t.Errorf("slow client %d: %d %s; want 408 naming the body", i, resp.StatusCode, b)
		}
	}
	if code, _, body := post(t, base+"/run", "", `{"id":"after","args":["/bin/echo","in"]}`); code != 200 || !strings.Contains(body, `"stdout":"in\n"`) {
		t.Errorf("request after the slow ones: %d %s", code, body)
	}
}

// TestSlowReaderLosesItsAdmission: a client that posts a job whose answer
// is far larger than the socket buffers and never reads it does not keep
// the handler (and its admission) forever: the answer's write times out
// and the request is counted as answered. (Before: no write deadline, the
// handler blocked in Write as long as the client kept the connection, and
// the drain waited for it.)
func TestSlowReaderLosesItsAdmission(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Parallel: 1, Queue: 1, WriteTimeout: 300 * time.Millisecond})
	c := dial(t, base)
	job := `{"id":"flood","args":["/bin/sh","-c","head -c 33554432 /dev/zero | tr '\\0' a"],"limits":{"output":"48MiB","wall":"20s"}}`
	if _, err := io.WriteString(c, "POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(job))+"\r\n\r\n"+job); err != nil {
		t.Fatal(err)
	}
	// The counter moves once the handler has returned; never reading
	// the answer, only a write deadline lets it return.
	deadline := time.Now().Add(60 * time.Second)
	for metric(t, base, "", `gosandbox_http_requests_total{code="200",route="/run"}`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the handler is still blocked writing to a client that does not read")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleConnectionClosed: a keep-alive connection that sends nothing
// after its first request is closed by the server. (Before: no idle
// timeout, so every such connection cost a descriptor and a goroutine for
// as long as the client liked.)
func TestIdleConnectionClosed(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", IdleTimeout: 300 * time.Millisecond})
	c := dial(t, base)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle keep-alive connection: %v, want EOF (closed by the server)", err)
	}
}

// TestDrainNotHeldBySlowBody: SIGTERM (the context ending) while a
// client is half-way through its body: the drain ends (the body times out
// with 408), with no drain timeout. (Before: Serve never returned.)
func TestDrainNotHeldBySlowBody(t *testing.T) {
	needRoot(t)
	s, err := New(Options{Runner: &oneshot.Runner{}, Backend: "oneshot", BodyTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := serveOnLoopback(t, s)
	c := dial(t, base)
	slowBody(t, c)
	// A request after the slow one's headers, on another connection,
	// is answered after them: the server has the slow one by then.
	if code, _ := get(t, base+"/healthz", ""); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		c.Close() // lets the broken server's Serve end with the test
		t.Fatal("the drain waits for a client that never finishes its body")
	}
}

// TestCeilingOverHTTP: a job asking for more output, tmpfs or wall time
// than the server's ceiling is 400 naming the field, the value and the
// ceiling; the default ceiling holds without any option, and so does the
// bound on what one job could capture in all. (A wall of 1000h held a run
// slot, and the drain, for that long; a group of 16 programs at the
// output ceiling could make the server hold 2 GiB.) (Before: "output": "8GiB"
// ran, and the server would buffer up to 8 GiB per stream of what the
// program printed, in memory no box limit charges.)
func TestCeilingOverHTTP(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot"})
	for _, tc := range []struct{ body, mention string }{
		{`{"id":"o","args":["/bin/true"],"limits":{"output":"8GiB"}}`, `limits.output 8GiB: above the ceiling 64MiB`},
		{`{"id":"t","group":[{"args":["/bin/true"],"limits":{"tmpfs":"4GiB"}}]}`, `group[0].limits.tmpfs 4GiB: above the ceiling 256MiB`},
		{`{"id":"w","args":["/bin/true"],"limits":{"wall":"1000h"}}`, `limits.wall 1000h0m0s: above the ceiling 10m0s`},
		{`{"id":"gw","limits":{"wall":"11m"},"group":[{"args":["/bin/true"]}]}`, `limits.wall 11m0s: above the ceiling 10m0s`},
		{`{"id":"g16","group":[` + strings.TrimSuffix(strings.Repeat(`{"args":["/bin/true"],"limits":{"output":"64MiB"}},`, 16), ",") + `]}`,
			`could capture up to 2GiB, more than the most, 512MiB`},
	} {
		if code, _, body := post(t, base+"/run", "", tc.body); code != 400 || !strings.Contains(body, tc.mention) {
			t.Errorf("%s: %d %s; want 400 mentioning %s", tc.body, code, body, tc.mention)
		}
	}
	if code, _, body := post(t, base+"/run", "", `{"id":"ok","args":["/bin/echo","x"],"limits":{"output":"64MiB","tmpfs":"256MiB"}}`); code != 200 || !strings.Contains(body, `"stdout":"x\n"`) {
		t.Errorf("at the ceiling: %d %s", code, body)
	}
}

// TestCopyOutNeverFollowsPlantedLinks: a program plants symlinks in /w
// to a host file and to a host directory and asks for them back; the
// answer carries a reason for each, never the host file. (Held before.)
func TestCopyOutNeverFollowsPlantedLinks(t *testing.T) {
	needRoot(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host-only-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot"})
	job := `{"id":"plant","args":["/bin/sh","-c","ln -s ` + secret + ` s; ln -s ` + filepath.Dir(secret) + ` d; ln -s /etc/passwd p; ln s s2"],` +
		`"copy_out":["s","d/secret","p","s2"]}`
	code, _, body := post(t, base+"/run", "", job)
	var line struct {
		Files      map[string]string `json:"files"`
		FileErrors map[string]string `json:"file_errors"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &line) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if strings.Contains(body, "host-only-secret") || strings.Contains(body, "root:") || len(line.Files) != 0 || len(line.FileErrors) != 4 {
		t.Errorf("copy-out of planted links: %s", body)
	}
}

// TestHostPathsNeedTheOperator: without a copy-in root and without
// TrustClients, a /run job naming a host path (copy_in, binds) is 400
// naming the field, and nothing of it runs. (Before: any client holding
// the token read any host file as root through copy_in, and bound / into
// its box read-write.)
func TestHostPathsNeedTheOperator(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("host-only-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot"})
	for _, tc := range []struct{ body, mention string }{
		{`{"id":"c","args":["/bin/cat","s"],"copy_in":{"s":"` + secret + `"}}`, `copy_in`},
		{`{"id":"g","group":[{"args":["/bin/cat","s"],"copy_in":{"s":"` + secret + `"}}]}`, `copy_in`},
		{`{"id":"b","args":["/bin/cat","/host` + secret + `"],"binds":["/:/host:rw"]}`, `binds`},
	} {
		code, _, body := post(t, base+"/run", "", tc.body)
		if code != 400 || !strings.Contains(body, tc.mention) || strings.Contains(body, "host-only-secret") {
			t.Errorf("%s: %d %s; want 400 naming %s", tc.body, code, body, tc.mention)
		}
	}
	// The operator's opt-in: then copy_in reads the host path.
	base, _ = start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", TrustClients: true})
	if code, _, body := post(t, base+"/run", "", `{"id":"c","args":["/bin/cat","s"],"copy_in":{"s":"`+secret+`"}}`); code != 200 || !strings.Contains(body, `"stdout":"host-only-secret\n"`) {
		t.Errorf("with TrustClients: %d %s", code, body)
	}
}

// TestAuthorizationVariants: the scheme is case-insensitive (RFC 9110
// 11.1), the token is not, and neither a prefix of the token, the token
// with more after it, nor another scheme passes; /metrics answers to the
// same. (Before: "bearer TOKEN", the form some clients send, was 401.)
func TestAuthorizationVariants(t *testing.T) {
	needRoot(t)
	const token = "s3cret-T0ken"
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Token: token})
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"Bearer " + token, 200},
		{"bearer " + token, 200},
		{"BEARER " + token, 200},
		{"Bearer " + strings.ToLower(token), 401},
		{"Bearer " + token[:len(token)-1], 401},
		{"Bearer " + token + "x", 401},
		{"Bearer " + token + " x", 401},
		{"Basic " + token, 401},
		{token, 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"", 401},
	} {
		for _, route := range []string{"/run", "/metrics"} {
			method, body := http.MethodGet, ""
			if route == "/run" {
				method, body = http.MethodPost, `{"id":"a","args":["/bin/true"]}`
			}
			req, _ := http.NewRequest(method, base+route, strings.NewReader(body))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("%s with Authorization %q: %d, want %d", route, tc.header, resp.StatusCode, tc.code)
			}
		}
	}
}

// TestBodyLimitExact: a body of exactly MaxBody bytes is read (and judged
// as a job), one byte more is 413, and so is a chunked body that grows
// past the limit with no Content-Length. (Held before.)
func TestBodyLimitExact(t *testing.T) {
	needRoot(t)
	const limit = 4096
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", MaxBody: limit})
	job := func(size int) string {
		head := `{"id":"e","args":["/bin/true"],"stdin":"`
		return head + strings.Repeat("x", size-len(head)-2) + `"}`
	}
	if code, _, body := post(t, base+"/run", "", job(limit)); code != 200 {
		t.Errorf("a body of exactly the limit: %d %s", code, body)
	}
	if code, _, body := post(t, base+"/run", "", job(limit+1)); code != 413 {
		t.Errorf("one byte over: %d %s", code, body)
	}
	// A chunked body: the reader hides its length from the client.
	req, _ := http.NewRequest(http.MethodPost, base+"/run", io.MultiReader(strings.NewReader(job(limit*4))))
	req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked over the limit: %d, want 413", resp.StatusCode)
	}
}

// TestHealthzSaysNoMore: /healthz, open to anyone, says ok or why not in
// a word, never the pool's last error (host paths, errno text), which
// the log has. (Before: "no box ready: " and the error verbatim.)
func TestHealthzSaysNoMore(t *testing.T) {
	needRoot(t)
	base, logs := start(t, Options{Runner: failingPool{&oneshot.Runner{}}, Backend: "oneshot", Token: "t"})
	code, body := get(t, base+"/healthz", "")
	if code != 503 || strings.Contains(body, "/var/secret") || !strings.Contains(body, "no box ready") {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if !strings.Contains(logs.String(), "/var/secret/path") {
		t.Errorf("the log lacks the pool's error: %s", logs.String())
	}
}

// failingPool reports a pool with no idle box whose last rebuild failed.
type failingPool struct{ *oneshot.Runner }

func (failingPool) PoolStats() (int, int, uint64, error) {
	return 1, 0, 3, errors.New("container: mount /var/secret/path: permission denied")
}

// TestHealthzLogsOncePerChange: an unhealthy pool makes /healthz log its
// error once, not once per request (anyone may ask, as often as they
// like); a new error, and the pool's recovery, are logged once each.
// (Before: a warning line per request.)
func TestHealthzLogsOncePerChange(t *testing.T) {
	needRoot(t)
	pool := &changingPool{Runner: &oneshot.Runner{}}
	pool.set(errors.New("container: build: first failure"))
	base, logs := start(t, Options{Runner: pool, Backend: "oneshot", Token: "t"})
	ask := func(n, want int) {
		t.Helper()
		for range n {
			if code, _ := get(t, base+"/healthz", ""); code != want {
				t.Fatalf("/healthz %d, want %d", code, want)
			}
		}
	}
	ask(20, 503)
	pool.set(errors.New("container: build: second failure"))
	ask(20, 503)
	pool.set(nil)
	ask(5, 200)
	pool.set(errors.New("container: build: second failure"))
	ask(5, 503)
	text := logs.String()
	for _, c := range []struct {
		what string
		want int
	}{{"first failure", 1}, {"second failure", 2}, {"ready again", 1}} {
		if got := strings.Count(text, c.what); got != c.want {
			t.Errorf("%q logged %d times, want %d:\n%s", c.what, got, c.want, text)
		}
	}
}

// changingPool reports a pool with no idle box whose last rebuild failed
// with the error set last, or one that is ready (nil).
type changingPool struct {
	*oneshot.Runner
	mu  sync.Mutex
	err error
}

func (p *changingPool) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *changingPool) PoolStats() (int, int, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return 1, 1, 0, nil
	}
	return 1, 0, 3, p.err
}

// TestConnectionsBounded: with MaxConns 2, two connections that send
// nothing keep a third from being served until one of them goes; the
// server never holds more connections (descriptors, goroutines, buffers)
// than that, however many a client opens. (Before: every connection was
// accepted: a flood of idle connections, each held up to the header
// timeout, grew the server's memory and descriptors without bound.)
func TestConnectionsBounded(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", MaxConns: 2})
	idle := []net.Conn{dial(t, base), dial(t, base)}
	// Both are accepted before the third: the listener's backlog is FIFO
	// and a served request proves the server is at its Accept; still, let
	// both handshakes be taken.
	third := dial(t, base)
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(third)
	// A short wait: a server over its bound answers at once, so a slow
	// host can only make this pass wrongly, never fail wrongly.
	third.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a third connection was served while two were open")
	}
	idle[0].Close()
	third.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the third connection, once one went: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz %d", resp.StatusCode)
	}
}

// TestSlowBodyRefusedEarly: a request refused before its body is read
// (no token, a full queue, a wrong method) with a body that trickles in
// is still answered, and its connection let go, within the body timeout:
// net/http reads up to 256 KiB of an unread body before it answers, and
// that read had no deadline. (Before: the answer never came, and the
// connection, one of MaxConns, was held for as long as the client liked,
// with no token needed.)
func TestSlowBodyRefusedEarly(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Token: "t", BodyTimeout: 300 * time.Millisecond})
	for _, head := range []string{
		"POST /run HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
		"PUT /run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 1000\r\n\r\n{",
		"POST /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Length: 1000\r\n\r\n{",
		"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
	} {
		c := dial(t, base)
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%q: no answer (%v)", strings.SplitN(head, "\r\n", 2)[0], err)
			continue
		}
		resp.Body.Close()
	}
}

// TestLogLinesBounded: a run's log line stays short whatever the client
// put in its id or in the field an error quotes. (Before: the id and the
// error went to the log verbatim: a 1 MiB id made a 1 MiB log line per
// request, a disk filled at the request rate.)
func TestLogLinesBounded(t *testing.T) {
	needRoot(t)
	base, logs := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot"})
	big := strings.Repeat("i", 1<<20)
	post(t, base+"/run", "", `{"id":"`+big+`","args":["/bin/true"]}`)
	post(t, base+"/run", "", `{"id":"e","args":["/bin/true"],"limits":{"cpu":"`+big+`"}}`)
	post(t, base+"/run", "", `{"id":"`+big+`","args":"not a list"}`)
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 4<<10 {
			t.Errorf("a log line of %d bytes: %.200s", len(line), line)
		}
	}
	if n := strings.Count(logs.String(), `"msg":"run"`); n != 3 {
		t.Errorf("%d run lines, want 3:\n%.2000s", n, logs.String())
	}
}
