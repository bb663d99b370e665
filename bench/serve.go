package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"gosandbox/bench/benchjson"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gosandbox/harness"
	"gosandbox/server"
)

// serveJob is the body of every request: the batch job line of /bin/true,
// with the PATH every other scenario gives it.
const serveJob = `{"id":"bench","args":["/bin/true"],"env":["PATH=/usr/bin:/bin"]}`

// serveBackends are the backends of this run that gosandbox serve accepts
// (harness.Sandboxes, as serve checks --backend), so that a sandbox added
// to the harness is measured here without a change.
func (r *runner) serveBackends() []string {
	var out []string
	for _, name := range harness.Sandboxes() {
		if slices.Contains(r.backends, name) {
			out = append(out, name)
		}
	}
	return out
}

// serveTarget is one server of the scenario: a backend behind the real
// server package on a loopback port, and the client that talks to it.
type serveTarget struct {
	name   string
	c      int
	url    string
	client *http.Client
	stop   context.CancelFunc
	served chan error
}

// serveTimeout bounds one request: the job's default wall limit is far
// below it, so a request that takes this long is a hung server.
const serveTimeout = time.Minute

// startServe serves b with c run slots on 127.0.0.1 (a port the kernel
// picks) and returns the target with a client of c kept-alive connections.
func startServe(b harness.Backend, c int) (*serveTarget, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("serve: listen on loopback: %w", err)
	}
	// The server logs one JSON line per run, as gosandbox serve does; the
	// bench pays for the formatting and drops the lines.
	srv, err := server.New(server.Options{Runner: b, Backend: b.Name(), Parallel: c,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	t := &serveTarget{name: b.Name(), c: c, url: "http://" + ln.Addr().String() + "/run", stop: stop, served: make(chan error, 1),
		client: &http.Client{Timeout: serveTimeout, Transport: &http.Transport{
			Proxy: nil, MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true}}}
	go func() { t.served <- srv.Serve(ctx, ln) }()
	return t, nil
}

// close drains the server (every request has been answered by then) and
// returns its error; the backend stays open.
func (t *serveTarget) close() error {
	t.client.CloseIdleConnections()
	t.stop()
	select {
	case err := <-t.served:
		return err
	case <-time.After(closeTimeout):
		return fmt.Errorf("serve %s (parallel %d): drain did not end within %s", t.name, t.c, closeTimeout)
	}
}

// request posts the job once and returns the latency the client saw; an
// answer other than 200 with status ok is an error naming what came back.
func (t *serveTarget) request(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(serveJob))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var res struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return d, fmt.Errorf("answer is not a result line: %w", err)
	}
	if res.Status != "ok" {
		return d, fmt.Errorf("status %q %s", res.Status, res.Message)
	}
	return d, nil
}

// window keeps c clients posting back to back until the window has passed
// or maxRequests have been sent, whichever comes first; it returns the
// successful requests per second, the latency of each success in ns, and
// one entry per request (nil for a success).
func (t *serveTarget) window(ctx context.Context, window time.Duration, maxRequests int) (float64, []float64, []error) {
	var (
		mu      sync.Mutex
		lat     []float64
		errs    []error
		claimed atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(window)
	for range t.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil && claimed.Add(1) <= int64(maxRequests) {
				d, err := t.request(ctx)
				mu.Lock()
				errs = append(errs, err)
				if err == nil {
					lat = append(lat, float64(d.Nanoseconds()))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return float64(len(lat)) / time.Since(start).Seconds(), lat, errs
}

// serve measures gosandbox serve as a client sees it: requests per second
// and latency of POST /run with /bin/true at each concurrency.
func (r *runner) serve(ctx context.Context) benchjson.Scenario {
	sc := benchjson.Scenario{Description: fmt.Sprintf("gosandbox serve as an HTTP client sees it: the server package (the code behind "+
		"`gosandbox serve`, started in the bench process on a 127.0.0.1 port the kernel picks, logging its JSON line per run "+
		"to a discarded writer) runs POST /run with the job %s; C clients (C = the concurrency, with C kept-alive "+
		"connections) post back to back for a window of %s or until %d requests have been sent, whichever comes first. "+
		"The server gets --parallel C; a pooled backend a pool of C boxes (as gosandbox serve --pool C); a one-shot "+
		"backend is opened once. Backends: those of this run that serve accepts (%s). Series %q: successful requests "+
		"per second of one window (one sample per window); %q: the latency of every successful request from the "+
		"client's send to the last byte of the answer (unit ns). After one warm-up window each, windows interleave "+
		"backends and concurrencies round by round. No floor: serve refuses the backend none.",
		serveJob, r.cfg.Window, r.cfg.ServeRequests, strings.Join(harness.Sandboxes(), ", "), benchjson.VariantRequestRate, benchjson.VariantLatency)}
	names := r.serveBackends()
	if len(names) == 0 {
		sc.Errors = append(sc.Errors, fmt.Sprintf("no backend that serve accepts (%s) opened in this run", strings.Join(harness.Sandboxes(), ", ")))
		return sc
	}
	var (
		targets []*serveTarget
		opened  []harness.Backend
	)
	defer func() {
		for _, t := range targets {
			if err := t.close(); err != nil {
				sc.Errors = append(sc.Errors, err.Error())
			}
		}
		closeAll(&sc, opened)
	}()
	for _, name := range names {
		var shared harness.Backend
		for _, c := range r.cfg.Concurrency {
			b := shared
			if b == nil {
				var err error
				b, err = openBackend(name, harness.Options{PoolSize: c})
				if err != nil {
					sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s (pool %d): open: %v", name, c, err))
					continue
				}
				opened = append(opened, b)
				if !b.Features().Reuses {
					shared = b // nothing pooled: one instance serves every concurrency
				}
			}
			t, err := startServe(b, c)
			if err != nil {
				sc.Errors = append(sc.Errors, fmt.Sprintf("backend %s (parallel %d): %v", name, c, err))
				continue
			}
			targets = append(targets, t)
			for _, v := range []struct{ variant, unit string }{{benchjson.VariantRequestRate, "requests/s"}, {benchjson.VariantLatency, "ns"}} {
				sc.Series = append(sc.Series, benchjson.Series{Backend: name, Program: programTrue.name, Param: "concurrency",
					Value: float64(c), Variant: v.variant, Unit: v.unit, Samples: []float64{}})
			}
		}
	}
	var fails failures
	r.prog.begin(ScenarioServe, len(targets)*(1+r.cfg.Rounds))
	for st := range interleave(len(targets), 1, r.cfg.Rounds) {
		if ctx.Err() != nil {
			sc.Errors = append(sc.Errors, fmt.Sprintf("stopped early: %v", ctx.Err()))
			break
		}
		t := targets[st.Variant]
		rate, lat := &sc.Series[2*st.Variant], &sc.Series[2*st.Variant+1]
		perSecond, latencies, errs := t.window(ctx, r.cfg.Window, r.cfg.ServeRequests)
		if !st.Warmup {
			for _, err := range errs {
				fails.add(seriesLabel(*rate), err)
			}
			if len(latencies) > 0 {
				rate.Samples = append(rate.Samples, perSecond)
				lat.Samples = append(lat.Samples, latencies...)
			}
		}
		r.prog.step(seriesLabel(*rate))
	}
	sc.Errors = append(sc.Errors, fails.messages()...)
	sc.Series = dropEmpty(sc.Series)
	return sc
}
