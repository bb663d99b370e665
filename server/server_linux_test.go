package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gosandbox/harness"
	"gosandbox/sandbox"
	"gosandbox/sandbox/container"
	"gosandbox/sandbox/oneshot"
)

// The test binary is also the containers' init.
func TestMain(m *testing.M) {
	container.MaybeRunInit()
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("boxes need root here (user namespaces with the box id mapping, cgroups)")
	}
}

// poolRunner is a container pool that reports itself as the harness's
// backend does.
type poolRunner struct{ *container.Pool }

func (p poolRunner) PoolStats() (int, int, uint64, error) {
	s := p.Stats()
	return s.Size, s.Idle, s.Replaced, s.LastErr
}

func newPool(t *testing.T, size int) poolRunner {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := container.NewPool(ctx, container.PoolOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return poolRunner{p}
}

// start serves o on a free loopback port until the test ends and returns
// the base URL and the log.
func start(t *testing.T, o Options) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := serveOnLoopback(t, s)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return base, logs
}

// serveOnLoopback serves s on a free loopback port until cancel, and
// returns the base URL and where Serve's error arrives.
func serveOnLoopback(t *testing.T, s *Server) (base string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), cancel, served
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var client = &http.Client{Timeout: 2 * time.Minute}

func post(t *testing.T, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the sample named exactly name (with its
// labels, as the text format writes them), or -1.
func metric(t *testing.T, base, token, name string) float64 {
	t.Helper()
	code, text := get(t, base+"/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, text)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestErrorsOfTheContract: malformed 400, oversized 413, no or wrong token
// 401 (but /healthz open), a job that cannot run 400 naming the field.
func TestErrorsOfTheContract(t *testing.T) {
	needRoot(t)
	const token = "s3cret"
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Token: token, MaxBody: 1 << 10})
	for _, tc := range []struct {
		name, token, body string
		code              int
		mention           string
	}{
		{"malformed", token, `{"id":"x","args":`, 400, `"error":"incomplete JSON object"`},
		{"not an object", token, `[1]`, 400, `"error"`},
		{"bad limit", token, `{"id":"m","args":["/bin/true"],"limits":{"memory":"1B"}}`, 400, `limits.memory 1B: below the minimum`},
		{"bad group", token, `{"id":"g","group":[{"args":["/bin/true"]}],"pipes":[["0:stdout","3:stdin"]]}`, 400, `3:stdin`},
		{"oversized", token, `{"id":"big","args":["/bin/true"],"stdin":"` + strings.Repeat("x", 2<<10) + `"}`, 413, `body over 1024 bytes`},
		{"no token", "", `{"id":"a","args":["/bin/true"]}`, 401, `bearer token`},
		{"wrong token", "guess", `{"id":"a","args":["/bin/true"]}`, 401, `bearer token`},
		{"ok", token, `{"id":"a","args":["/bin/echo","hi"]}`, 200, `"stdout":"hi\n"`},
	} {
		code, hdr, body := post(t, base+"/run", tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.mention) {
			t.Errorf("%s: %d %s; want %d mentioning %s", tc.name, code, body, tc.code, tc.mention)
		}
		if code == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	if code, _ := get(t, base+"/metrics", ""); code != 401 {
		t.Errorf("/metrics without token: %d, want 401", code)
	}
	if code, body := get(t, base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
}

// TestFullQueue503: with one run slot and a queue of one, a third request
// while one runs and one waits gets 503 with Retry-After; the other two
// are answered.
func TestFullQueue503(t *testing.T) {
	needRoot(t)
	base, _ := start(t, Options{Runner: &oneshot.Runner{}, Backend: "oneshot", Parallel: 1, Queue: 1})
	slow := `{"id":"slow","args":["/bin/sh","-c","sleep 3; echo slept"],"limits":{"wall":"20s"}}`
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, bodies[i] = post(t, base+"/run", "", slow)
		}()
	}
	// Wait until one runs and the other waits: no timing, the gauge says.
	deadline := time.Now().Add(time.Minute)
	for metric(t, base, "", "gosandbox_queue_depth") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the queue never held one request")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, hdr, body := post(t, base+"/run", "", `{"id":"third","args":["/bin/true"]}`)
	if code != 503 || hdr.Get("Retry-After") == "" || !strings.Contains(body, "queue full") {
		t.Errorf("third request: %d (Retry-After %q) %s; want 503 queue full", code, hdr.Get("Retry-After"), body)
	}
	wg.Wait()
	for i, b := range bodies {
		if !strings.Contains(b, `"stdout":"slept\n"`) {
			t.Errorf("queued request %d: %s", i, b)
		}
	}
}

// TestManyRequestsMetricsMatch: 200 requests, 8 at a time, on a pool of 2
// containers: every answer is its own job's, and /metrics counts them all.
func TestManyRequestsMetricsMatch(t *testing.T) {
	p := newPool(t, 2)
	base, logs := start(t, Options{Runner: p, Backend: "container", Parallel: 2, Queue: 16})
	const total, clients = 200, 8
	jobs := make(chan int, total)
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				code, _, body := post(t, base+"/run", "", fmt.Sprintf(`{"id":"j%d","args":["/bin/echo","%d"]}`, i, i))
				var line struct {
					ID     string         `json:"id"`
					Status sandbox.Status `json:"status"`
					Stdout string         `json:"stdout"`
				}
				if code != 200 || json.Unmarshal([]byte(body), &line) != nil || line.ID != fmt.Sprintf("j%d", i) ||
					line.Status != sandbox.StatusOK || line.Stdout != fmt.Sprintf("%d\n", i) {
					errs <- fmt.Errorf("job %d: %d %s", i, code, body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, want := range map[string]float64{
		`gosandbox_runs_total{status="ok"}`:                         total,
		`gosandbox_run_duration_seconds_count{backend="container"}`: total,
		`gosandbox_http_requests_total{code="200",route="/run"}`:    total,
		`gosandbox_queue_depth`:                                     0,
		`gosandbox_pool_replaced_total`:                             0,
	} {
		if got := metric(t, base, "", name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// One scrape: a reset may end between two.
	_, text := get(t, base+"/metrics", "")
	slots := regexp.MustCompile(`(?m)^gosandbox_pool_slots\{state="(idle|busy)"\} (\d+)$`).FindAllStringSubmatch(text, -1)
	if sum := 0; len(slots) == 2 {
		for _, m := range slots {
			n, _ := strconv.Atoi(m[2])
			sum += n
		}
		if sum != 2 {
			t.Errorf("pool slots %v, want idle + busy = 2", slots)
		}
	} else {
		t.Errorf("pool slots %v in\n%s", slots, text)
	}
	if n := strings.Count(logs.String(), `"msg":"run"`); n != total {
		t.Errorf("%d run log lines, want %d", n, total)
	}
}

// slotsRunner is the harness's slots backend (its Reserve and PoolStats
// are what gosandbox serve --backend slots gets), size slots.
func slotsRunner(t *testing.T, size int) harness.Backend {
	t.Helper()
	needRoot(t)
	b, err := harness.Open("slots", harness.Options{PoolSize: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close slots: %v", err)
		}
	})
	return b
}

// TestGroupOverHTTP: an interactive pair in one request, on two
// containers and on one slot (the pair then needs a slot built for it:
// without a joint reservation one program would wait for the other's
// slot until the wall limit); the pool gauge counts the pool's boxes.
func TestGroupOverHTTP(t *testing.T) {
	for _, b := range []struct {
		name string
		size int
		r    sandbox.Runner
	}{{"container", 2, newPool(t, 2)}, {"slots", 1, slotsRunner(t, 1)}} {
		t.Run(b.name, func(t *testing.T) {
			base, _ := start(t, Options{Runner: b.r, Backend: b.name, Parallel: 2})
			job := `{"id":"pair","limits":{"wall":"10s"},"group":[` +
				`{"args":["/bin/sh","-c","read q; echo \"$q$q\""]},` +
				`{"args":["/bin/sh","-c","echo ab; read a; echo \"got $a\" >&2"]}],` +
				`"pipes":[["0:stdout","1:stdin"],["1:stdout","0:stdin"]]}`
			code, _, body := post(t, base+"/run", "", job)
			if code != 200 || !strings.Contains(body, `"stderr":"got abab\n"`) || strings.Count(body, `"status":"ok"`) != 2 {
				t.Fatalf("%d %s", code, body)
			}
			if got := metric(t, base, "", `gosandbox_runs_total{status="ok"}`); got != 2 {
				t.Errorf("runs_total ok = %v, want 2 (one per program)", got)
			}
			// Without PoolStats the gauge counts the server's 2 run slots.
			// Containers being reset after the group are neither idle nor
			// busy: wait for the resets (the deadline only ends a broken pool).
			var idle, busy float64
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				idle = metric(t, base, "", `gosandbox_pool_slots{state="idle"}`)
				busy = metric(t, base, "", `gosandbox_pool_slots{state="busy"}`)
				if idle+busy == float64(b.size) || time.Now().After(deadline) {
					break
				}
			}
			if idle < 0 || busy < 0 || idle+busy != float64(b.size) {
				t.Errorf("pool slots idle %v + busy %v, want %d (the pool's size)", idle, busy, b.size)
			}
			if code, text := get(t, base+"/healthz", ""); code != http.StatusOK {
				t.Errorf("/healthz: %d %s", code, text)
			}
		})
	}
}

// TestDrainFinishesRuns: when Serve's context ends during runs, they
// finish and are answered; new connections are refused; Serve returns.
func TestDrainFinishesRuns(t *testing.T) {
	p := newPool(t, 2)
	s, err := New(Options{Runner: p, Backend: "container", Parallel: 2, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	base, cancel, done := serveOnLoopback(t, s)
	var wg sync.WaitGroup
	bodies := make([]string, 2)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, bodies[i] = post(t, base+"/run", "", `{"id":"d","args":["/bin/sh","-c","sleep 1; echo finished"]}`)
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for metric(t, base, "", `gosandbox_pool_slots{state="busy"}`) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the runs never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, b := range bodies {
		if !strings.Contains(b, `"stdout":"finished\n"`) {
			t.Errorf("run %d during the drain: %s", i, b)
		}
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("the listener still answers after the drain")
	}
}
